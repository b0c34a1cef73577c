//! The agent: load and attach the programs, adopt the pinned maps, then turn
//! every snapshot of Services and EndpointSlices into map updates.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracing::{error, info};

use crate::config::Config;
use crate::datapath::{self, Layout};
use crate::desired::{self, DesiredState, NodeInfo};
use crate::http::{self, Health, MapLabel, Metrics, Shared};
use crate::maps::{LbMaps, NetMaps};
use crate::net;
use crate::source::{self, Objects, Snapshots};
use crate::writer::Writer;

/// `--cleanup`: the programs stop and the node's maps go, and with pod
/// routing on, what the agent added to the node's network.
pub async fn cleanup(cfg: &Config) -> anyhow::Result<()> {
    if cfg.cni_conf_dir.is_some() {
        crate::net::cleanup(cfg).await?;
    }
    let layout = Layout::new(&cfg.pin_dir());
    if !layout.pin_dir.exists() {
        info!(pin_dir = %layout.pin_dir.display(), "nothing pinned; nothing to clean up");
        return Ok(());
    }
    let links = datapath::detach_all(&layout)?;
    std::fs::remove_dir_all(&layout.pin_dir)
        .with_context(|| format!("removing {}", layout.pin_dir.display()))?;
    info!(pin_dir = %layout.pin_dir.display(), links, "programs detached, maps removed");
    Ok(())
}

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let node = NodeInfo {
        name: cfg.node_name(),
        zone: cfg.node_zone.clone(),
    };
    let layout = Layout::new(&cfg.pin_dir());
    let shared = Arc::new(Shared {
        health: Health::default(),
        metrics: Metrics::new(),
    });
    http::spawn(shared.clone(), cfg.healthz_bind, cfg.metrics_bind).await?;

    let log_debug = tracing::enabled!(target: "proxy_ebpf", tracing::Level::DEBUG);
    let opts = datapath::LoadOptions {
        log_debug,
        service_ports: cfg.max_service_ports,
    };
    let mut ebpf = datapath::load(&layout, &opts)?;
    datapath::spawn_log_pump(&mut ebpf)?;
    let (mut writer, adopted) = Writer::adopt(LbMaps::take(&mut ebpf)?)?;
    info!(
        node = %node.name,
        pin_dir = %layout.pin_dir.display(),
        frontends = adopted.frontends,
        backends = adopted.backends,
        removed_strays = adopted.removed_strays,
        "maps adopted"
    );
    datapath::attach_all(&mut ebpf, &layout, &cfg.cgroup())?;
    let nodes = match &cfg.cni_conf_dir {
        Some(dir) => {
            datapath::progs::pin_and_update(&mut ebpf, &layout)?;
            let maps = NetMaps::take(&mut ebpf)?;
            let (tx, rx) = tokio::sync::watch::channel(None);
            let settings = net::Settings::new(&cfg, dir.clone());
            net::spawn(settings, Layout::new(&layout.pin_dir), maps, rx)?;
            Some(tx)
        }
        None => None,
    };

    let snapshots = match &cfg.manifests {
        Some(dir) => source::spawn_manifests(dir.clone(), nodes)?,
        None => {
            let client = kube_client(&cfg).await?;
            source::spawn_kube(client, cfg.min_sync_period, nodes).await?
        }
    };
    sync_loop(snapshots, &mut writer, &node, &shared).await;
    // Links and maps stay pinned: the programs keep balancing with the last
    // programmed state until the next agent adopts them.
    info!("stopping; programs stay attached");
    drop(ebpf);
    Ok(())
}

async fn kube_client(cfg: &Config) -> anyhow::Result<kube::Client> {
    let config = match &cfg.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer().await.context(
            "no kubeconfig found and not running in a cluster: pass --kubeconfig or --manifests",
        )?,
    };
    Ok(kube::Client::try_from(config)?)
}

const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// What to program next: a fresh snapshot, or the desired state of a sync
/// that failed, retried with backoff until it succeeds or a newer snapshot
/// replaces it (a quiet cluster may send none).
enum Work {
    Fresh(Objects),
    Retry(DesiredState),
}

async fn sync_loop(snapshots: Snapshots, writer: &mut Writer, node: &NodeInfo, shared: &Shared) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    let mut failed: Option<DesiredState> = None;
    let mut backoff = RETRY_FIRST;
    loop {
        let retry = async {
            match failed.take() {
                Some(desired) => {
                    tokio::time::sleep(backoff).await;
                    desired
                }
                None => std::future::pending().await,
            }
        };
        let work = tokio::select! {
            objects = snapshots.next() => Work::Fresh(objects),
            desired = retry => Work::Retry(desired),
            _ = tokio::signal::ctrl_c() => return,
            _ = term.recv() => return,
        };
        let started = Instant::now();
        let desired = match work {
            Work::Fresh(objects) => desired::compute(&objects.services, &objects.slices, node),
            Work::Retry(desired) => desired,
        };
        let applied = writer.apply(&desired);
        match applied {
            Ok(report) => {
                drop(desired);
                backoff = RETRY_FIRST;
                record_sync(writer, shared, report, started.elapsed().as_secs_f64());
            }
            Err(e) => {
                shared.metrics.sync_errors.inc();
                shared.health.failed();
                error!("sync failed, retrying in {} s: {e:#}", backoff.as_secs());
                failed = Some(desired);
                backoff = (backoff * 2).min(RETRY_MAX);
            }
        }
        release_freed_memory();
    }
}

fn record_sync(writer: &Writer, shared: &Shared, report: crate::writer::ApplyReport, secs: f64) {
    let m = &shared.metrics;
    m.sync_duration.observe(secs);
    m.syncs.inc();
    let (slots, backends) = writer.entry_counts();
    m.map_entries
        .get_or_create(&MapLabel { map: "services" })
        .set(slots as i64);
    m.map_entries
        .get_or_create(&MapLabel { map: "backends" })
        .set(backends as i64);
    m.frontends.set(report.frontends as i64);
    shared.health.synced();
    info!(
        frontends = report.frontends,
        backends = report.backends,
        ops = report.ops,
        ms = secs * 1e3,
        "synced"
    );
}

/// A sync of a large cluster parses and computes far more than it keeps
/// (about 25 MB live after 10,000 Services, over 150 MB at the peak); glibc
/// would keep the freed peak in its arenas, so hand it back to the system.
fn release_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: no preconditions; only returns free memory to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
