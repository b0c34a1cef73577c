//! The kubelet (`skiff-control kubelet`): registers its Node, renews its
//! Lease, runs the pods bound to it through CRI (containerd), and serves the
//! kubelet API (logs, exec) and the read-only port.

pub mod config;
pub mod cri;
pub mod node;
pub mod pods;
pub mod server;

use std::sync::Arc;

use anyhow::Context as _;
use tracing::info;

use crate::controllers::shared::events::Events;
pub use config::Config;

/// What every part of the kubelet shares.
#[derive(Clone)]
pub struct Ctx {
    pub client: kube::Client,
    pub cri: cri::Cri,
    pub cfg: Arc<Config>,
    pub node: String,
    pub events: Events,
    /// Turns for pods being set up (`--parallel-pod-starts`).
    pub starts: Arc<tokio::sync::Semaphore>,
}

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let node = cfg.node_name();
    let kubeconfig = kube::config::Kubeconfig::read_from(&cfg.kubeconfig)
        .with_context(|| format!("reading --kubeconfig {}", cfg.kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .context("the kubeconfig does not name a usable cluster")?;
    let client = kube::Client::try_from(config.clone())?;
    let cri = cri::Cri::connect(&cfg.container_runtime_endpoint).await?;
    for dir in [cfg.log_root(), cfg.pods_root()] {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let ctx = Ctx {
        starts: Arc::new(tokio::sync::Semaphore::new(cfg.parallel_pod_starts())),
        events: Events::spawn(client.clone()),
        client: client.clone(),
        cri: cri.clone(),
        cfg: Arc::new(cfg.clone()),
        node: node.clone(),
    };
    let reporter = node::NodeReporter::new(client.clone(), cri.clone(), cfg.clone());
    let node_uid = reporter.register().await?;
    let servers = server::spawn(ctx.clone(), &config).await?;
    tokio::spawn(node::lease::run(
        client.clone(),
        node.clone(),
        node_uid,
        cfg.lease_renew(),
    ));
    tokio::spawn(reporter.run());
    let pods = tokio::spawn(pods::run(ctx.clone()));
    info!(node, "kubelet running");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
        _ = pods => anyhow::bail!("the pod watch ended"),
    }
    drop(servers);
    info!(node, "kubelet stopping (pods keep running)");
    Ok(())
}
