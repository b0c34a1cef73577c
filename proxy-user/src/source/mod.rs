//! Where Services and EndpointSlices come from. Every source publishes whole
//! snapshots on a watch channel: the sync loop always computes from the latest
//! one, so bursts of changes collapse into one map update.

mod kube;
mod manifests;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use tokio::sync::watch;

pub use kube::spawn_kube;
pub use manifests::{parse_manifests, spawn_manifests};

#[derive(Debug, Default, Clone)]
pub struct Objects {
    pub services: Vec<Service>,
    pub slices: Vec<EndpointSlice>,
}

/// `None` until the source has a complete first view: applying an empty view
/// before that would delete every adopted service.
pub type Snapshots = watch::Receiver<Option<Arc<Objects>>>;
