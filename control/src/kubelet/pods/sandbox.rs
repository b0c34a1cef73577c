//! The pod sandbox: its CRI configuration, and running and removing it.

use std::collections::HashMap;

use anyhow::Context as _;
use k8s_cri::v1::{
    LinuxPodSandboxConfig, LinuxSandboxSecurityContext, NamespaceMode, NamespaceOption,
    PodSandboxConfig, PodSandboxMetadata, PortMapping, RemovePodSandboxRequest,
    RunPodSandboxRequest, StopPodSandboxRequest,
};
use k8s_openapi::api::core::v1::Pod;

use super::{cgroups, labels};
use crate::kubelet::Ctx;
use crate::kubelet::cri::Cri;

pub fn host_network(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.host_network) == Some(true)
}

pub fn log_dir(ctx: &Ctx, pod: &Pod) -> std::path::PathBuf {
    let m = &pod.metadata;
    ctx.cfg.log_root().join(format!(
        "{}_{}_{}",
        m.namespace.as_deref().unwrap_or("default"),
        m.name.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default()
    ))
}

pub fn config(ctx: &Ctx, pod: &Pod, attempt: u32) -> PodSandboxConfig {
    let m = &pod.metadata;
    let uid = m.uid.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let host_net = host_network(pod);
    let labels = HashMap::from([
        (labels::POD_UID.to_owned(), uid.clone()),
        (
            labels::POD_NAME.to_owned(),
            m.name.clone().unwrap_or_default(),
        ),
        (
            labels::POD_NAMESPACE.to_owned(),
            m.namespace.clone().unwrap_or_default(),
        ),
    ]);
    let hostname = if host_net {
        // A host-network sandbox keeps the node's name.
        String::new()
    } else {
        let name = spec
            .hostname
            .clone()
            .unwrap_or_else(|| m.name.clone().unwrap_or_default());
        name.chars().take(63).collect()
    };
    let port_mappings = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.is_some_and(|h| h > 0))
        .map(|p| PortMapping {
            protocol: match p.protocol.as_deref() {
                Some("UDP") => 1,
                Some("SCTP") => 2,
                _ => 0,
            },
            container_port: p.container_port,
            host_port: p.host_port.unwrap_or_default(),
            host_ip: p.host_ip.clone().unwrap_or_default(),
        })
        .collect();
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: m.name.clone().unwrap_or_default(),
            uid: uid.clone(),
            namespace: m.namespace.clone().unwrap_or_default(),
            attempt,
        }),
        hostname,
        log_directory: log_dir(ctx, pod).to_string_lossy().into_owned(),
        port_mappings,
        labels,
        annotations: m
            .annotations
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: cgroups::pod_parent(&ctx.cfg.cgroup_root, &uid),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: if host_net {
                        NamespaceMode::Node as i32
                    } else {
                        NamespaceMode::Pod as i32
                    },
                    pid: if spec.host_pid == Some(true) {
                        NamespaceMode::Node as i32
                    } else {
                        NamespaceMode::Container as i32
                    },
                    ipc: if spec.host_ipc == Some(true) {
                        NamespaceMode::Node as i32
                    } else {
                        NamespaceMode::Pod as i32
                    },
                    ..Default::default()
                }),
                privileged: spec
                    .containers
                    .iter()
                    .chain(spec.init_containers.iter().flatten())
                    .any(|c| c.security_context.as_ref().and_then(|s| s.privileged) == Some(true)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Makes the pod's cgroup and log directory, then the sandbox; returns its id.
pub async fn run(ctx: &Ctx, pod: &Pod, attempt: u32) -> anyhow::Result<String> {
    let config = config(ctx, pod, attempt);
    std::fs::create_dir_all(&config.log_directory)
        .with_context(|| format!("creating the log directory {}", config.log_directory))?;
    let parent = &config.linux.as_ref().expect("set above").cgroup_parent;
    cgroups::create(parent).with_context(|| format!("creating the pod cgroup {parent}"))?;
    let id = ctx
        .cri
        .runtime
        .clone()
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner()
        .pod_sandbox_id;
    Ok(id)
}

/// Stops (network torn down) and removes a sandbox and its containers.
pub async fn remove(cri: &Cri, id: &str) -> Result<(), tonic::Status> {
    let mut runtime = cri.runtime.clone();
    runtime
        .stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: id.to_owned(),
        })
        .await?;
    runtime
        .remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: id.to_owned(),
        })
        .await?;
    Ok(())
}

/// Stops a sandbox but keeps it (a finished pod frees its IP, keeps its logs).
pub async fn stop(cri: &Cri, id: &str) -> Result<(), tonic::Status> {
    cri.runtime
        .clone()
        .stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: id.to_owned(),
        })
        .await?;
    Ok(())
}
