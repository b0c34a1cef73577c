//! The kubelet's HTTP side: the read-only port (/healthz, /pods) and the
//! HTTPS kubelet API (container logs, exec) that the API server proxies to.

mod readonly;

use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::task::JoinHandle;

use crate::kubelet::Ctx;

/// The servers' tasks; dropping this stops them.
pub struct Servers(Vec<JoinHandle<()>>);

impl Drop for Servers {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

pub async fn spawn(ctx: Ctx, _client_config: &kube::Config) -> anyhow::Result<Servers> {
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
    Ok(Servers(tasks))
}
