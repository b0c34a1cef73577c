//! The pods bound to this node: a watch on them (fieldSelector
//! spec.nodeName) and one worker per pod; sandboxes of pods that no longer
//! exist are removed once the first list is in.

mod backoff;
mod cgroups;
mod container;
mod env;
mod expand;
mod hooks;
mod images;
pub mod labels;
mod probes;
mod resources;
pub(crate) mod runtime;
mod sandbox;
mod status;
mod volumes;
mod worker;

use std::collections::{HashMap, HashSet};

use futures::StreamExt as _;
use k8s_cri::v1::{ListPodSandboxRequest, StopContainerRequest};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::kubelet::Ctx;

/// Why a container is not running: a reason as upstream names it
/// (CrashLoopBackOff, ErrImagePull, CreateContainerConfigError...) and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    pub message: String,
}

impl Failure {
    pub fn new(reason: &str, message: impl Into<String>) -> Self {
        Self {
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// Grace for containers of pods the kubelet no longer knows.
const ORPHAN_GRACE: i64 = 2;

pub async fn run(ctx: Ctx) {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", ctx.node));
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    let mut workers: HashMap<String, watch::Sender<Option<Pod>>> = HashMap::new();
    let mut listing: Option<HashSet<String>> = None;
    let mut orphans_checked = false;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                warn!("watching this node's pods: {e} (retrying)");
                continue;
            }
        };
        match event {
            Event::Init => listing = Some(HashSet::new()),
            Event::InitApply(pod) | Event::Apply(pod) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                if let Some(seen) = listing.as_mut() {
                    seen.insert(uid.clone());
                }
                dispatch(&ctx, &mut workers, uid, Some(pod));
            }
            Event::Delete(pod) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                if let Some(tx) = workers.remove(&uid) {
                    let _ = tx.send(None);
                }
            }
            Event::InitDone => {
                // Pods deleted while the watch was away.
                if let Some(seen) = listing.take() {
                    workers.retain(|uid, tx| {
                        let keep = seen.contains(uid);
                        if !keep {
                            let _ = tx.send(None);
                        }
                        keep
                    });
                    if !orphans_checked {
                        orphans_checked = true;
                        remove_orphans(&ctx, &seen).await;
                    }
                }
            }
        }
        workers.retain(|_, tx| !tx.is_closed());
    }
}

fn dispatch(
    ctx: &Ctx,
    workers: &mut HashMap<String, watch::Sender<Option<Pod>>>,
    uid: String,
    pod: Option<Pod>,
) {
    if let Some(tx) = workers.get(&uid)
        && tx.send(pod.clone()).is_ok()
    {
        return;
    }
    let (tx, rx) = watch::channel(pod);
    tokio::spawn(worker::Worker::new(ctx.clone(), rx).run());
    workers.insert(uid, tx);
}

/// Sandboxes left by pods that were deleted while this kubelet was down.
async fn remove_orphans(ctx: &Ctx, known: &HashSet<String>) {
    let Ok(list) = ctx
        .cri
        .runtime
        .clone()
        .list_pod_sandbox(ListPodSandboxRequest::default())
        .await
    else {
        return;
    };
    for s in list.into_inner().items {
        let Some(uid) = s.labels.get(labels::POD_UID) else {
            continue;
        };
        if known.contains(uid) {
            continue;
        }
        info!(
            uid,
            sandbox = s.id,
            "removing the sandbox of a pod that no longer exists"
        );
        if let Ok(rt) = runtime::PodRuntime::read(&ctx.cri, uid).await {
            for c in rt.running() {
                let _ = ctx
                    .cri
                    .runtime
                    .clone()
                    .stop_container(StopContainerRequest {
                        container_id: c.id.clone(),
                        timeout: ORPHAN_GRACE,
                    })
                    .await;
            }
        }
        let _ = sandbox::remove(&ctx.cri, &s.id).await;
        cgroups::remove(&cgroups::pod_parent(&ctx.cfg.cgroup_root, uid));
        let _ = std::fs::remove_dir_all(ctx.cfg.pods_root().join(uid));
    }
}
