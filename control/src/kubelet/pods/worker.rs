//! One task per pod: drives the runtime toward the pod's spec (sandbox,
//! init containers in order, containers with their restart policy and
//! back-off, probes), reports the status, and tears everything down when
//! the pod is deleted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_cri::v1::{
    Container as CriContainer, ContainerState as CriState, ContainerStatusRequest,
    RemoveContainerRequest,
};
use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::backoff::Backoff;
use super::probes::Probes;
use super::runtime::{PodRuntime, sandbox_ips};
use super::status::{self, Observed};
use super::{Failure, cgroups, container, labels, sandbox, volumes};
use crate::controllers::shared::events::Involved;
use crate::kubelet::Ctx;

/// How often a pod is looked at when nothing wakes its worker: the runtime
/// reports no events, so exits are noticed by looking.
const RESYNC: Duration = Duration::from_secs(2);
/// While something is starting.
const RESYNC_BUSY: Duration = Duration::from_millis(500);
/// ConfigMap and Secret volumes are refreshed this often.
const VOLUME_REFRESH: Duration = Duration::from_secs(60);

pub struct Worker {
    ctx: Ctx,
    rx: watch::Receiver<Option<Pod>>,
    probes: Probes,
    backoff: Backoff,
    /// Why a container (by name) is not running, when it is not.
    waiting: HashMap<String, Failure>,
    volumes: Option<(HashMap<String, volumes::Prepared>, Instant)>,
    pod_ips: (String, Vec<String>),
    last_status: Option<serde_json::Value>,
    /// The pod reached Succeeded or Failed: nothing runs again.
    finished: bool,
    /// Per container name, the attempt after the highest the runtime holds.
    next_attempt: HashMap<String, u32>,
}

impl Worker {
    pub fn new(ctx: Ctx, rx: watch::Receiver<Option<Pod>>) -> Self {
        Self {
            ctx,
            rx,
            probes: Probes::default(),
            backoff: Backoff::default(),
            waiting: HashMap::new(),
            volumes: None,
            pod_ips: Default::default(),
            last_status: None,
            finished: false,
            next_attempt: HashMap::new(),
        }
    }

    pub async fn run(mut self) {
        let mut last: Option<Pod> = None;
        loop {
            let current = self.rx.borrow_and_update().clone();
            match current {
                None => {
                    // Gone from the API (force-deleted): stop what runs.
                    if let Some(pod) = last {
                        while !self.terminate(&pod).await {
                            tokio::time::sleep(RESYNC).await;
                        }
                    }
                    return;
                }
                Some(pod) if pod.metadata.deletion_timestamp.is_some() => {
                    // The object goes only once nothing of the pod is left
                    // running; until then the deletion is tried again.
                    if self.terminate(&pod).await && self.remove_object(&pod).await {
                        return;
                    }
                    last = Some(pod);
                    tokio::select! {
                        changed = self.rx.changed() => if changed.is_err() { return },
                        _ = tokio::time::sleep(RESYNC) => {}
                    }
                }
                Some(pod) => {
                    let next = self.sync(&pod).await;
                    last = Some(pod);
                    let notified = self.probes.changed.clone();
                    tokio::select! {
                        changed = self.rx.changed() => {
                            if changed.is_err() {
                                // The manager is gone: the kubelet stops and
                                // leaves pods running, as upstream's does.
                                return;
                            }
                        }
                        _ = notified.notified() => {}
                        _ = tokio::time::sleep(next) => {}
                    }
                }
            }
        }
    }

