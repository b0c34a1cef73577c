//! The reconciliation loops: API clients (kube-rs runtime) that drive the
//! cluster's state toward what its objects ask for. They run in the control
//! plane process while it holds the leader Lease ([`leader`]); none of them
//! touches the store.

mod deployment;
pub mod leader;
mod replicaset;
mod shared;

use std::time::Duration;

use anyhow::bail;
use kube::Client;
use tokio::task::JoinSet;

/// What the loops are tuned with; the flags of `skiff-control` set it.
#[derive(Clone, Debug)]
pub struct Settings {
    /// A node whose Lease is not renewed for this long is NotReady/Unknown.
    pub node_monitor_grace: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            node_monitor_grace: Duration::from_secs(40),
        }
    }
}

type Loop = fn(Client, Settings) -> futures::future::BoxFuture<'static, anyhow::Result<()>>;

/// Every loop, by name.
const LOOPS: &[(&str, Loop)] = &[
    ("replicaset", replicaset::run),
    ("deployment", deployment::run),
];

/// Runs every loop until one fails. Dropping the future stops them all (the
/// leader lost its Lease, or the process stops).
pub async fn run(client: Client, settings: Settings) -> anyhow::Result<()> {
    let names: Vec<&str> = LOOPS.iter().map(|(name, _)| *name).collect();
    tracing::info!(loops = ?names, "running the reconciliation loops");
    let mut loops = JoinSet::new();
    for (name, start) in LOOPS {
        let fut = start(client.clone(), settings.clone());
        loops.spawn(async move { (*name, fut.await) });
    }
    match loops.join_next().await {
        None => std::future::pending().await,
        Some(Ok((name, Ok(())))) => bail!("the {name} loop stopped"),
        Some(Ok((name, Err(e)))) => Err(e.context(format!("the {name} loop failed"))),
        Some(Err(e)) => bail!("a loop panicked: {e}"),
    }
}
