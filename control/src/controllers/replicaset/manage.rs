//! Creating and deleting pods to reach spec.replicas (upstream's
//! manageReplicas): at most a burst per sync, creations in slow-start
//! batches, deletions ranked, every call remembered as an expectation.

use std::sync::Arc;

use anyhow::Context as _;
use futures::future::join_all;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::expectations::PodKey;
use super::{Ctx, pods, ranking};
use crate::controllers::shared::claim::controller_of;
use crate::controllers::shared::{selector, time};

/// The most pods one sync creates or deletes.
pub const BURST: usize = 500;

/// Batch sizes for `count` creations: 1, 2, 4, ... and the rest. A batch
/// with a failure ends the sync, so a ReplicaSet that cannot create pods
/// (quota, a bad template) tries one, not hundreds.
pub fn slow_start(count: usize) -> Vec<usize> {
    let mut batches = Vec::new();
    let (mut left, mut size) = (count, 1);
    while left > 0 {
        let batch = size.min(left);
        batches.push(batch);
        left -= batch;
        size *= 2;
    }
    batches
}

fn forbidden_by_terminating_namespace(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403 && s.message.contains("being terminated"))
}

fn lookup(ctx: &Ctx) -> impl Fn(&PodKey) -> Option<Pod> + '_ {
    |(ns, name)| {
        ctx.pods
            .get(&ObjectRef::new(name).within(ns))
            .map(|p| (*p).clone())
    }
}

/// Brings the number of `active` owned pods to spec.replicas.
pub async fn replicas(ctx: &Ctx, rs: &ReplicaSet, active: &[Arc<Pod>]) -> anyhow::Result<()> {
    let want = rs.spec.replicas.unwrap_or(1).max(0) as usize;
    let ns = rs.namespace().unwrap_or_default();
    let key = format!("{ns}/{}", rs.name_any());
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    if active.len() < want {
        let count = (want - active.len()).min(BURST);
        let pod = pods::from_template(rs);
        let pp = PostParams::default();
        let mut created = 0;
        for batch in slow_start(count) {
            let results = join_all((0..batch).map(|_| api.create(&pp, &pod))).await;
            let mut failure = None;
            for result in results {
                match result {
                    Ok(p) => {
                        created += 1;
                        ctx.expectations
                            .created(&key, (ns.clone(), p.name_any()), lookup(ctx));
                    }
                    // Every creation fails there; the namespace goes anyway.
                    Err(e) if forbidden_by_terminating_namespace(&e) => {}
                    Err(e) => failure = failure.or(Some(e)),
                }
            }
            if let Some(e) = failure {
                info!(replicaset = %key, created, "creating pods failed: {e}");
                return Err(e).context("creating pods");
            }
        }
        info!(replicaset = %key, created, "created pods");
    } else if active.len() > want {
        let count = (active.len() - want).min(BURST);
        let victims = ranking::to_delete(active.to_vec(), &related(ctx, rs), count, time::now());
        let api = &api;
        let results = join_all(victims.iter().map(|p| async move {
            let result = api.delete(&p.name_any(), &DeleteParams::default()).await;
            (p, result)
        }))
        .await;
        let mut failure = None;
        for (pod, result) in results {
            match result {
                Ok(_) => ctx.expectations.deleted(&key, pod, lookup(ctx)),
                // Gone already: the cache will show it, so wait for that too.
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    ctx.expectations.deleted(&key, pod, lookup(ctx))
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        if let Some(e) = failure {
            return Err(e).context("deleting pods");
        }
        info!(replicaset = %key, deleted = count, "deleted pods");
    }
    Ok(())
}

/// The pods of every ReplicaSet with the same controller as `rs` (the
/// other revisions of its Deployment): scaling down prefers nodes where
/// they crowd. A ReplicaSet without a controller has none.
fn related(ctx: &Ctx, rs: &ReplicaSet) -> Vec<Arc<Pod>> {
    let Some(owner) = controller_of(rs.meta()) else {
        return Vec::new();
    };
    let ns = rs.namespace();
    let siblings: Vec<_> = ctx
        .replicasets
        .state()
        .into_iter()
        .filter(|r| {
            r.namespace() == ns && controller_of(r.meta()).is_some_and(|o| o.uid == owner.uid)
        })
        .collect();
    ctx.pods
        .state()
        .into_iter()
        .filter(|p| {
            p.namespace() == ns
                && siblings
                    .iter()
                    .any(|r| selector::matches(&r.spec.selector, p.metadata.labels.as_ref()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_double() {
        assert_eq!(slow_start(0), Vec::<usize>::new());
        assert_eq!(slow_start(1), [1]);
        assert_eq!(slow_start(10), [1, 2, 4, 3]);
        assert_eq!(slow_start(15), [1, 2, 4, 8]);
    }
}
