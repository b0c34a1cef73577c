//! The pod a ReplicaSet creates from its template, and pods' states as it
//! reads them.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use crate::controllers::shared::claim::controller_ref;

pub use crate::controllers::shared::pod_state::{
    is_active, is_available, is_ready, phase, ready_since,
};
/// A new pod of `rs`: its template's metadata and spec, a generated name
/// after the ReplicaSet's, and the ReplicaSet as its controller.
pub fn from_template(rs: &ReplicaSet) -> Pod {
    let template = rs.spec.template.clone().unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", rs.name_any())),
            namespace: rs.namespace(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![controller_ref(rs)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pods_come_from_the_template() {
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "web-abc", "namespace": "ns", "uid": "u1"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}}}))
        .unwrap();
        let pod = serde_json::to_value(from_template(&rs)).unwrap();
        assert_eq!(
            pod["metadata"],
            json!({"generateName": "web-abc-", "namespace": "ns", "labels": {"app": "web"},
                   "annotations": {"a": "b"},
                   "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc",
                                        "uid": "u1", "controller": true, "blockOwnerDeletion": true}]})
        );
        assert_eq!(pod["spec"]["containers"][0]["image"], "i");
    }
}
