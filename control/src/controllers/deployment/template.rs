//! The ReplicaSet that runs a Deployment's template, named by its
//! `pod-template-hash`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::ResourceExt;

use crate::controllers::shared::claim::controller_ref;

pub use crate::controllers::shared::template::{HASH_LABEL, equal_ignore_hash, hash};

fn with_hash(labels: Option<&BTreeMap<String, String>>, hash: &str) -> BTreeMap<String, String> {
    let mut labels = labels.cloned().unwrap_or_default();
    labels.insert(HASH_LABEL.into(), hash.into());
    labels
}

/// The ReplicaSet for `d`'s template: named `<deployment>-<hash>`, the hash
/// in its labels, its template's labels and its selector, so that its pods
/// are its alone. Annotations and replicas are the caller's.
pub fn new_replica_set(d: &Deployment, hash: &str) -> ReplicaSet {
    let mut template = d.spec.template.clone();
    let meta = template.metadata.get_or_insert_with(Default::default);
    let labels = with_hash(meta.labels.as_ref(), hash);
    meta.labels = Some(labels.clone());
    let selector = LabelSelector {
        match_labels: Some(with_hash(d.spec.selector.match_labels.as_ref(), hash)),
        match_expressions: d.spec.selector.match_expressions.clone(),
    };
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", d.name_any())),
            namespace: d.namespace(),
            labels: Some(labels),
            owner_references: Some(vec![controller_ref(d)]),
            ..Default::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: d.spec.min_ready_seconds,
            selector,
            template: Some(template),
        },
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_new_replica_set_carries_the_hash() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "d1"},
            "spec": {"minReadySeconds": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "a"}]}}}}))
        .unwrap();
        let rs = serde_json::to_value(new_replica_set(&d, "abc")).unwrap();
        assert_eq!(rs["metadata"]["name"], "web-abc");
        assert_eq!(
            rs["metadata"]["labels"],
            json!({"app": "web", HASH_LABEL: "abc"})
        );
        assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
        assert_eq!(
            rs["spec"]["selector"]["matchLabels"],
            json!({"app": "web", HASH_LABEL: "abc"})
        );
        assert_eq!(
            rs["spec"]["template"]["metadata"]["labels"][HASH_LABEL],
            "abc"
        );
        assert_eq!(
            (
                rs["spec"]["replicas"].as_i64(),
                rs["spec"]["minReadySeconds"].as_i64()
            ),
            (Some(0), Some(3))
        );
    }
}
