//! Which controllers a change to one of their objects concerns: the
//! object's controller, the one it had before (it was released or
//! re-owned), or for an orphan every owner whose selector covers it (one
//! may adopt it). Upstream's add/update/delete pod handlers of the
//! ReplicaSet and DaemonSet controllers, and the Deployment's for
//! ReplicaSets.

use std::collections::HashMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::Event;
use kube::{Resource, ResourceExt};

use super::claim::controller_of;
use super::selector;

/// An owner kind: what it selects its objects with.
pub trait Selecting: Resource<DynamicType = ()> + Clone + Send + Sync + 'static {
    fn selector(&self) -> &LabelSelector;
}

impl Selecting for ReplicaSet {
    fn selector(&self) -> &LabelSelector {
        &self.spec.selector
    }
}

impl Selecting for Deployment {
    fn selector(&self) -> &LabelSelector {
        &self.spec.selector
    }
}

impl Selecting for DaemonSet {
    fn selector(&self) -> &LabelSelector {
        &self.spec.selector
    }
}

/// The controller of kind `K` named in `meta`, if any.
pub fn controller<K: Resource<DynamicType = ()>>(meta: &ObjectMeta) -> Option<ObjectRef<K>> {
    controller_of(meta)
        .filter(|r| r.kind == K::kind(&()) && r.api_version == K::api_version(&()))
        .map(|r| ObjectRef::new(&r.name).within(meta.namespace.as_deref().unwrap_or_default()))
}

/// Maps events of objects `T` to the owners `K` they concern, remembering
/// each object's last controller.
pub fn owners<T, K>(owners: Store<K>) -> impl FnMut(&Event<T>) -> Vec<ObjectRef<K>> + Send + 'static
where
    T: Resource,
    K: Selecting,
{
    let mut last: HashMap<String, ObjectRef<K>> = HashMap::new();
    move |event| {
        let (obj, deleted) = match event {
            Event::Apply(o) | Event::InitApply(o) => (o, false),
            Event::Delete(o) => (o, true),
            Event::Init | Event::InitDone => return Vec::new(),
        };
        let meta = obj.meta();
        let uid = meta.uid.clone().unwrap_or_default();
        let owner = controller::<K>(meta);
        let before = match (&owner, deleted) {
            (Some(o), false) => last.insert(uid, o.clone()),
            _ => last.remove(&uid),
        };
        let mut out: Vec<_> = before
            .into_iter()
            .filter(|b| Some(b) != owner.as_ref())
            .collect();
        match owner {
            Some(o) => out.push(o),
            None if !deleted => out.extend(
                owners
                    .state()
                    .iter()
                    .filter(|k| {
                        k.namespace() == meta.namespace
                            && selector::matches(k.selector(), meta.labels.as_ref())
                    })
                    .map(|k| ObjectRef::from_obj(&**k)),
            ),
            None => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use kube::runtime::reflector;
    use serde_json::json;

    fn pod(uid: &str, labels: serde_json::Value, owner: Option<&str>) -> Pod {
        let mut v =
            json!({"metadata": {"namespace": "ns", "name": uid, "uid": uid, "labels": labels}});
        if let Some(o) = owner {
            v["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": o, "uid": format!("u-{o}"), "controller": true}]);
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn events_reach_the_controller_the_previous_one_and_would_be_adopters() {
        let (store, mut writer) = reflector::store::<ReplicaSet>();
        let rs: ReplicaSet =
            serde_json::from_value(json!({"metadata": {"namespace": "ns", "name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}}}))
            .unwrap();
        writer.apply_watcher_event(&Event::Apply(rs));
        let mut map = owners::<Pod, ReplicaSet>(store);
        let names = |refs: Vec<ObjectRef<ReplicaSet>>| -> Vec<String> {
            refs.into_iter().map(|r| r.name).collect()
        };
        assert_eq!(
            names(map(&Event::Apply(pod("1", json!({"app": "web"}), None)))),
            ["web"]
        );
        assert!(map(&Event::Apply(pod("2", json!({"app": "db"}), None))).is_empty());
        assert_eq!(
            names(map(&Event::Apply(pod("2", json!({}), Some("a"))))),
            ["a"]
        );
        // Re-owned: both hear of it; then deleted: the last owner.
        assert_eq!(
            names(map(&Event::Apply(pod("2", json!({}), Some("b"))))),
            ["a", "b"]
        );
        assert_eq!(names(map(&Event::Delete(pod("2", json!({}), None)))), ["b"]);
    }
}
