//! HTTPS: each connection's TLS handshake tells who the client is (its
//! certificate), which travels with every request on that connection.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::ServiceExt as _;
use tracing::debug;

use super::auth::Identity;
use super::routes::PeerIdentity;

/// Binds first, so a busy port fails the start before anything else is done.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot listen on {addr}: is another API server running? (choose another with --bind)"
        )
    })
}

/// Serves HTTPS on `listener` in the background.
pub fn spawn(listener: tokio::net::TcpListener, tls: rustls::ServerConfig, app: Router) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                continue;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(tls) => tls,
                    Err(e) => return debug!(%peer, error = %e, "TLS handshake failed"),
                };
                let identity = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(Identity::from_certificate);
                let service = hyper::service::service_fn(
                    move |mut req: hyper::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(PeerIdentity(identity.clone()));
                        app.clone().oneshot(req.map(axum::body::Body::new))
                    },
                );
                if let Err(e) = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .await
                {
                    debug!(%peer, error = %e, "connection ended");
                }
            });
        }
    });
}
