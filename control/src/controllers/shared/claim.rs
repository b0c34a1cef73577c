//! Controller references, and claiming: a controller owns the objects its
//! selector covers, adopts matching orphans and releases what it owns but
//! no longer covers, as upstream's ControllerRefManager does. Objects owned
//! by another controller are never touched.

use std::fmt::Debug;
use std::sync::Arc;

use anyhow::bail;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::selector;

/// The owner reference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// The reference a controller puts on what it creates or adopts; blocking
/// owner deletion lets a foreground deletion wait for the dependents.
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.name_any(),
        uid: owner.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Controlled by this owner and still selected.
    Owned,
    /// An orphan the selector covers.
    Adopt,
    /// Controlled by this owner but no longer selected.
    Release,
    /// Someone else's, or nothing to do with this owner.
    Ignore,
}

/// What `owner` does with an object (upstream's ClaimObject). An owner
/// being deleted neither adopts nor releases; an orphan being deleted is
/// left alone.
pub fn decide(owner_uid: &str, owner_deleting: bool, obj: &ObjectMeta, selected: bool) -> Claim {
    match controller_of(obj) {
        Some(r) if r.uid != owner_uid => Claim::Ignore,
        Some(_) if selected => Claim::Owned,
        Some(_) if owner_deleting => Claim::Ignore,
        Some(_) => Claim::Release,
        None if owner_deleting || !selected || obj.deletion_timestamp.is_some() => Claim::Ignore,
        None => Claim::Adopt,
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Claims `objects` (all in the owner's namespace) for `owner` and returns
/// those it controls afterwards. Before the first adoption the owner is read
/// afresh: a cached owner that was deleted, or replaced under the same name,
/// must not adopt anything.
pub async fn claim<O, K>(
    owner: &O,
    owners: &Api<O>,
    objects: Vec<Arc<K>>,
    selector: &LabelSelector,
    api: &Api<K>,
) -> anyhow::Result<Vec<Arc<K>>>
where
    O: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let uid = owner.uid().unwrap_or_default();
    let deleting = owner.meta().deletion_timestamp.is_some();
    let mut rechecked = false;
    let mut claimed = Vec::new();
    for obj in objects {
        let selected = selector::matches(selector, obj.meta().labels.as_ref());
        match decide(&uid, deleting, obj.meta(), selected) {
            Claim::Owned => claimed.push(obj),
            Claim::Ignore => {}
            Claim::Adopt => {
                if !rechecked {
                    let fresh = owners.get(&owner.name_any()).await?;
                    if fresh.uid() != owner.uid() {
                        bail!(
                            "{} {} is gone: found uid {:?}, wanted {uid}",
                            O::kind(&()),
                            owner.name_any(),
                            fresh.uid()
                        );
                    }
                    if fresh.meta().deletion_timestamp.is_some() {
                        bail!("{} {} is being deleted", O::kind(&()), owner.name_any());
                    }
                    rechecked = true;
                }
                // The object's uid makes the patch fail on a namesake.
                let patch = json!({"metadata": {
                    "ownerReferences": [controller_ref(owner)],
                    "uid": obj.uid(),
                }});
                match api
                    .patch(
                        &obj.name_any(),
                        &PatchParams::default(),
                        &Patch::Strategic(patch),
                    )
                    .await
                {
                    Ok(adopted) => claimed.push(Arc::new(adopted)),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Claim::Release => {
                let patch = json!({"metadata": {
                    "ownerReferences": [{"$patch": "delete", "uid": uid}],
                    "uid": obj.uid(),
                }});
                match api
                    .patch(
                        &obj.name_any(),
                        &PatchParams::default(),
                        &Patch::Strategic(patch),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(v: serde_json::Value) -> ObjectMeta {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn claims_follow_upstream() {
        let ours = meta(
            json!({"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "name": "a", "uid": "1", "controller": true}]}),
        );
        let theirs = meta(
            json!({"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "name": "b", "uid": "2", "controller": true}]}),
        );
        // A non-controller reference does not make an owner.
        let orphan = meta(
            json!({"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap",
            "name": "c", "uid": "3"}]}),
        );
        let dying = meta(json!({"deletionTimestamp": "2024-01-01T00:00:00Z"}));
        assert_eq!(decide("1", false, &ours, true), Claim::Owned);
        assert_eq!(decide("1", false, &ours, false), Claim::Release);
        assert_eq!(decide("1", true, &ours, false), Claim::Ignore);
        assert_eq!(decide("1", false, &theirs, true), Claim::Ignore);
        assert_eq!(decide("1", false, &orphan, true), Claim::Adopt);
        assert_eq!(decide("1", false, &orphan, false), Claim::Ignore);
        assert_eq!(decide("1", true, &orphan, true), Claim::Ignore);
        assert_eq!(decide("1", false, &dying, true), Claim::Ignore);
    }
}
