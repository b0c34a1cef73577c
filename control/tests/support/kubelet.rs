//! A stand-in for the scheduler and a node's kubelet, through the API as
//! they use it: unscheduled pods are bound to one node (unless the real
//! scheduler places them: [`Kubelet::runner`]), bound pods run
//! (phase Running, a pod IP, Ready while `ready` is set), and deletions are
//! confirmed at once (a delete with grace 0), as a kubelet does once the
//! containers stopped.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;

pub const NODE: &str = "node-1";

pub struct Kubelet {
    ready: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct Done {
    bound: HashSet<String>,
    running: HashSet<String>,
    ready: HashSet<String>,
    deleted: HashSet<String>,
}

impl Kubelet {
    /// Starts on the pods of `namespace`; pods become Ready at once.
    pub fn start(client: Client, namespace: &str) -> Kubelet {
        Kubelet::spawn(client, namespace, true)
    }

    /// Runs the pods of `namespace` wherever the scheduler bound them;
    /// binds none itself.
    pub fn runner(client: Client, namespace: &str) -> Kubelet {
        Kubelet::spawn(client, namespace, false)
    }

    fn spawn(client: Client, namespace: &str, bind: bool) -> Kubelet {
        let ready = Arc::new(AtomicBool::new(true));
        let api: Api<Pod> = Api::namespaced(client, namespace);
        let task = tokio::spawn(run(api, ready.clone(), bind));
        Kubelet { ready, task }
    }

    /// Whether running pods turn Ready (pods already Ready stay so).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
}

async fn run(api: Api<Pod>, ready: Arc<AtomicBool>, bind: bool) {
    let (store, writer) = reflector::store();
    let events = reflector::reflector(
        writer,
        watcher::watcher(api.clone(), watcher::Config::default()).default_backoff(),
    );
    let mut events = std::pin::pin!(events);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut done = Done::default();
    let mut next_ip = 10u32;
    loop {
        tokio::select! {
            _ = events.next() => {},
            _ = tick.tick() => {},
        }
        // Not before the first list is in.
        if store.wait_until_ready().now_or_never().is_none() {
            continue;
        }
        act(&api, &store, &ready, bind, &mut done, &mut next_ip).await;
    }
}

async fn act(
    api: &Api<Pod>,
    store: &Store<Pod>,
    ready: &AtomicBool,
    bind: bool,
    done: &mut Done,
    next_ip: &mut u32,
) {
    for pod in store.state() {
        let uid = pod.uid().unwrap_or_default();
        let name = pod.name_any();
        if pod.metadata.deletion_timestamp.is_some() {
            if done.deleted.insert(uid) {
                let _ = api
                    .delete(&name, &DeleteParams::default().grace_period(0))
                    .await;
            }
            continue;
        }
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        if node.is_none() {
            if bind && done.bound.insert(uid) {
                let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                                     "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}});
                let _ = api
                    .create_subresource::<_, serde_json::Value>(
                        "binding",
                        &name,
                        &PostParams::default(),
                        &binding,
                    )
                    .await;
            }
            continue;
        }
        let is_ready = ready.load(Ordering::SeqCst);
        let condition = |status: &str| {
            json!([{"type": "Ready", "status": status,
                    "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}])
        };
        let status = if done.running.insert(uid.clone()) {
            *next_ip += 1;
            let ip = format!("10.244.0.{}", *next_ip % 250 + 2);
            if is_ready {
                done.ready.insert(uid);
            }
            json!({"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                   "conditions": condition(if is_ready { "True" } else { "False" })})
        } else if is_ready && done.ready.insert(uid) {
            json!({"conditions": condition("True")})
        } else {
            continue;
        };
        let _ = api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await;
    }
}
