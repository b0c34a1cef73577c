//! Registers the Node and keeps its status: capacity, addresses, conditions
//! (Ready follows the runtime's and the network's readiness), images and the
//! kubelet's endpoint.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use k8s_cri::v1::{ListImagesRequest, StatusRequest};
use k8s_openapi::api::core::v1::{
    ContainerImage, DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints,
    NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;
use tracing::{info, warn};

use super::host;
use crate::kubelet::config::Config;
use crate::kubelet::cri::Cri;

/// The version this kubelet reports: the Kubernetes release its API follows.
pub const KUBELET_VERSION: &str = "v1.32.0-skiff";

/// How often the runtime's readiness is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(2);

pub struct NodeReporter {
    api: Api<Node>,
    cri: Cri,
    cfg: Config,
    name: String,
}

impl NodeReporter {
    pub fn new(client: Client, cri: Cri, cfg: Config) -> Self {
        Self {
            api: Api::all(client),
            name: cfg.node_name(),
            cri,
            cfg,
        }
    }

    /// Creates the Node, or takes over the existing one (its spec, podCIDR
    /// included, stays). Returns its uid.
    pub async fn register(&self) -> anyhow::Result<String> {
        let mut labels = std::collections::BTreeMap::from([
            ("kubernetes.io/hostname".to_owned(), self.name.clone()),
            ("kubernetes.io/os".to_owned(), "linux".to_owned()),
            (
                "kubernetes.io/arch".to_owned(),
                host::architecture().to_owned(),
            ),
        ]);
        labels.extend(self.cfg.node_labels.iter().cloned());
        let node = Node {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some(labels.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        let created = match self.api.create(&PostParams::default(), &node).await {
            Ok(n) => n,
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let patch = json!({"metadata": {"labels": labels}});
                self.api
                    .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .with_context(|| format!("updating the existing Node {}", self.name))?
            }
            Err(e) => return Err(e).with_context(|| format!("registering Node {}", self.name)),
        };
        info!(node = self.name, "registered");
        Ok(created.metadata.uid.unwrap_or_default())
    }

    /// Reports the status at once, then on every change of readiness and at
    /// least every `--node-status-report-frequency`.
    pub async fn run(self) {
        let every = Duration::from_secs(self.cfg.node_status_report_frequency.max(1));
        let mut last: Option<(bool, String, Instant)> = None;
        let mut ready_since = Timestamp::now();
        loop {
            let (ready, message) = self.runtime_ready().await;
            let changed = last
                .as_ref()
                .is_none_or(|(r, m, at)| *r != ready || *m != message || at.elapsed() >= every);
            if changed {
                if last.as_ref().is_none_or(|(r, _, _)| *r != ready) {
                    ready_since = Timestamp::now();
                }
                match self.report(ready, &message, ready_since).await {
                    Ok(()) => last = Some((ready, message, Instant::now())),
                    Err(e) => warn!(
                        node = self.name,
                        "reporting the node status failed (retrying): {e:#}"
                    ),
                }
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    }

    /// Ready when the runtime and its network are, as upstream's
    /// runtime-state check says it.
    async fn runtime_ready(&self) -> (bool, String) {
        let status = match self
            .cri
            .runtime
            .clone()
            .status(StatusRequest::default())
            .await
        {
            Ok(s) => s.into_inner().status.unwrap_or_default(),
            Err(e) => return (false, format!("container runtime is down: {}", e.message())),
        };
        let mut problems = Vec::new();
        for want in ["RuntimeReady", "NetworkReady"] {
            match status.conditions.iter().find(|c| c.r#type == want) {
                Some(c) if c.status => {}
                Some(c) => problems.push(format!(
                    "container runtime {} not ready: {want}=false reason:{} message:{}",
                    if want == "NetworkReady" {
                        "network"
                    } else {
                        "status"
                    },
                    c.reason,
                    c.message
                )),
                None => problems.push(format!("container runtime did not report {want}")),
            }
        }
        if problems.is_empty() {
            (true, "kubelet is posting ready status".to_owned())
        } else {
            (false, problems.join("; "))
        }
    }

    async fn report(&self, ready: bool, message: &str, since: Timestamp) -> anyhow::Result<()> {
        let now = Time(Timestamp::now());
        let since = Time(since);
        let condition = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time: Some(since.clone()),
        };
        let capacity = host::capacity(&self.cfg.root_dir, self.cfg.max_pods);
        let runtime_version = self
            .cri
            .runtime
            .clone()
            .version(k8s_cri::v1::VersionRequest::default())
            .await
            .map(|v| {
                let v = v.into_inner();
                format!("{}://{}", v.runtime_name, v.runtime_version)
            })
            .unwrap_or_default();
        let status = NodeStatus {
            capacity: Some(capacity.clone()),
            allocatable: Some(capacity),
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: self.cfg.node_ip.to_string(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: self.name.clone(),
                },
            ]),
            conditions: Some(vec![
                condition(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                condition(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                condition(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                if ready {
                    condition("Ready", "True", "KubeletReady", message)
                } else {
                    condition("Ready", "False", "KubeletNotReady", message)
                },
            ]),
            daemon_endpoints: Some(NodeDaemonEndpoints {
                kubelet_endpoint: Some(DaemonEndpoint {
                    port: self.cfg.port.into(),
                }),
            }),
            node_info: Some(NodeSystemInfo {
                architecture: host::architecture().to_owned(),
                boot_id: host::read_trimmed("/proc/sys/kernel/random/boot_id"),
                container_runtime_version: runtime_version,
                kernel_version: host::kernel_version(),
                kube_proxy_version: String::new(),
                kubelet_version: KUBELET_VERSION.to_owned(),
                machine_id: host::read_trimmed("/etc/machine-id"),
                operating_system: "linux".to_owned(),
                os_image: host::os_image(),
                system_uuid: String::new(),
                ..Default::default()
            }),
            images: Some(self.images().await),
            ..Default::default()
        };
        let patch = json!({ "status": status });
        self.api
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }

    /// The images present, for the scheduler's ImageLocality score.
    async fn images(&self) -> Vec<ContainerImage> {
        let Ok(list) = self
            .cri
            .images
            .clone()
            .list_images(ListImagesRequest::default())
            .await
        else {
            return Vec::new();
        };
        list.into_inner()
            .images
            .into_iter()
            .filter(|i| !i.repo_tags.is_empty() || !i.repo_digests.is_empty())
            .map(|i| ContainerImage {
                names: Some(i.repo_tags.into_iter().chain(i.repo_digests).collect()),
                size_bytes: Some(i.size as i64),
            })
            .collect()
    }
}
