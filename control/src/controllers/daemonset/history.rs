//! A DaemonSet's revisions as ControllerRevisions (upstream's
//! constructHistory and cleanupHistory): each holds the template as the
//! strategic merge patch that restores it, which `kubectl rollout undo`
//! applies, and the revision number `kubectl rollout history` lists. The
//! current template's revision is found or made, and renumbered to the
//! newest when an old template comes back; old ones beyond
//! revisionHistoryLimit go unless pods still run them.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::info;

use super::pods::HASH_LABEL;
use crate::controllers::shared::claim::controller_ref;
use crate::controllers::shared::template;

/// The data of a revision: the template, replacing whatever is there.
pub fn data(ds: &DaemonSet) -> Value {
    let mut t = serde_json::to_value(&ds.spec.template).unwrap_or_else(|_| json!({}));
    if let Some(map) = t.as_object_mut() {
        map.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

/// The template a revision restores.
fn template_of(cr: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = cr.data.0.get("spec")?.get("template")?.clone();
    t.as_object_mut()?.remove("$patch");
    serde_json::from_value(t).ok()
}

/// Whether `cr` holds `ds`'s current template (as clients round-trip it).
pub fn holds_current(ds: &DaemonSet, cr: &ControllerRevision) -> bool {
    template_of(cr).is_some_and(|t| template::equal_ignore_hash(&t, &ds.spec.template))
}

fn number(cr: &ControllerRevision) -> i64 {
    cr.revision.unwrap_or(0)
}

pub fn hash_of(cr: &ControllerRevision) -> Option<&str> {
    cr.labels().get(HASH_LABEL).map(String::as_str)
}

fn new_revision(ds: &DaemonSet, hash: &str, revision: i64) -> ControllerRevision {
    let mut labels = ds
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(HASH_LABEL.into(), hash.into());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", ds.name_any())),
            namespace: ds.namespace(),
            labels: Some(labels),
            annotations: ds.metadata.annotations.clone(),
            owner_references: Some(vec![controller_ref(ds)]),
            ..Default::default()
        },
        data: RawExtension(data(ds)),
        revision: Some(revision),
    }
}

pub struct History {
    /// The current revision's hash: what its pods are labelled with.
    pub hash: String,
    pub old: Vec<Arc<ControllerRevision>>,
}

/// Finds or makes the current revision among `owned`. A namesake holding
/// another template is a hash collision: the collision count goes up (in
/// the status) and the next sync hashes again.
pub async fn construct(
    client: &kube::Client,
    ds: &DaemonSet,
    owned: Vec<Arc<ControllerRevision>>,
) -> anyhow::Result<History> {
    let ns = ds.namespace().unwrap_or_default();
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), &ns);
    let (mut current, old): (Vec<_>, Vec<_>) =
        owned.into_iter().partition(|cr| holds_current(ds, cr));
    let newest_old = old.iter().map(|cr| number(cr)).max().unwrap_or(0);
    current.sort_by_key(|cr| std::cmp::Reverse(number(cr)));
    // Duplicates of the current template: the newest stays.
    for dup in current.iter().skip(1) {
        delete(&api, dup).await?;
    }
    let cur = match current.into_iter().next() {
        Some(cur) if number(&cur) > newest_old => cur,
        Some(cur) => {
            // An old template came back: it is the newest revision now.
            let patch = json!({"revision": newest_old + 1});
            Arc::new(
                api.patch(
                    &cur.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(patch),
                )
                .await
                .context("renumbering a revision")?,
            )
        }
        None => {
            let collisions = ds.status.as_ref().and_then(|s| s.collision_count);
            let hash = template::hash(&ds.spec.template, collisions);
            let cr = new_revision(ds, &hash, newest_old + 1);
            match api.create(&PostParams::default(), &cr).await {
                Ok(made) => {
                    info!(daemonset = %format!("{ns}/{}", ds.name_any()), revision = number(&made), "new revision");
                    Arc::new(made)
                }
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    let there = api.get(&cr.name_any()).await?;
                    if !(owned_by(ds, &there) && holds_current(ds, &there)) {
                        bump_collisions(client, ds).await?;
                        bail!(
                            "revision {} holds another template: hashing again",
                            cr.name_any()
                        );
                    }
                    Arc::new(there)
                }
                Err(e) => return Err(e).context("creating a revision"),
            }
        }
    };
    let hash = hash_of(&cur)
        .map(str::to_owned)
        .unwrap_or_else(|| template::hash(&ds.spec.template, None));
    Ok(History { hash, old })
}

