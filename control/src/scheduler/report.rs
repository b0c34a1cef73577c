//! What the scheduler tells about a pod, as upstream's does: the
//! `PodScheduled=False` condition (through the status subresource) when it
//! fits nowhere, and core/v1 Events: `FailedScheduling` (Warning) with the
//! same message, `Scheduled` (Normal) once bound. An event repeated for a
//! pod bumps the count of the first one, as client-go's recorder does.
//! Events are best effort, as client-go's broadcaster makes them: they queue
//! (at most [`QUEUED_EVENTS`]) and a few are written at a time, so a burst
//! of placements never waits behind its own events; beyond the queue they
//! are dropped.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::{Value, json};
use tracing::{debug, warn};

use crate::scheduler::SCHEDULER_NAME;
use crate::scheduler::cache::pod_info::{PodInfo, PodKey, scheduled_condition};

/// Events waiting to be written at most (client-go's maxQueuedEvents).
pub const QUEUED_EVENTS: usize = 1000;
/// Event writes in flight at most.
const EVENT_WRITERS: usize = 4;

/// Where events go to be written.
#[derive(Clone)]
pub struct Events {
    queue: tokio::sync::mpsc::Sender<EventWrite>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Events {
    /// The queue, and the writer that empties it (to run beside the
    /// scheduler, and stop with it).
    pub fn start(client: Client) -> (Events, impl std::future::Future<Output = ()> + Send) {
        let (queue, rx) = tokio::sync::mpsc::channel::<EventWrite>(QUEUED_EVENTS);
        let writer = async move {
            let events = futures::stream::unfold(rx, |mut rx| async move {
                let e = rx.recv().await?;
                Some((e, rx))
            });
            events
                .for_each_concurrent(EVENT_WRITERS, |e| write_event(client.clone(), e))
                .await;
        };
        let dropped = Default::default();
        (Events { queue, dropped }, writer)
    }

    pub fn record(&self, e: EventWrite) {
        use std::sync::atomic::Ordering;
        if self.queue.try_send(e).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                warn!(dropped = n, "the event queue is full: events dropped");
            }
        }
    }
}

/// One event to write: created, or (`count` > 1) counted on its first copy.
#[derive(Clone, Debug)]
pub struct EventWrite {
    pub namespace: String,
    pub name: String,
    pub count: i32,
    pub body: Value,
}

struct Last {
    reason: String,
    message: String,
    name: String,
    count: i32,
}

/// Names events and remembers each pod's last one, to count repeats.
pub struct Recorder {
    instance: String,
    last: HashMap<PodKey, Last>,
}

impl Recorder {
    /// `host` names this instance (`reportingInstance`).
    pub fn new(host: &str) -> Self {
        Recorder {
            instance: format!("{SCHEDULER_NAME}-{host}"),
            last: HashMap::new(),
        }
    }

    pub fn event(
        &mut self,
        pod: &PodInfo,
        type_: &str,
        reason: &str,
        action: &str,
        message: &str,
    ) -> EventWrite {
        let (name, count) = match self.last.get_mut(&pod.key) {
            Some(l) if l.reason == reason && l.message == message => {
                l.count += 1;
                (l.name.clone(), l.count)
            }
            _ => {
                // Upstream's `<object>.<nanoseconds in hex>`.
                let name = format!("{}.{:x}", pod.name, nanos());
                self.last.insert(
                    pod.key.clone(),
                    Last {
                        reason: reason.to_owned(),
                        message: message.to_owned(),
                        name: name.clone(),
                        count: 1,
                    },
                );
                (name, 1)
            }
        };
        let now = now();
        let body = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": pod.namespace},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "namespace": pod.namespace,
                "name": pod.name,
                "uid": pod.uid,
                "resourceVersion": pod.resource_version,
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": SCHEDULER_NAME},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": count,
            "reportingComponent": SCHEDULER_NAME,
            "reportingInstance": self.instance,
            "action": action,
        });
        EventWrite {
            namespace: pod.namespace.clone(),
            name,
            count,
            body,
        }
    }

    /// Forgets a pod that was scheduled or went away.
    pub fn forget(&mut self, key: &str) {
        self.last.remove(key);
    }
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Now, in whole seconds as API times are.
fn now() -> Value {
    let secs = (nanos() / 1_000_000_000) as i64;
    let ts = k8s_openapi::jiff::Timestamp::from_second(secs).unwrap_or_default();
    serde_json::to_value(Time(ts)).unwrap_or_default()
}

