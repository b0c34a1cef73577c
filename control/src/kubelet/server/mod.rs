//! The kubelet's HTTP side: the read-only port (/healthz, /pods) and the
//! HTTPS kubelet API (container logs, exec, attach, port-forward) that the
//! API server forwards `pods/log`, `pods/exec`... to.

mod logs;
mod readonly;
mod stream;
mod tls;

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{any, get};
use k8s_cri::v1::{ContainerState, ContainerStatusRequest};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use tokio::task::JoinHandle;

use crate::kubelet::Ctx;
use crate::kubelet::pods::runtime::PodRuntime;

/// The servers' tasks; dropping this stops them.
pub struct Servers(Vec<JoinHandle<()>>);

impl Drop for Servers {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

pub async fn spawn(ctx: Ctx, client_config: &kube::Config) -> anyhow::Result<Servers> {
    let mut tasks = Vec::new();
    if ctx.cfg.read_only_port != 0 {
        let addr = SocketAddr::new(ctx.cfg.node_ip, ctx.cfg.read_only_port);
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} (--read-only-port; 0 turns it off)")
        })?;
        let app = readonly::router(ctx.clone());
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }
    let addr = SocketAddr::new(ctx.cfg.node_ip, ctx.cfg.port);
    let listener = crate::apiserver::serve::bind(addr)
        .await
        .with_context(|| format!("the kubelet API cannot listen on {addr} (--port)"))?;
    let tls = tls::server_config(ctx.cfg.node_ip, &ctx.node, client_config)?;
    crate::apiserver::serve::spawn(listener, tls, api(ctx));
    Ok(Servers(tasks))
}

fn api(ctx: Ctx) -> Router {
    readonly::routes()
        .route("/containerLogs/{ns}/{pod}/{container}", get(logs::serve))
        .route("/exec/{ns}/{pod}/{container}", any(stream::exec))
        .route("/attach/{ns}/{pod}/{container}", any(stream::attach))
        .route("/portForward/{ns}/{pod}", any(stream::port_forward))
        .with_state(ctx)
}

type Refusal = (StatusCode, String);

async fn pod_uid(ctx: &Ctx, ns: &str, pod: &str) -> Result<String, Refusal> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let found = api.get_opt(pod).await.map_err(|e| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("reading pod {ns}/{pod}: {e}"),
        )
    })?;
    match found {
        Some(p)
            if p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(ctx.node.as_str()) =>
        {
            Ok(p.metadata.uid.unwrap_or_default())
        }
        _ => Err((
            StatusCode::NOT_FOUND,
            format!("pod {ns}/{pod} is not on node {}", ctx.node),
        )),
    }
}

/// The container's id and log path: the newest instance, or the one before
/// it (`previous`).
async fn find_container(
    ctx: &Ctx,
    ns: &str,
    pod: &str,
    container: &str,
    previous: bool,
) -> Result<(String, String), Refusal> {
    let uid = pod_uid(ctx, ns, pod).await?;
    let rt = PodRuntime::read(&ctx.cri, &uid).await.map_err(|s| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the runtime: {}", s.message()),
        )
    })?;
    let list = rt.containers.get(container).cloned().unwrap_or_default();
    let wanted = if previous { list.get(1) } else { list.first() };
    let Some(c) = wanted else {
        let what = if previous {
            "previous terminated container"
        } else {
            "container"
        };
        return Err((
            StatusCode::BAD_REQUEST,
            format!("{what} \"{container}\" in pod \"{pod}\" not found"),
        ));
    };
    let status = ctx
        .cri
        .runtime
        .clone()
        .container_status(ContainerStatusRequest {
            container_id: c.id.clone(),
            verbose: false,
        })
        .await
        .map_err(|s| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the runtime: {}", s.message()),
            )
        })?
        .into_inner()
        .status
        .unwrap_or_default();
    if !previous && status.state == ContainerState::ContainerCreated as i32 {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"
            ),
        ));
    }
    Ok((c.id.clone(), status.log_path))
}

async fn find_sandbox(ctx: &Ctx, ns: &str, pod: &str) -> Result<String, Refusal> {
    let uid = pod_uid(ctx, ns, pod).await?;
    let rt = PodRuntime::read(&ctx.cri, &uid).await.map_err(|s| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the runtime: {}", s.message()),
        )
    })?;
    rt.ready_sandbox().map(|s| s.id.clone()).ok_or((
        StatusCode::BAD_REQUEST,
        format!("pod {ns}/{pod} has no running sandbox"),
    ))
}
