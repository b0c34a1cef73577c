//! Where Services and EndpointSlices come from. Every source publishes whole
//! snapshots into a one-slot mailbox: the sync loop takes the latest one, so
//! bursts of changes collapse into one map update, and drops it once
//! programmed. Snapshots share the objects (`Arc`) with the source's caches
//! instead of copying them: a copy of 10,000 Services costs more than the
//! sync that reads it.

mod kube;
mod manifests;
mod nodes;

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use tokio::sync::Notify;

pub use kube::spawn_kube;
pub use manifests::{parse_manifests, spawn_manifests};
pub use nodes::{NodeNet, NodeReceiver, NodeSender, project};

#[derive(Debug, Default, Clone)]
pub struct Objects {
    pub services: Vec<Arc<Service>>,
    pub slices: Vec<Arc<EndpointSlice>>,
}

struct Slot {
    latest: Mutex<Option<Objects>>,
    ready: Notify,
}

/// The sending side of the mailbox.
pub struct Publisher(Arc<Slot>);

/// The receiving side. Nothing arrives before the source has a complete first
/// view: applying an empty view before that would delete every adopted service.
pub struct Snapshots(Arc<Slot>);

pub fn latest() -> (Publisher, Snapshots) {
    let slot = Arc::new(Slot {
        latest: Mutex::new(None),
        ready: Notify::new(),
    });
    (Publisher(slot.clone()), Snapshots(slot))
}

impl Publisher {
    /// Replaces any snapshot not taken yet. False once the receiver is gone.
    pub fn put(&self, objects: Objects) -> bool {
        *self.0.latest.lock().expect("snapshot slot") = Some(objects);
        self.0.ready.notify_one();
        Arc::strong_count(&self.0) > 1
    }
}

impl Snapshots {
    pub async fn next(&self) -> Objects {
        loop {
            if let Some(objects) = self.0.latest.lock().expect("snapshot slot").take() {
                return objects;
            }
            self.0.ready.notified().await;
        }
    }
}
