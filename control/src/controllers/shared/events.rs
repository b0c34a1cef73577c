//! core/v1 Events from the loops, best effort as client-go's broadcaster
//! makes them: they queue (at most [`QUEUED_EVENTS`]) and a few are written
//! at a time, so a burst of work never waits behind its own events; beyond
//! the queue they are dropped. An event with a count above one is counted
//! on its first copy (a repeat, as client-go's correlator does).

use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::warn;

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
    /// The queue, and a task that empties it; the task ends once every
    /// copy of the queue is dropped (the loop stopped) and it is empty.
    pub fn spawn(client: Client) -> Events {
        let (queue, rx) = tokio::sync::mpsc::channel::<EventWrite>(QUEUED_EVENTS);
        let events = futures::stream::unfold(rx, |mut rx| async move {
            let e = rx.recv().await?;
            Some((e, rx))
        });
        tokio::spawn(
            events.for_each_concurrent(EVENT_WRITERS, move |e| write_event(client.clone(), e)),
        );
        Events {
            queue,
            dropped: Default::default(),
        }
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

pub fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Now, in whole seconds as API times are.
pub fn now() -> Value {
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

/// The object events are about, and who reports them.
#[derive(Clone, Debug)]
pub struct Involved {
    object: Value,
    namespace: String,
    name: String,
    component: &'static str,
}

impl Involved {
    pub fn of<K: Resource<DynamicType = ()>>(obj: &K, component: &'static str) -> Involved {
        let namespace = obj.namespace().unwrap_or_default();
        Involved {
            object: json!({
                "apiVersion": K::api_version(&()),
                "kind": K::kind(&()),
                "namespace": namespace,
                "name": obj.name_any(),
                "uid": obj.uid(),
                "resourceVersion": obj.resource_version(),
            }),
            namespace,
            name: obj.name_any(),
            component,
        }
    }

    /// A new event (named as upstream's: `<object>.<nanoseconds in hex>`).
    pub fn event(&self, type_: &str, reason: &str, message: &str) -> EventWrite {
        let name = format!("{}.{:x}", self.name, nanos());
        let now = now();
        let body = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": self.namespace},
            "involvedObject": self.object,
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": self.component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": self.component,
        });
        EventWrite {
            namespace: self.namespace.clone(),
            name,
            count: 1,
            body,
        }
    }
}
