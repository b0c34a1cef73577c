//! The scheduler: places pods that name `default-scheduler` (the server's
//! default) and no node, as upstream's kube-scheduler does with its default
//! profile. An API client like every loop: it watches nodes, pods,
//! namespaces, Services and ReplicaSets, binds through `pods/<name>/binding`, and reports through the
//! status subresource and Events.
//!
//! - `informer`: the watches, merged into one stream.
//! - `cache/`: nodes with what their pods hold (bound or assumed), and the
//!   per-cycle [`cache::Snapshot`].
//! - `queue`: active, backoff and unschedulable pods.
//! - `framework` and `plugins/`: one cycle, the filters and scores.
//! - `engine`: the state and its reactions, without I/O.
//! - `bind`, `report`: what goes back to the API server.
//!
//! One task owns the state, so a cycle sees the cache as the previous
//! cycle left it: each chosen pod is assumed on its node before the next
//! pod is looked at. Bindings and reports run beside it.

mod bind;
mod cache;
mod engine;
mod events;
mod framework;
mod informer;
mod plugins;
mod queue;
mod report;
pub(crate) mod resources;
pub(crate) mod selector;
pub(crate) mod taints;
#[cfg(test)]
mod testing;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use futures::StreamExt as _;
use kube::Client;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, info};

use crate::controllers::Settings;
use cache::pod_info::PodInfo;
use engine::{Engine, Outcome};
use framework::Rng;
use informer::Update;
use report::Recorder;

/// The `spec.schedulerName` of the pods this scheduler places.
pub const SCHEDULER_NAME: &str = "default-scheduler";

struct Bound {
    pod: Arc<PodInfo>,
    node: String,
    result: Result<(), String>,
}

pub async fn run(client: Client, _settings: Settings) -> anyhow::Result<()> {
    let (mut updates, pods) = informer::start(client.clone());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let mut engine = Engine::new(Recorder::new(host.trim()), Rng::new());
    let (bound_tx, mut bound_rx) = mpsc::unbounded_channel::<Bound>();
    // Dropping the loop (leadership lost) stops its bindings and reports.
    let mut tasks = JoinSet::new();
    let events = report::Events::spawn(client.clone());
    info!("scheduler started");
    loop {
        engine.flush(Instant::now());
        let wake = engine
            .next_wakeup()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let outcome = tokio::select! {
            biased;
            update = updates.next() => {
                let now = Instant::now();
                match update {
                    Some(Update::Node(e)) => engine.on_node(*e, now),
                    Some(Update::Pod(e)) => engine.on_pod(*e, now),
                    Some(Update::Namespace(e)) => engine.on_namespace(*e, now),
                    Some(Update::Service(e)) => engine.on_service(*e),
                    Some(Update::ReplicaSet(e)) => engine.on_replica_set(*e),
                    None => bail!("the scheduler's watches ended"),
                }
                None
            }
            Some(b) = bound_rx.recv() => engine.bound(&b.pod, &b.node, b.result, Instant::now()),
            Some(_) = tasks.join_next(), if !tasks.is_empty() => None,
            _ = tokio::time::sleep_until(wake.into()) => None,
            _ = std::future::ready(()), if engine.ready() => engine.schedule_one(Instant::now()),
        };
        match outcome {
            None => {}
            Some(Outcome::Bind { pod, node }) => {
                debug!(pod = %pod.key, node = %node, "binding");
                let (client, done) = (client.clone(), bound_tx.clone());
                tasks.spawn(async move {
                    let result = bind::bind(client, &pod, &node)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = done.send(Bound { pod, node, result });
                });
            }
            Some(Outcome::Failed {
                pod,
                reason,
                message,
                rejected_by,
                event,
            }) => {
                debug!(pod = %pod.key, %message, %rejected_by, "not scheduled");
                let (client, pods) = (client.clone(), pods.clone());
                events.record(event);
                tasks.spawn(async move {
                    report::set_not_scheduled(client, pods, &pod, reason, &message).await;
                });
            }
            Some(Outcome::Scheduled(event)) => {
                events.record(event);
            }
        }
    }
}
