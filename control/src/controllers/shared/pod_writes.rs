//! Creating and deleting a controller's pods: creations in slow-start
//! batches, every call remembered as an expectation, as upstream's
//! ReplicaSet and DaemonSet controllers do.

use std::sync::Arc;

use anyhow::Context as _;
use futures::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};

use super::events::{Events, Involved};
use super::expectations::{Expectations, PodKey};

/// The most pods one sync creates or deletes.
pub const BURST: usize = 500;

/// Batch sizes for `count` creations: 1, 2, 4, ... and the rest. A batch
/// with a failure ends the sync, so an owner that cannot create pods
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

/// Where pod writes go and how they are remembered: `owner` is the
/// expectations key of the controller writing; each write is an event
/// about `involved`, as upstream's pod control records them.
pub struct PodWriter<'a> {
    pub api: Api<Pod>,
    pub pods: &'a Store<Pod>,
    pub expectations: &'a Expectations,
    pub owner: String,
    pub events: &'a Events,
    pub involved: Involved,
}

impl PodWriter<'_> {
    fn lookup(&self) -> impl Fn(&PodKey) -> Option<Pod> + '_ {
        |(ns, name)| {
            self.pods
                .get(&ObjectRef::new(name).within(ns))
                .map(|p| (*p).clone())
        }
    }

    /// Creates `pods` (at most [`BURST`]) in slow-start batches; returns
    /// how many were made.
    pub async fn create(&self, mut pods: Vec<Pod>) -> anyhow::Result<usize> {
        pods.truncate(BURST);
        let pp = PostParams::default();
        let mut created = 0;
        let mut pods = pods.into_iter();
        for batch in slow_start(pods.len()) {
            let results = join_all(pods.by_ref().take(batch).map(|p| {
                let pp = &pp;
                async move { self.api.create(pp, &p).await }
            }))
            .await;
            let mut failure = None;
            for result in results {
                match result {
                    Ok(p) => {
                        created += 1;
                        let message = format!("Created pod: {}", p.name_any());
                        self.events.record(self.involved.event(
                            "Normal",
                            "SuccessfulCreate",
                            &message,
                        ));
                        let key = (p.namespace().unwrap_or_default(), p.name_any());
                        self.expectations.created(&self.owner, key, self.lookup());
                    }
                    // Every creation fails there; the namespace goes anyway.
                    Err(e) if forbidden_by_terminating_namespace(&e) => {}
                    Err(e) => {
                        let message = match &e {
                            kube::Error::Api(s) => format!("Error creating: {}", s.message),
                            e => format!("Error creating: {e}"),
                        };
                        self.events.record(self.involved.event(
                            "Warning",
                            "FailedCreate",
                            &message,
                        ));
                        failure = failure.or(Some(e));
                    }
                }
            }
            // The API error stays in the chain: a conflict is told apart.
            if let Some(e) = failure {
                return Err(e).context(format!("creating pods ({created} created)"));
            }
        }
        Ok(created)
    }

    /// Deletes `victims` (at most [`BURST`]) at once.
    pub async fn delete(&self, victims: &[Arc<Pod>]) -> anyhow::Result<()> {
        let victims = &victims[..victims.len().min(BURST)];
        let results = join_all(victims.iter().map(|p| async move {
            let result = self
                .api
                .delete(&p.name_any(), &DeleteParams::default())
                .await;
            (p, result)
        }))
        .await;
        let mut failure = None;
        for (pod, result) in results {
            match result {
                Ok(_) => {
                    self.expectations.deleted(&self.owner, pod, self.lookup());
                    let message = format!("Deleted pod: {}", pod.name_any());
                    self.events
                        .record(self.involved.event("Normal", "SuccessfulDelete", &message));
                }
                // Gone already: the cache will show it, so wait for that too.
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    self.expectations.deleted(&self.owner, pod, self.lookup())
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        match failure {
            Some(e) => Err(e).context("deleting pods"),
            None => Ok(()),
        }
    }
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
