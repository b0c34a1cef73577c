//! One container: its CRI configuration (command, env, mounts, resources,
//! security), created and started in the pod's sandbox; and stopping it.

use std::collections::{BTreeMap, HashMap};

use k8s_cri::v1::{
    Capability, ContainerConfig, ContainerMetadata, CreateContainerRequest, ImageSpec, KeyValue,
    LinuxContainerConfig, LinuxContainerSecurityContext, NamespaceMode, NamespaceOption,
    PodSandboxConfig, StartContainerRequest, StopContainerRequest,
};
use k8s_openapi::api::core::v1::{Container, Pod};

use super::expand::expand;
use super::{Failure, env, hooks, images, labels, resources, volumes};
use crate::kubelet::Ctx;

pub struct Started {
    pub id: String,
}

/// What a container is made from; a change restarts it.
pub fn hash(c: &Container) -> String {
    c.image.clone().unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
pub async fn start(
    ctx: &Ctx,
    pod: &Pod,
    c: &Container,
    sandbox_id: &str,
    sandbox: &PodSandboxConfig,
    attempt: u32,
    vols: &HashMap<String, volumes::Prepared>,
    pod_ips: &[String],
) -> Result<Started, Failure> {
    let image_ref = images::ensure(&ctx.cri, c).await?;
    let env = env::build(ctx, pod, c, pod_ips)
        .await
        .map_err(|e| Failure::new("CreateContainerConfigError", format!("{e:#}")))?;
    let known: BTreeMap<String, String> = env.iter().cloned().collect();
    let mounts = volumes::mounts(vols, c.volume_mounts.as_deref().unwrap_or_default())
        .map_err(|e| Failure::new("CreateContainerConfigError", format!("{e:#}")))?;
    let mut mounts = mounts;
    // /dev/termination-log, as upstream gives every container.
    let term = volumes::pod_dir(ctx, pod.metadata.uid.as_deref().unwrap_or_default())
        .join("containers")
        .join(&c.name)
        .join(attempt.to_string());
    if std::fs::create_dir_all(term.parent().unwrap_or(&term)).is_ok()
        && std::fs::write(&term, b"").is_ok()
    {
        mounts.push(k8s_cri::v1::Mount {
            container_path: c
                .termination_message_path
                .clone()
                .unwrap_or_else(|| "/dev/termination-log".into()),
            host_path: term.to_string_lossy().into_owned(),
            ..Default::default()
        });
    }
    let sc = c.security_context.clone().unwrap_or_default();
    let pod_sc = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.clone())
        .unwrap_or_default();
    let caps = sc.capabilities.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let grace = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .unwrap_or(30);
    let config = ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: c.name.clone(),
            attempt,
        }),
        image: Some(ImageSpec {
            image: image_ref,
            user_specified_image: c.image.clone().unwrap_or_default(),
            ..Default::default()
        }),
        command: c
            .command
            .iter()
            .flatten()
            .map(|s| expand(s, &known))
            .collect(),
        args: c.args.iter().flatten().map(|s| expand(s, &known)).collect(),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        envs: env
            .into_iter()
            .map(|(key, value)| KeyValue { key, value })
            .collect(),
        mounts,
        labels: HashMap::from([
            (labels::POD_UID.to_owned(), uid),
            (
                labels::POD_NAME.to_owned(),
                pod.metadata.name.clone().unwrap_or_default(),
            ),
            (
                labels::POD_NAMESPACE.to_owned(),
                pod.metadata.namespace.clone().unwrap_or_default(),
            ),
            (labels::CONTAINER_NAME.to_owned(), c.name.clone()),
        ]),
        annotations: HashMap::from([
            (labels::CONTAINER_HASH.to_owned(), hash(c)),
            (labels::GRACE.to_owned(), grace.to_string()),
        ]),
        log_path: format!("{}/{attempt}.log", c.name),
        stdin: c.stdin == Some(true),
        stdin_once: c.stdin_once == Some(true),
        tty: c.tty == Some(true),
        linux: Some(LinuxContainerConfig {
            resources: Some(resources::linux(c)),
            security_context: Some(LinuxContainerSecurityContext {
                capabilities: Some(Capability {
                    add_capabilities: caps.add.unwrap_or_default(),
                    drop_capabilities: caps.drop.unwrap_or_default(),
                    ..Default::default()
                }),
                privileged: sc.privileged == Some(true),
                namespace_options: sandbox
                    .linux
                    .as_ref()
                    .and_then(|l| l.security_context.as_ref())
                    .and_then(|s| s.namespace_options.clone())
                    .or(Some(NamespaceOption {
                        network: NamespaceMode::Pod as i32,
                        ..Default::default()
                    })),
                run_as_user: sc
                    .run_as_user
                    .or(pod_sc.run_as_user)
                    .map(|value| k8s_cri::v1::Int64Value { value }),
                run_as_group: sc
                    .run_as_group
                    .or(pod_sc.run_as_group)
                    .map(|value| k8s_cri::v1::Int64Value { value }),
                readonly_rootfs: sc.read_only_root_filesystem == Some(true),
                no_new_privs: sc.allow_privilege_escalation == Some(false),
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    let mut runtime = ctx.cri.runtime.clone();
    let id = runtime
        .create_container(CreateContainerRequest {
            pod_sandbox_id: sandbox_id.to_owned(),
            config: Some(config),
            sandbox_config: Some(sandbox.clone()),
        })
        .await
        .map_err(|s| Failure::new("CreateContainerError", s.message().to_owned()))?
        .into_inner()
        .container_id;
    runtime
        .start_container(StartContainerRequest {
            container_id: id.clone(),
        })
        .await
        .map_err(|s| Failure::new("RunContainerError", s.message().to_owned()))?;
    if !hooks::post_start(ctx, c, &id, pod_ips.first().map(String::as_str)).await {
        let _ = stop(ctx, &id, 0).await;
        return Err(Failure::new(
            "PostStartHookError",
            format!("the postStart hook of container {} failed", c.name),
        ));
    }
    Ok(Started { id })
}

/// The preStop hook, then the stop signal with what is left of `grace`.
pub async fn stop_gracefully(
    ctx: &Ctx,
    spec: Option<&Container>,
    id: &str,
    pod_ip: Option<&str>,
    grace: i64,
) -> Result<(), tonic::Status> {
    let left = hooks::pre_stop(ctx, spec, id, pod_ip, grace).await;
    stop(ctx, id, left).await
}

/// Stop signal, then SIGKILL after `grace` seconds (the runtime does both).
pub async fn stop(ctx: &Ctx, id: &str, grace: i64) -> Result<(), tonic::Status> {
    ctx.cri
        .runtime
        .clone()
        .stop_container(StopContainerRequest {
            container_id: id.to_owned(),
            timeout: grace.max(0),
        })
        .await
        .map(|_| ())
}
