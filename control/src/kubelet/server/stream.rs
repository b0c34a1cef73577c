//! exec, attach and port-forward: the runtime hands out a URL on its
//! streaming server (CRI Exec/Attach/PortForward), and the request, upgrade
//! and all, is forwarded there.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use k8s_cri::v1::{AttachRequest, ExecRequest, PortForwardRequest};

use super::find_container;
use crate::kubelet::Ctx;

/// Query parameters with repeats (`command=sh&command=-c`).
fn params(req: &Request<Body>) -> Vec<(String, String)> {
    form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn flag(params: &[(String, String)], names: &[&str]) -> bool {
    params
        .iter()
        .any(|(k, v)| names.contains(&k.as_str()) && matches!(v.as_str(), "1" | "true"))
}

/// Which streams the client asked for (kubectl's names, and the old ones).
struct Streams {
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
}

impl Streams {
    fn of(p: &[(String, String)]) -> Self {
        Self {
            tty: flag(p, &["tty"]),
            stdin: flag(p, &["stdin", "input"]),
            stdout: flag(p, &["stdout", "output"]),
            stderr: flag(p, &["stderr", "error"]),
        }
    }
}

/// The runtime's answer: its streaming URL, forwarded to, or its error.
async fn answered(url: Result<String, tonic::Status>, req: Request<Body>) -> Response {
    match url {
        Ok(url) => to_runtime(&url, req).await,
        Err(s) => (StatusCode::INTERNAL_SERVER_ERROR, s.message().to_owned()).into_response(),
    }
}

pub async fn exec(
    State(ctx): State<Ctx>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    req: Request<Body>,
) -> Response {
    let p = params(&req);
    let (id, _) = match find_container(&ctx, &ns, &pod, &container, false).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let cmd: Vec<String> = p
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if cmd.is_empty() {
        return (StatusCode::BAD_REQUEST, "exec needs a command").into_response();
    }
    let s = Streams::of(&p);
    let url = ctx
        .cri
        .runtime
        .clone()
        .exec(ExecRequest {
            container_id: id,
            cmd,
            tty: s.tty,
            stdin: s.stdin,
            stdout: s.stdout,
            stderr: s.stderr,
        })
        .await
        .map(|r| r.into_inner().url);
    answered(url, req).await
}

pub async fn attach(
    State(ctx): State<Ctx>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    req: Request<Body>,
) -> Response {
    let p = params(&req);
    let (id, _) = match find_container(&ctx, &ns, &pod, &container, false).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let s = Streams::of(&p);
    let url = ctx
        .cri
        .runtime
        .clone()
        .attach(AttachRequest {
            container_id: id,
            tty: s.tty,
            stdin: s.stdin,
            stdout: s.stdout,
            stderr: s.stderr,
        })
        .await
        .map(|r| r.into_inner().url);
    answered(url, req).await
}

pub async fn port_forward(
    State(ctx): State<Ctx>,
    Path((ns, pod)): Path<(String, String)>,
    req: Request<Body>,
) -> Response {
    let sandbox = match super::find_sandbox(&ctx, &ns, &pod).await {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let ports = params(&req)
        .iter()
        .filter(|(k, _)| k == "port" || k == "ports")
        .flat_map(|(_, v)| {
            v.split(',')
                .filter_map(|p| p.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    let url = ctx
        .cri
        .runtime
        .clone()
        .port_forward(PortForwardRequest {
            pod_sandbox_id: sandbox,
            port: ports,
        })
        .await
        .map(|r| r.into_inner().url);
    answered(url, req).await
}

/// Forwards to the streaming server's URL (`http://127.0.0.1:<port>/exec/<token>`).
async fn to_runtime(url: &str, req: Request<Body>) -> Response {
    let Ok(uri) = url.parse::<axum::http::Uri>() else {
        return (
            StatusCode::BAD_GATEWAY,
            format!("the runtime gave an unusable URL: {url}"),
        )
            .into_response();
    };
    let host = uri
        .host()
        .unwrap_or("127.0.0.1")
        .trim_matches(['[', ']'])
        .to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let io = match tokio::net::TcpStream::connect((host.as_str(), port)).await {
        Ok(io) => io,
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("the runtime's streaming server at {url}: {e}"),
            )
                .into_response();
        }
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    crate::streaming::forward(io, req, &path, &authority).await
}
