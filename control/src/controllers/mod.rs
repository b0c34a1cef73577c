//! The reconciliation loops: API clients (kube-rs runtime) that drive the
//! cluster's state toward what its objects ask for. They run in the control
//! plane process while it holds the leader Lease ([`leader`]); none of them
//! touches the store.

mod daemonset;
mod deployment;
pub mod endpointslice;
mod garbagecollector;
pub mod leader;
mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
mod podgc;
mod replicaset;
mod rootca;
mod serviceaccount;
pub(crate) mod shared;

use std::time::Duration;

use anyhow::bail;
use kube::Client;
use tokio::task::JoinSet;

use shared::informer::Informers;

/// What the loops are tuned with; the flags of `skiff-control` set it.
#[derive(Clone, Debug)]
pub struct Settings {
    /// A node whose Lease is not renewed for this long is NotReady/Unknown.
    pub node_monitor_grace: Duration,
    /// How often pods of deleted nodes are looked for.
    pub podgc_period: Duration,
    /// How long a node must be missing before its pods go.
    pub podgc_quarantine: Duration,
    /// Where nodes' pod CIDRs come from, and their size.
    pub cluster_cidr: ipnetwork::IpNetwork,
    pub node_cidr_mask: u8,
    /// The most endpoints one EndpointSlice holds.
    pub max_endpoints_per_slice: usize,
    /// The cluster CA (PEM) that every namespace's `kube-root-ca.crt`
    /// ConfigMap carries; none is published when empty.
    pub root_ca: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            node_monitor_grace: Duration::from_secs(40),
            podgc_period: podgc::PERIOD,
            podgc_quarantine: podgc::QUARANTINE,
            cluster_cidr: "10.244.0.0/16".parse().expect("a valid CIDR"),
            node_cidr_mask: 24,
            max_endpoints_per_slice: 100,
            root_ca: String::new(),
        }
    }
}

/// Starts a loop: subscriptions to the shared informers happen here, before
/// the informers start; the rest runs in the future.
type Loop =
    fn(Client, Settings, &Informers) -> futures::future::BoxFuture<'static, anyhow::Result<()>>;

/// Every loop, by name.
const LOOPS: &[(&str, Loop)] = &[
    ("namespace", |c, s, _| Box::pin(namespace::run(c, s))),
    ("serviceaccount", |c, s, _| {
        Box::pin(serviceaccount::run(c, s))
    }),
    ("rootca", |c, s, _| Box::pin(rootca::run(c, s))),
    ("podgc", |c, s, _| Box::pin(podgc::run(c, s))),
    ("nodeipam", |c, s, _| Box::pin(nodeipam::run(c, s))),
    ("nodelifecycle", |c, s, _| {
        Box::pin(nodelifecycle::run(c, s))
    }),
    ("garbagecollector", |c, s, _| {
        Box::pin(garbagecollector::run(c, s))
    }),
    ("endpointslice", |c, s, _| endpointslice::start(c, s)),
    ("scheduler", |c, s, _| Box::pin(crate::scheduler::run(c, s))),
    ("replicaset", replicaset::run),
    ("deployment", deployment::run),
    ("daemonset", daemonset::run),
];

/// Runs every loop until one fails. Dropping the future stops them all (the
/// leader lost its Lease, or the process stops).
pub async fn run(client: Client, settings: Settings) -> anyhow::Result<()> {
    let names: Vec<&str> = LOOPS.iter().map(|(name, _)| *name).collect();
    tracing::info!(loops = ?names, "running the reconciliation loops");
    let informers = Informers::new(&client);
    let mut loops = JoinSet::new();
    for (name, start) in LOOPS {
        let fut = start(client.clone(), settings.clone(), &informers);
        loops.spawn(async move { (*name, fut.await) });
    }
    for watch in informers.start() {
        loops.spawn(async move { ("shared informer", watch.await) });
    }
    match loops.join_next().await {
        None => std::future::pending().await,
        Some(Ok((name, Ok(())))) => bail!("the {name} loop stopped"),
        Some(Ok((name, Err(e)))) => Err(e.context(format!("the {name} loop failed"))),
        Some(Err(e)) => bail!("a loop panicked: {e}"),
    }
}
