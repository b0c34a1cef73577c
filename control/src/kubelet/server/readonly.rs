//! The read-only port: `/healthz` and `/pods` (the pods bound to this node,
//! as a PodList), plain HTTP as upstream's port 10255. The HTTPS API serves
//! the same two paths.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use crate::kubelet::Ctx;

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/pods", get(pods))
        .route("/pods/", get(pods))
}

pub fn router(ctx: Ctx) -> Router {
    routes().with_state(ctx)
}

async fn pods(State(ctx): State<Ctx>) -> Result<Json<Value>, (axum::http::StatusCode, String)> {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let params = ListParams::default().fields(&format!("spec.nodeName={}", ctx.node));
    let list = api.list(&params).await.map_err(|e| {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("listing this node's pods: {e}"),
        )
    })?;
    Ok(Json(
        json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": list.items}),
    ))
}
