//! What the runtime holds for one pod: its sandboxes and containers, read
//! fresh through CRI at every sync (the runtime is the truth, not memory).

use std::collections::HashMap;

use k8s_cri::v1::{
    Container, ContainerFilter, ContainerState, ListContainersRequest, ListPodSandboxRequest,
    PodSandbox, PodSandboxFilter, PodSandboxState, PodSandboxStatusRequest,
};

use super::labels;
use crate::kubelet::cri::Cri;

#[derive(Default)]
pub struct PodRuntime {
    /// Newest first.
    pub sandboxes: Vec<PodSandbox>,
    /// Every container of the pod, newest first per name.
    pub containers: HashMap<String, Vec<Container>>,
}

impl PodRuntime {
    pub async fn read(cri: &Cri, uid: &str) -> Result<Self, tonic::Status> {
        let selector = HashMap::from([(labels::POD_UID.to_owned(), uid.to_owned())]);
        let mut sandboxes = cri
            .runtime
            .clone()
            .list_pod_sandbox(ListPodSandboxRequest {
                filter: Some(PodSandboxFilter {
                    label_selector: selector.clone(),
                    ..Default::default()
                }),
            })
            .await?
            .into_inner()
            .items;
        sandboxes.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        let list = cri
            .runtime
            .clone()
            .list_containers(ListContainersRequest {
                filter: Some(ContainerFilter {
                    label_selector: selector,
                    ..Default::default()
                }),
            })
            .await?
            .into_inner()
            .containers;
        let mut containers: HashMap<String, Vec<Container>> = HashMap::new();
        for c in list {
            let name = c
                .metadata
                .as_ref()
                .map(|m| m.name.clone())
                .unwrap_or_default();
            containers.entry(name).or_default().push(c);
        }
        for list in containers.values_mut() {
            list.sort_by_key(|c| {
                std::cmp::Reverse((c.metadata.as_ref().map_or(0, |m| m.attempt), c.created_at))
            });
        }
        Ok(Self {
            sandboxes,
            containers,
        })
    }

    /// The newest sandbox, if it is ready.
    pub fn ready_sandbox(&self) -> Option<&PodSandbox> {
        self.sandboxes
            .first()
            .filter(|s| s.state == PodSandboxState::SandboxReady as i32)
    }

    /// Containers of `name` in the sandbox `sandbox`, newest first.
    pub fn of(&self, name: &str, sandbox: &str) -> Vec<&Container> {
        self.containers
            .get(name)
            .map(|l| l.iter().filter(|c| c.pod_sandbox_id == sandbox).collect())
            .unwrap_or_default()
    }

    pub fn all_containers(&self) -> impl Iterator<Item = &Container> {
        self.containers.values().flatten()
    }

    pub fn running(&self) -> impl Iterator<Item = &Container> {
        self.all_containers()
            .filter(|c| c.state == ContainerState::ContainerRunning as i32)
    }
}

/// The pod's IPs as the runtime reports them for a sandbox.
pub async fn sandbox_ips(cri: &Cri, sandbox: &str) -> Result<Vec<String>, tonic::Status> {
    let status = cri
        .runtime
        .clone()
        .pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: sandbox.to_owned(),
            verbose: false,
        })
        .await?
        .into_inner();
    let Some(network) = status.status.and_then(|s| s.network) else {
        return Ok(Vec::new());
    };
    Ok(std::iter::once(network.ip)
        .chain(network.additional_ips.into_iter().map(|p| p.ip))
        .filter(|ip| !ip.is_empty())
        .collect())
}
