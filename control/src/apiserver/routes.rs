//! The HTTP routes served so far: health, version and discovery, behind
//! authentication.

use std::sync::Arc;

use bytes::Bytes;

use std::collections::HashMap;

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};

use super::allocate::Allocator;
use super::auth::{Identity, Tokens, is_public};
use super::status::status;
use super::{discovery, openapi, resources};
use crate::store::Store;

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub tokens: Tokens,
    pub allocator: Allocator,
    pub admission: super::defaults::Admission,
    pub sa_tokens: super::satokens::Signer,
    /// TLS to kubelets, for `pods/log`, `pods/exec`...
    pub kubelet_tls: Arc<rustls::ClientConfig>,
}

/// The identity the TLS layer found in the client's certificate, if any.
#[derive(Clone)]
pub struct PeerIdentity(pub Option<Identity>);

async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let from_cert = req
        .extensions()
        .get::<PeerIdentity>()
        .and_then(|p| p.0.clone());
    let header = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let mut identity =
        from_cert.or_else(|| header.as_deref().and_then(|h| state.tokens.authenticate(h)));
    if identity.is_none()
        && let Some(bearer) = header.as_deref().and_then(|h| h.strip_prefix("Bearer "))
    {
        identity = service_account(&state, bearer.trim()).await;
    }
    match identity {
        Some(identity) => {
            req.extensions_mut().insert(identity);
            next.run(req).await
        }
        None if is_public(req.uri().path()) => next.run(req).await,
        None => status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized"),
    }
}

/// The account a service account token names, if this server signed it,
/// it has not expired, and the account (and pod it is bound to) still exist
/// with the uids it was issued for.
async fn service_account(state: &AppState, token: &str) -> Option<Identity> {
    let claims = state.sa_tokens.verify(token)?;
    let k = &claims.kubernetes;
    let uid_of = |key: String| async move {
        let kv = state.store.get(&key).await.ok()??;
        let obj: serde_json::Value = serde_json::from_slice(&kv.value).ok()?;
        obj["metadata"]["uid"].as_str().map(str::to_owned)
    };
    let account = uid_of(format!(
        "/registry/core/serviceaccounts/{}/{}",
        k.namespace, k.serviceaccount.name
    ))
    .await?;
    if account != k.serviceaccount.uid {
        return None;
    }
    if let Some(pod) = &k.pod
        && uid_of(format!("/registry/core/pods/{}/{}", k.namespace, pod.name)).await? != pod.uid
    {
        return None;
    }
    Some(Identity::service_account(
        &k.namespace,
        &k.serviceaccount.name,
    ))
}

async fn version() -> impl IntoResponse {
    Json(serde_json::json!({
        "major": "1",
        "minor": "32",
        "gitVersion": concat!("v1.32.0+skiff-", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": "linux/amd64",
    }))
}

/// Ready when the store answers.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.current_revision().await {
        Ok(_) => "ok".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}")).into_response(),
    }
}

/// Everything under `/api/` and `/apis/`: discovery of a group version, or a
/// resource.
async fn api(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(e) => return unreadable(e),
    };
    let path = uri.path();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let listing = match segs.as_slice() {
        ["api", "v1"] => Some(discovery::resource_list("", "v1")),
        ["apis", group, version] => Some(discovery::resource_list(group, version)),
        _ => None,
    };
    if method == Method::GET
        && let Some(list) = listing
    {
        return match list {
            Some(list) => Json(list).into_response(),
            None => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("the server could not find the requested resource: {path}"),
            ),
        };
    }
    match resources::parse(path) {
        Some(target) => resources::handle(state, method, headers, target, query, body).await,
        None => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("the server could not find the requested resource: {path}"),
        ),
    }
}

/// Protobuf when the client asks for it (kubectl does), JSON otherwise.
async fn openapi_v2(headers: HeaderMap) -> Response {
    let accept = headers
        .get("accept")
        .and_then(|a| a.to_str().ok())
        .unwrap_or_default();
    if openapi::PROTOBUF_ACCEPTED
        .iter()
        .any(|p| accept.contains(p))
    {
        (
            [("content-type", openapi::PROTOBUF)],
            openapi::PROTO.clone(),
        )
            .into_response()
    } else {
        Json(&*openapi::JSON).into_response()
    }
}

/// Bodies beyond this get 413, as kube-apiserver's 3 MiB request limit.
const MAX_BODY: usize = 3 * 1024 * 1024;

/// A body the server would not read, as a `Status`: clients print its
/// message, where a bare text body leaves them with only the code.
fn unreadable(e: BytesRejection) -> Response {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return status(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            &format!("Request entity too large: limit is {MAX_BODY}"),
        );
    }
    status(e.status(), "BadRequest", &e.body_text())
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/version", get(version))
        .route("/openapi/v2", get(openapi_v2))
        .route("/api", get(|| async { Json(discovery::core_versions()) }))
        .route("/apis", get(|| async { Json(discovery::groups()) }))
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/log",
            get(super::kubelet::log),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/exec",
            any(super::kubelet::exec),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/attach",
            any(super::kubelet::attach),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/portforward",
            any(super::kubelet::port_forward),
        )
        .route("/api/{*rest}", any(api))
        .route("/apis/{*rest}", any(api))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .fallback(|| async {
            status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}