/// Writes an event; a repeat counts on its first copy, or starts anew if
/// that one is gone.
async fn write_event(client: Client, e: EventWrite) {
    let api: Api<Event> = Api::namespaced(client, &e.namespace);
    if e.count > 1 {
        let patch = json!({"count": e.count, "lastTimestamp": e.body["lastTimestamp"]});
        match api
            .patch(&e.name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => return,
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(err) => {
                warn!(event = %e.name, error = %err, "recording an event failed");
                return;
            }
        }
    }
    let event: Event = match serde_json::from_value(e.body) {
        Ok(ev) => ev,
        Err(err) => return warn!(error = %err, "an event that does not serialize"),
    };
    if let Err(err) = api.create(&PostParams::default(), &event).await {
        warn!(event = %e.name, error = %err, "recording an event failed");
    }
}

/// Sets `PodScheduled=False` with `reason` and `message`, unless the pod
/// (as the informer last saw it) was bound or deleted meanwhile, or already
/// says so.
pub async fn set_not_scheduled(
    client: Client,
    pods: Store<Pod>,
    pod: &PodInfo,
    reason: &str,
    message: &str,
) {
    let Some(latest) = pods.get(&ObjectRef::new(&pod.name).within(&pod.namespace)) else {
        return;
    };
    if latest
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .is_some()
        || latest.metadata.uid.as_deref() != Some(pod.uid.as_str())
    {
        return;
    }
    let current = scheduled_condition(&latest).unwrap_or_default();
    if current.status == "False" && current.reason == reason && current.message == message {
        return;
    }
    // The transition time moves only when the status does.
    let since = match current.last_transition {
        Some(t) if current.status == "False" => json!(t),
        _ => now(),
    };
    let patch = json!({"status": {"conditions": [{
        "type": "PodScheduled",
        "status": "False",
        "reason": reason,
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": since,
    }]}});
    let api: Api<Pod> = Api::namespaced(client, &pod.namespace);
    match api
        .patch_status(&pod.name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {
            debug!(pod = %pod.key, "gone before its status")
        }
        Err(err) => warn!(pod = %pod.key, error = %err, "setting PodScheduled failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::pod;

    #[test]
    fn repeated_events_count_on_the_first() {
        let mut r = Recorder::new("host");
        let p = pod(json!({"metadata": {"name": "web"}}));
        let first = r.event(
            &p,
            "Warning",
            "FailedScheduling",
            "Scheduling",
            "0/1 nodes are available: 1 Too many pods.",
        );
        assert!(first.name.starts_with("web."));
        assert_eq!(first.body["involvedObject"]["name"], "web");
        assert_eq!(first.body["source"]["component"], "default-scheduler");
        assert_eq!(first.body["reportingInstance"], "default-scheduler-host");
        let again = r.event(
            &p,
            "Warning",
            "FailedScheduling",
            "Scheduling",
            "0/1 nodes are available: 1 Too many pods.",
        );
        assert_eq!((again.name.as_str(), again.count), (first.name.as_str(), 2));
        let other = r.event(
            &p,
            "Warning",
            "FailedScheduling",
            "Scheduling",
            "0/2 nodes are available: 2 Too many pods.",
        );
        assert_eq!(other.count, 1);
        r.forget(&p.key);
        assert_eq!(r.event(&p, "Normal", "Scheduled", "Binding", "m").count, 1);
        // The body is a valid core/v1 Event.
        serde_json::from_value::<Event>(other.body).unwrap();
    }
}