async fn bump_collisions(client: &kube::Client, ds: &DaemonSet) -> anyhow::Result<()> {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), &ds.namespace().unwrap_or_default());
    let count = ds
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let patch = json!({"status": {"collisionCount": count + 1}});
    api.patch_status(
        &ds.name_any(),
        &PatchParams::default(),
        &Patch::Merge(patch),
    )
    .await?;
    Ok(())
}

async fn delete(api: &Api<ControllerRevision>, cr: &ControllerRevision) -> anyhow::Result<()> {
    match api.delete(&cr.name_any(), &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e).context("deleting a revision"),
    }
}

/// The old revisions to delete: beyond `limit`, oldest first, never one
/// that pods still run.
pub fn surplus(
    old: &[Arc<ControllerRevision>],
    limit: usize,
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
) -> Vec<Arc<ControllerRevision>> {
    if old.len() <= limit {
        return Vec::new();
    }
    let live: HashSet<&str> = by_node
        .values()
        .flatten()
        .filter_map(|p| p.labels().get(HASH_LABEL).map(String::as_str))
        .collect();
    let mut unused: Vec<_> = old
        .iter()
        .filter(|cr| hash_of(cr).is_none_or(|h| !live.contains(h)))
        .cloned()
        .collect();
    unused.sort_by_key(|cr| number(cr));
    unused.truncate(old.len() - limit);
    unused
}

pub async fn cleanup(
    client: &kube::Client,
    ds: &DaemonSet,
    old: &[Arc<ControllerRevision>],
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
) -> anyhow::Result<()> {
    let limit = ds.spec.revision_history_limit.unwrap_or(10).max(0) as usize;
    let api: Api<ControllerRevision> =
        Api::namespaced(client.clone(), &ds.namespace().unwrap_or_default());
    for cr in surplus(old, limit, by_node) {
        delete(&api, &cr).await?;
    }
    Ok(())
}

/// Whether `ds` owns `cr` (its uid is the controller's).
pub fn owned_by(ds: &DaemonSet, cr: &ControllerRevision) -> bool {
    crate::controllers::shared::claim::controller_of(cr.meta())
        .is_some_and(|r| Some(&r.uid) == ds.uid().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(image: &str) -> DaemonSet {
        serde_json::from_value(json!({"metadata": {"name": "agent", "namespace": "ns", "uid": "u1",
                                                   "annotations": {"kubernetes.io/change-cause": "v2"}},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}))
        .unwrap()
    }

    #[test]
    fn a_revision_restores_its_template() {
        let cr = new_revision(&ds("a"), "h1", 4);
        let v = serde_json::to_value(&cr).unwrap();
        assert_eq!(v["metadata"]["name"], "agent-h1");
        assert_eq!(
            v["metadata"]["labels"],
            json!({"app": "agent", "controller-revision-hash": "h1"})
        );
        assert_eq!(
            v["metadata"]["annotations"]["kubernetes.io/change-cause"],
            "v2"
        );
        assert_eq!(v["revision"], 4);
        assert_eq!(v["data"]["spec"]["template"]["$patch"], "replace");
        assert_eq!(
            v["data"]["spec"]["template"]["spec"]["containers"][0]["image"],
            "a"
        );
        assert!(holds_current(&ds("a"), &cr));
        assert!(!holds_current(&ds("b"), &cr));
        assert!(owned_by(&ds("a"), &cr));
    }

    #[test]
    fn surplus_revisions_go_oldest_first_unless_pods_run_them() {
        let old: Vec<_> = (1..=4)
            .map(|r| Arc::new(new_revision(&ds("a"), &format!("h{r}"), r)))
            .collect();
        let mut pod = super::super::pods::for_node(&ds("a"), "n1", "h1");
        pod.metadata.name = Some("p".into());
        let by_node = super::super::pods::by_node(&[Arc::new(pod)]);
        let gone: Vec<i64> = surplus(&old, 2, &by_node)
            .iter()
            .map(|cr| number(cr))
            .collect();
        assert_eq!(gone, [2, 3]);
        assert!(surplus(&old, 4, &by_node).is_empty());
    }
}