    fn pod_name(pod: &Pod) -> String {
        format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default()
        )
    }

    fn event(&self, pod: &Pod, type_: &str, reason: &str, message: &str) {
        self.ctx
            .events
            .record(Involved::of(pod, "kubelet").event(type_, reason, message));
    }

    /// One pass; returns how soon to look again.
    async fn sync(&mut self, pod: &Pod) -> Duration {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let rt = match PodRuntime::read(&self.ctx.cri, &uid).await {
            Ok(rt) => rt,
            Err(e) => {
                warn!(
                    pod = Self::pod_name(pod),
                    "reading the runtime failed: {}",
                    e.message()
                );
                return RESYNC;
            }
        };
        self.next_attempt = rt
            .containers
            .iter()
            .map(|(name, list)| {
                let next = list
                    .iter()
                    .filter_map(|c| c.metadata.as_ref())
                    .map(|m| m.attempt + 1)
                    .max()
                    .unwrap_or(0);
                (name.clone(), next)
            })
            .collect();
        // A pod that finished stays so, also for a restarted kubelet: its
        // containers never run again.
        if matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        ) {
            self.finished = true;
        }
        if self.finished {
            if let Some(s) = rt.ready_sandbox() {
                let _ = sandbox::stop(&self.ctx.cri, &s.id).await;
            }
            return RESYNC * 5;
        }
        if let Err(wait) = self.ensure_volumes(pod).await {
            // Nothing new starts without its volumes; what runs is reported
            // as it is.
            let sandbox = rt.ready_sandbox().map(|s| s.id.clone());
            self.report(pod, &rt, sandbox.as_deref()).await;
            return wait;
        }
        // Pods being set up take turns, a few at a time in arrival order:
        // on a busy node the first ones are up sooner, and the last no
        // later than if all had started at once.
        let _turn = match rt.ready_sandbox() {
            None => self.ctx.starts.clone().acquire_owned().await.ok(),
            Some(_) => None,
        };
        let (sandbox_id, sandbox_config) = match rt.ready_sandbox() {
            Some(s) => {
                let attempt = s.metadata.as_ref().map_or(0, |m| m.attempt);
                (s.id.clone(), sandbox::config(&self.ctx, pod, attempt))
            }
            None => match self.new_sandbox(pod, &rt).await {
                Some(found) => found,
                None => {
                    self.report(pod, &rt, None).await;
                    return RESYNC;
                }
            },
        };
        if self.pod_ips.0 != sandbox_id && sandbox::host_network(pod) {
            // A host-network pod has the node's address.
            self.pod_ips = (sandbox_id.clone(), vec![self.ctx.cfg.node_ip.to_string()]);
        } else if self.pod_ips.0 != sandbox_id {
            match sandbox_ips(&self.ctx.cri, &sandbox_id).await {
                Ok(ips) => self.pod_ips = (sandbox_id.clone(), ips),
                Err(e) => warn!(pod = Self::pod_name(pod), "sandbox status: {}", e.message()),
            }
        }
        let mut next = RESYNC;
        let spec = pod.spec.clone().unwrap_or_default();
        let policy = spec
            .restart_policy
            .clone()
            .unwrap_or_else(|| "Always".into());
        // Init containers one at a time, in order.
        let mut inits_done = true;
        for c in spec.init_containers.iter().flatten() {
            let list = rt.of(&c.name, &sandbox_id);
            let latest = list.first().copied();
            let done = latest.is_some_and(|l| l.state == CriState::ContainerExited as i32)
                && self.exit_code(latest).await == Some(0);
            if done {
                continue;
            }
            inits_done = false;
            match latest {
                Some(l) if l.state == CriState::ContainerExited as i32 => {
                    if policy != "Never" {
                        next = next.min(
                            self.start(pod, c, &sandbox_id, &sandbox_config, Some(l))
                                .await,
                        );
                    }
                }
                Some(l) if l.state == CriState::ContainerRunning as i32 => next = RESYNC_BUSY,
                Some(l) => {
                    next = next.min(
                        self.replace_stale(pod, c, l, &sandbox_id, &sandbox_config)
                            .await,
                    )
                }
                None => {
                    next = next.min(self.start(pod, c, &sandbox_id, &sandbox_config, None).await)
                }
            }
            break;
        }
        if inits_done {
            for c in &spec.containers {
                next = next.min(
                    self.sync_container(pod, c, &rt, &sandbox_id, &sandbox_config, &policy)
                        .await,
                );
            }
        }
        self.remove_dead(&rt, &sandbox_id).await;
        let rt = PodRuntime::read(&self.ctx.cri, &uid).await.unwrap_or(rt);
        let running: Vec<String> = rt.running().map(|c| c.id.clone()).collect();
        self.probes.retain(&running);
        let phase = self.report(pod, &rt, Some(&sandbox_id)).await;
        if matches!(phase.as_deref(), Some("Succeeded" | "Failed")) {
            info!(pod = Self::pod_name(pod), phase, "pod finished");
            self.finished = true;
            return RESYNC_BUSY;
        }
        next
    }

    async fn ensure_volumes(&mut self, pod: &Pod) -> Result<(), Duration> {
        if self
            .volumes
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() < VOLUME_REFRESH)
        {
            return Ok(());
        }
        match volumes::prepare(&self.ctx, pod, &self.pod_ips.1).await {
            Ok(v) => {
                self.volumes = Some((v, Instant::now()));
                self.waiting.retain(|_, f| f.reason != "ContainerCreating");
                Ok(())
            }
            Err(e) if self.volumes.is_some() => {
                // Keep the volumes as they are; a refresh failing is not fatal.
                debug!(pod = Self::pod_name(pod), "refreshing volumes: {e:#}");
                Ok(())
            }
            Err(e) => {
                let message = format!("{e:#}");
                self.event(pod, "Warning", "FailedMount", &message);
                for c in pod.spec.iter().flat_map(|s| &s.containers) {
                    self.waiting.insert(
                        c.name.clone(),
                        Failure::new("ContainerCreating", message.clone()),
                    );
                }
                Err(Duration::from_secs(5))
            }
        }
    }

    /// A new sandbox, after removing any dead one (its containers go with it).
    async fn new_sandbox(
        &mut self,
        pod: &Pod,
        rt: &PodRuntime,
    ) -> Option<(String, k8s_cri::v1::PodSandboxConfig)> {
        let attempt = rt
            .sandboxes
            .first()
            .and_then(|s| s.metadata.as_ref())
            .map_or(0, |m| m.attempt + 1);
        if let Some(rem) = self.backoff.remaining("sandbox", None, Instant::now()) {
            debug!(
                pod = Self::pod_name(pod),
                "sandbox creation backing off for {rem:?}"
            );
            return None;
        }
        for old in &rt.sandboxes {
            if let Err(e) = sandbox::remove(&self.ctx.cri, &old.id).await {
                warn!(
                    pod = Self::pod_name(pod),
                    "removing the old sandbox: {}",
                    e.message()
                );
            }
        }
        if attempt > 0 {
            self.event(
                pod,
                "Normal",
                "SandboxChanged",
                "Pod sandbox changed, it will be killed and re-created.",
            );
        }
        match sandbox::run(&self.ctx, pod, attempt).await {
            Ok(id) => {
                self.backoff.reset("sandbox");
                self.pod_ips = Default::default();
                Some((id, sandbox::config(&self.ctx, pod, attempt)))
            }
            Err(e) => {
                let message = format!("Failed to create pod sandbox: {e:#}");
                warn!(pod = Self::pod_name(pod), "{message}");
                self.event(pod, "Warning", "FailedCreatePodSandBox", &message);
                self.backoff.next("sandbox", Instant::now());
                for c in pod.spec.iter().flat_map(|s| &s.containers) {
                    self.waiting.insert(
                        c.name.clone(),
                        Failure::new("ContainerCreating", message.clone()),
                    );
                }
                None
            }
        }
    }

    async fn exit_code(&self, c: Option<&CriContainer>) -> Option<i32> {
        let c = c?;
        let s = self.status_of(&c.id).await?;
        Some(s.exit_code)
    }

    async fn status_of(&self, id: &str) -> Option<k8s_cri::v1::ContainerStatus> {
        self.ctx
            .cri
            .runtime
            .clone()
            .container_status(ContainerStatusRequest {
                container_id: id.to_owned(),
                verbose: false,
            })
            .await
            .ok()?
            .into_inner()
            .status
    }

    async fn sync_container(
        &mut self,
        pod: &Pod,
        c: &Container,
        rt: &PodRuntime,
        sandbox_id: &str,
        sandbox_config: &k8s_cri::v1::PodSandboxConfig,
        policy: &str,
    ) -> Duration {
        let list = rt.of(&c.name, sandbox_id);
        let Some(latest) = list.first().copied() else {
            return self.start(pod, c, sandbox_id, sandbox_config, None).await;
        };
        if latest.state == CriState::ContainerRunning as i32 {
            let outdated =
                latest.annotations.get(labels::CONTAINER_HASH) != Some(&container::hash(c));
            let probe = self.probes.state(&latest.id);
            if probe.failed || outdated {
                let why = if outdated {
                    format!("Container {} definition changed, will be restarted", c.name)
                } else {
                    format!(
                        "Container {} failed liveness probe, will be restarted",
                        c.name
                    )
                };
                if !outdated {
                    self.event(
                        pod,
                        "Warning",
                        "Unhealthy",
                        &format!("Liveness probe failed for container {}", c.name),
                    );
                }
                self.event(pod, "Normal", "Killing", &why);
                info!(pod = Self::pod_name(pod), container = c.name, "{why}");
                let ip = self.pod_ips.1.first().cloned();
                let _ = container::stop_gracefully(
                    &self.ctx,
                    Some(c),
                    &latest.id,
                    ip.as_deref(),
                    grace(pod),
                )
                .await;
                return Duration::ZERO;
            }
            self.waiting.remove(&c.name);
            let pod_ip = self.pod_ips.1.first().cloned();
            self.probes.watch(&self.ctx, &latest.id, c, pod_ip);
            return if probe.started && probe.ready {
                RESYNC
            } else {
                RESYNC_BUSY
            };
        }
        if latest.state != CriState::ContainerExited as i32 {
            return self
                .replace_stale(pod, c, latest, sandbox_id, sandbox_config)
                .await;
        }
        let exit = self.exit_code(Some(latest)).await.unwrap_or(-1);
        let restart = match policy {
            "Never" => false,
            "OnFailure" => exit != 0,
            _ => true,
        };
        if !restart {
            self.waiting.remove(&c.name);
            return RESYNC;
        }
        self.start(pod, c, sandbox_id, sandbox_config, Some(latest))
            .await
    }

    /// Best effort: a container left behind is removed with its sandbox.
    async fn remove_container(&self, id: &str) {
        let _ = self
            .ctx
            .cri
            .runtime
            .clone()
            .remove_container(RemoveContainerRequest {
                container_id: id.to_owned(),
            })
            .await;
    }

    /// A container created but never started (the kubelet stopped between
    /// the two: a pass creates and starts in one go), or in an unknown
    /// state: removed and made again.
    async fn replace_stale(
        &mut self,
        pod: &Pod,
        c: &Container,
        stale: &CriContainer,
        sandbox_id: &str,
        sandbox_config: &k8s_cri::v1::PodSandboxConfig,
    ) -> Duration {
        self.remove_container(&stale.id).await;
        self.start(pod, c, sandbox_id, sandbox_config, Some(stale))
            .await
    }

    /// Creates and starts `c` (again, after `previous`), unless it is
    /// backing off; returns how soon to look again.
    async fn start(
        &mut self,
        pod: &Pod,
        c: &Container,
        sandbox_id: &str,
        sandbox_config: &k8s_cri::v1::PodSandboxConfig,
        previous: Option<&CriContainer>,
    ) -> Duration {
        let now = Instant::now();
        // Backed off from when the previous instance exited, as upstream.
        let exited = match previous {
            Some(p) => self
                .status_of(&p.id)
                .await
                .and_then(|s| exit_instant(s.finished_at)),
            None => None,
        };
        if let Some(rem) = self.backoff.remaining(&c.name, exited, now) {
            let pull = self
                .waiting
                .get(&c.name)
                .is_some_and(|w| w.reason.contains("ImagePull"));
            let delay = self.backoff.delay(&c.name).as_secs();
            // A start that failed for its configuration keeps saying why
            // while it waits, as upstream's CreateContainerConfigError does.
            let config_error = self
                .waiting
                .get(&c.name)
                .filter(|w| !matches!(w.reason.as_str(), "CrashLoopBackOff") && !pull)
                .filter(|w| w.reason.contains("Error"))
                .cloned();
            let failure = if let Some(kept) = config_error {
                kept
            } else if pull {
                Failure::new(
                    "ImagePullBackOff",
                    format!(
                        "Back-off pulling image \"{}\"",
                        c.image.clone().unwrap_or_default()
                    ),
                )
            } else {
                Failure::new(
                    "CrashLoopBackOff",
                    format!(
                        "back-off {delay}s restarting failed container={} pod={}_{}({})",
                        c.name,
                        pod.metadata.name.as_deref().unwrap_or_default(),
                        pod.metadata.namespace.as_deref().unwrap_or_default(),
                        pod.metadata.uid.as_deref().unwrap_or_default(),
                    ),
                )
            };
            self.waiting.insert(c.name.clone(), failure);
            return rem;
        }
        // Counted over every sandbox the pod had: restarts (and log file names)
        // go on when the sandbox is made again.
        let attempt = previous
            .and_then(|p| p.metadata.as_ref())
            .map_or(0, |m| m.attempt + 1)
            .max(self.next_attempt.get(&c.name).copied().unwrap_or(0));
        let volumes = self
            .volumes
            .as_ref()
            .map(|(v, _)| v.clone())
            .unwrap_or_default();
        let ips = self.pod_ips.1.clone();
        match container::start(
            &self.ctx,
            pod,
            c,
            sandbox_id,
            sandbox_config,
            attempt,
            &volumes,
            &ips,
        )
        .await
        {
            Ok(started) => {
                if previous.is_some() {
                    self.backoff.next(&c.name, exited.unwrap_or(now));
                } else {
                    self.backoff.reset(&c.name);
                }
                self.waiting.remove(&c.name);
                self.event(
                    pod,
                    "Normal",
                    "Started",
                    &format!("Started container {}", c.name),
                );
                debug!(
                    pod = Self::pod_name(pod),
                    container = c.name,
                    id = started.id,
                    "started"
                );
                // Probed (or ready, without probes) from now: the status
                // written at the end of this pass already says so.
                let regular = pod
                    .spec
                    .iter()
                    .any(|s| s.containers.iter().any(|x| x.name == c.name));
                if regular {
                    let pod_ip = self.pod_ips.1.first().cloned();
                    self.probes.watch(&self.ctx, &started.id, c, pod_ip);
                }
                RESYNC_BUSY
            }
            Err(f) => {
                warn!(
                    pod = Self::pod_name(pod),
                    container = c.name,
                    reason = f.reason,
                    "{}",
                    f.message
                );
                self.event(pod, "Warning", "Failed", &f.message);
                self.backoff.next(&c.name, now);
                self.waiting.insert(c.name.clone(), f);
                RESYNC
            }
        }
    }

    /// Keeps the newest two instances per container (the previous one for
    /// `kubectl logs --previous`), and nothing of old sandboxes.
    async fn remove_dead(&self, rt: &PodRuntime, sandbox_id: &str) {
        for list in rt.containers.values() {
            let mut kept = 0;
            for c in list {
                let in_sandbox = c.pod_sandbox_id == sandbox_id;
                if in_sandbox && kept < 2 {
                    kept += 1;
                    continue;
                }
                if c.state == CriState::ContainerRunning as i32 {
                    continue;
                }
                self.remove_container(&c.id).await;
            }
        }
    }

    async fn observe(&self, list: &[&CriContainer], name: &str) -> Observed {
        let latest = match list.first() {
            Some(c) => self.status_of(&c.id).await,
            None => None,
        };
        let previous = match list.get(1) {
            Some(c) => self.status_of(&c.id).await,
            None => None,
        };
        let probe = latest
            .as_ref()
            .map(|s| self.probes.state(&s.id))
            .unwrap_or_default();
        Observed {
            latest,
            previous,
            probe,
            waiting: self.waiting.get(name).cloned(),
        }
    }

    /// Writes the status when it changed; returns the phase.
    async fn report(
        &mut self,
        pod: &Pod,
        rt: &PodRuntime,
        sandbox_id: Option<&str>,
    ) -> Option<String> {
        let spec = pod.spec.clone().unwrap_or_default();
        let sid = sandbox_id.unwrap_or_default();
        let mut init = HashMap::new();
        for c in spec.init_containers.iter().flatten() {
            init.insert(
                c.name.clone(),
                self.observe(&rt.of(&c.name, sid), &c.name).await,
            );
        }
        let mut containers = HashMap::new();
        for c in &spec.containers {
            containers.insert(
                c.name.clone(),
                self.observe(&rt.of(&c.name, sid), &c.name).await,
            );
        }
        let ips = if sandbox_id.is_some() {
            self.pod_ips.1.clone()
        } else {
            Vec::new()
        };
        let status = status::compute(&status::Input {
            pod,
            init: &init,
            containers: &containers,
            pod_ips: &ips,
            host_ip: &self.ctx.cfg.node_ip.to_string(),
            sandbox_ready: sandbox_id.is_some(),
        });
        let phase = status.phase.clone();
        let value = serde_json::to_value(&status).unwrap_or_default();
        let unchanged = self.last_status.as_ref() == Some(&value)
            || pod
                .status
                .as_ref()
                .and_then(|s| serde_json::to_value(s).ok())
                .as_ref()
                == Some(&value);
        if unchanged {
            return phase;
        }
        let api: Api<Pod> = Api::namespaced(
            self.ctx.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        );
        let patch = serde_json::json!({ "status": value });
        match api
            .patch_status(
                pod.metadata.name.as_deref().unwrap_or_default(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => self.last_status = Some(value),
            Err(e) => warn!(pod = Self::pod_name(pod), "updating the pod status: {e}"),
        }
        phase
    }

    /// Stops every container with the pod's grace period (stop signal, then
    /// SIGKILL), then the sandbox (its network goes), then the pod's cgroup,
    /// volumes and logs.
    /// Returns whether nothing of the pod is left in the runtime.
    async fn terminate(&mut self, pod: &Pod) -> bool {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let grace = grace(pod);
        let Ok(rt) = PodRuntime::read(&self.ctx.cri, &uid).await else {
            warn!(
                pod = Self::pod_name(pod),
                "cannot read the runtime to stop the pod (retrying)"
            );
            return false;
        };
        let running: Vec<_> = rt.running().collect();
        if !running.is_empty() {
            let names: Vec<String> = running
                .iter()
                .filter_map(|c| c.metadata.as_ref().map(|m| m.name.clone()))
                .collect();
            self.event(
                pod,
                "Normal",
                "Killing",
                &format!("Stopping container {}", names.join(", ")),
            );
        }
        let specs: Vec<Container> = pod
            .spec
            .iter()
            .flat_map(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
            })
            .cloned()
            .collect();
        let pod_ip = self.pod_ips.1.first().cloned();
        let stops = running.iter().map(|c| {
            let name = c
                .metadata
                .as_ref()
                .map(|m| m.name.as_str())
                .unwrap_or_default();
            let spec = specs.iter().find(|s| s.name == name);
            container::stop_gracefully(&self.ctx, spec, &c.id, pod_ip.as_deref(), grace)
        });
        for r in futures::future::join_all(stops).await {
            if let Err(e) = r {
                warn!(
                    pod = Self::pod_name(pod),
                    "stopping a container: {}",
                    e.message()
                );
            }
        }
        let mut clean = true;
        for s in &rt.sandboxes {
            if let Err(e) = sandbox::remove(&self.ctx.cri, &s.id).await {
                clean = false;
                warn!(
                    pod = Self::pod_name(pod),
                    "removing the sandbox (retrying): {}",
                    e.message()
                );
            }
        }
        if !clean {
            return false;
        }
        self.probes.retain(&[]);
        cgroups::remove(&cgroups::pod_parent(&self.ctx.cfg.cgroup_root, &uid));
        volumes::remove(&self.ctx, &uid);
        let _ = std::fs::remove_dir_all(sandbox::log_dir(&self.ctx, pod));
        info!(pod = Self::pod_name(pod), "pod stopped and cleaned up");
        true
    }

    /// The last step of a graceful deletion: the object goes, for this uid only.
    /// Whether the object is gone (or is another pod's now).
    async fn remove_object(&self, pod: &Pod) -> bool {
        let api: Api<Pod> = Api::namespaced(
            self.ctx.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        );
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api
            .delete(pod.metadata.name.as_deref().unwrap_or_default(), &params)
            .await
        {
            Ok(_) => true,
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => true,
            Err(e) => {
                warn!(
                    pod = Self::pod_name(pod),
                    "removing the pod object (retrying): {e}"
                );
                false
            }
        }
    }
}

/// The moment a CRI timestamp (nanoseconds since the epoch) names, on this
/// process's monotonic clock; none for an unset one.
fn exit_instant(finished_at: i64) -> Option<Instant> {
    let at = std::time::UNIX_EPOCH + Duration::from_nanos(u64::try_from(finished_at).ok()?);
    let ago = std::time::SystemTime::now()
        .duration_since(at)
        .unwrap_or_default();
    (finished_at > 0)
        .then(|| Instant::now().checked_sub(ago))
        .flatten()
}

/// The grace period of a deletion in progress, else the pod's own.
fn grace(pod: &Pod) -> i64 {
    pod.metadata
        .deletion_grace_period_seconds
        .or(pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds))
        .unwrap_or(30)
}
