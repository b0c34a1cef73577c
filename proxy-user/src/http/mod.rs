//! The agent's HTTP endpoints: `/healthz` (as kube-proxy serves it on 10256)
//! and `/metrics` (Prometheus text format).

mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};

pub use metrics::{MapLabel, Metrics};

/// Health as kube-proxy reports it: healthy once the first sync is done and
/// no sync has been failing for longer than `STALE_AFTER_S`.
#[derive(Default)]
pub struct Health {
    last_ok_s: AtomicU64,
    first_failure_s: AtomicU64,
}

const STALE_AFTER_S: u64 = 60;

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Health {
    pub fn synced(&self) {
        self.last_ok_s.store(now_s(), Ordering::Relaxed);
        self.first_failure_s.store(0, Ordering::Relaxed);
    }

    pub fn failed(&self) {
        let _ =
            self.first_failure_s
                .compare_exchange(0, now_s(), Ordering::Relaxed, Ordering::Relaxed);
    }

    fn healthy(&self) -> (bool, u64) {
        let last = self.last_ok_s.load(Ordering::Relaxed);
        let failing_since = self.first_failure_s.load(Ordering::Relaxed);
        let ok = last != 0 && (failing_since == 0 || now_s() - failing_since < STALE_AFTER_S);
        (ok, last)
    }
}

pub struct Shared {
    pub health: Health,
    pub metrics: Metrics,
}

async fn healthz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let (ok, last) = s.health.healthy();
    let body = serde_json::json!({ "lastUpdated": last, "currentTime": now_s() }).to_string();
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, [("content-type", "application/json")], body)
}

async fn metrics(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn serve(addr: SocketAddr, router: Router, what: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} port {addr}: is another agent using it? (choose another with --{what}-bind)"))?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(())
}

/// Binds both ports now (so a busy port fails the start) and serves them in
/// the background.
pub async fn spawn(
    shared: Arc<Shared>,
    healthz_addr: SocketAddr,
    metrics_addr: SocketAddr,
) -> anyhow::Result<()> {
    let health = Router::new()
        .route("/healthz", get(healthz))
        .route("/livez", get(healthz))
        .with_state(shared.clone());
    let metrics = Router::new()
        .route("/metrics", get(metrics))
        .with_state(shared);
    serve(healthz_addr, health, "healthz").await?;
    serve(metrics_addr, metrics, "metrics").await
}
