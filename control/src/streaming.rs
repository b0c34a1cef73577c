//! One HTTP request forwarded to a backend over a connection the caller
//! opened, upgrades included: the API server forwards `pods/log` and
//! `pods/exec` to a kubelet, the kubelet forwards exec to the runtime's
//! streaming server. After a 101 both sides speak SPDY or WebSocket, which
//! pass through as bytes.

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::debug;

/// Request headers that stay on this hop: credentials are this server's
/// business, not the backend's.
const DROPPED: &[&str] = &[
    "authorization",
    "host",
    "proxy-authorization",
    "impersonate-user",
    "impersonate-group",
];

pub async fn forward<IO>(
    io: IO,
    mut req: Request<Body>,
    path_and_query: &str,
    host: &str,
) -> Response<Body>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let upgrading = req.headers().contains_key(header::UPGRADE);
    let client_side = upgrading.then(|| hyper::upgrade::on(&mut req));
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(io)).await {
        Ok(pair) => pair,
        Err(e) => {
            return failure(
                StatusCode::BAD_GATEWAY,
                &format!("connecting to the backend: {e}"),
            );
        }
    };
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            debug!("forwarded connection ended: {e}");
        }
    });
    let (parts, body) = req.into_parts();
    let mut out = Request::builder().method(parts.method).uri(path_and_query);
    for (name, value) in &parts.headers {
        if !DROPPED.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    out = out.header(header::HOST, host);
    let Ok(out) = out.body(body) else {
        return failure(StatusCode::BAD_REQUEST, "the request cannot be forwarded");
    };
    let mut resp = match sender.send_request(out).await {
        Ok(r) => r,
        Err(e) => {
            return failure(
                StatusCode::BAD_GATEWAY,
                &format!("the backend did not answer: {e}"),
            );
        }
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_side) = client_side
    {
        let backend_side = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            match tokio::try_join!(client_side, backend_side) {
                Ok((client, backend)) => {
                    let (mut c, mut b) = (TokioIo::new(client), TokioIo::new(backend));
                    let _ = tokio::io::copy_bidirectional(&mut c, &mut b).await;
                }
                Err(e) => debug!("upgrade failed: {e}"),
            }
        });
        let (parts, _) = resp.into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    resp.map(Body::new)
}

fn failure(code: StatusCode, message: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(message.to_owned()));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}
