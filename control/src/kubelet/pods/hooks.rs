//! Lifecycle hooks: postStart right after a container starts (its failure
//! kills the container, as upstream's), preStop before a container is
//! stopped, taken out of its grace period.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, LifecycleHandler};

use super::probes::Action;
use crate::kubelet::Ctx;

/// postStart has no deadline upstream; this one keeps a worker from
/// waiting forever on a hook that hangs.
const POST_START_LIMIT: Duration = Duration::from_secs(120);

async fn run(
    ctx: &Ctx,
    c: &Container,
    id: &str,
    pod_ip: Option<&str>,
    h: &LifecycleHandler,
    limit: Duration,
) -> bool {
    if let Some(sleep) = &h.sleep {
        tokio::time::sleep(Duration::from_secs(sleep.seconds.max(0) as u64).min(limit)).await;
        return true;
    }
    let action = Action {
        exec: h
            .exec
            .as_ref()
            .map(|e| e.command.clone().unwrap_or_default()),
        http_get: h.http_get.as_ref(),
        tcp_socket: h.tcp_socket.as_ref(),
    };
    action.run(ctx, id, c, pod_ip, limit).await
}

/// Runs the postStart hook, if any: false when it failed.
pub async fn post_start(ctx: &Ctx, c: &Container, id: &str, pod_ip: Option<&str>) -> bool {
    match c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
        Some(h) => run(ctx, c, id, pod_ip, h, POST_START_LIMIT).await,
        None => true,
    }
}

/// Runs the preStop hook, if any, within `grace`; returns the grace left
/// for the stop signal.
pub async fn pre_stop(
    ctx: &Ctx,
    c: Option<&Container>,
    id: &str,
    pod_ip: Option<&str>,
    grace: i64,
) -> i64 {
    let Some((c, h)) = c.and_then(|c| Some((c, c.lifecycle.as_ref()?.pre_stop.as_ref()?))) else {
        return grace;
    };
    let started = Instant::now();
    let limit = Duration::from_secs(grace.max(1) as u64);
    run(ctx, c, id, pod_ip, h, limit).await;
    // Upstream leaves at least 2 s for the stop signal after a hook.
    (grace - started.elapsed().as_secs() as i64).max(2)
}
