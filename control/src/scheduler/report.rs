//! What the scheduler tells about a pod, as upstream's does: the
//! `PodScheduled=False` condition (through the status subresource) when it
//! fits nowhere, and core/v1 Events: `FailedScheduling` (Warning) with the
//! same message, `Scheduled` (Normal) once bound. An event repeated for a
//! pod bumps the count of the first one, as client-go's recorder does.
//! Events go through the loops' best-effort queue (controllers/shared).

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::json;

pub use crate::controllers::shared::events::{EventWrite, Events};
use crate::controllers::shared::events::{nanos, now};
use tracing::{debug, warn};

use crate::scheduler::SCHEDULER_NAME;
use crate::scheduler::cache::pod_info::{PodInfo, PodKey, scheduled_condition};

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
        serde_json::from_value::<k8s_openapi::api::core::v1::Event>(other.body).unwrap();
    }
}
