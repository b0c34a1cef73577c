//! skiff-control: the control plane. One command, no flags needed: it keeps
//! its store, certificates and admin kubeconfig in a data directory.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use control::apiserver::defaults::Admission;
use control::apiserver::{allocate::Allocator, auth::Tokens, bootstrap, pki::Pki, routes, serve};
use control::controllers::{
    self,
    leader::{Elector, Timing},
};
use control::store::Store;
use control::store::{CompactionPolicy, EmbeddedOptions, EmbeddedStore, EtcdStore};
use ipnetwork::IpNetwork;
use tracing::info;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "skiff-control",
    version,
    about = "A compact Kubernetes-compatible control plane",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    server: Args,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Run a node: register it, run the pods bound to it through containerd (CRI).
    Kubelet(control::kubelet::Config),
}

/// The control plane's flags (no subcommand).
#[derive(clap::Args)]
struct Args {
    /// Store, certificates and admin.kubeconfig live here
    /// [default: /var/lib/skiff/control as root, else ~/.local/share/skiff/control].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address of the HTTPS API.
    #[arg(long, default_value = "127.0.0.1:6443")]
    bind: SocketAddr,
    /// Use etcd (comma-separated client URLs) instead of the embedded store.
    #[arg(long, value_delimiter = ',')]
    etcd_endpoints: Vec<String>,
    /// Bearer tokens, one `token,user,uid[,"groups"]` per line.
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
    /// Where Service cluster IPs come from.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cluster_ip_range: IpNetwork,
    /// Where NodePorts come from, as `first-last`.
    #[arg(long, default_value = "30000-32767", value_parser = port_range)]
    service_node_port_range: RangeInclusive<u16>,
    /// How often the store forgets old history (seconds; 0: never). On etcd,
    /// history older than one interval goes, as kube-apiserver compacts it.
    #[arg(long, default_value_t = 300)]
    compaction_interval: u64,
    /// How many revisions of history the embedded store's compaction keeps.
    #[arg(long, default_value_t = 10_000)]
    compaction_keep: i64,
    /// Run the reconciliation loops only while holding the leader Lease
    /// (kube-system/skiff-control), so several processes can run side by side.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Serve the API only: no reconciliation loops in this process.
    #[arg(long)]
    no_loops: bool,
    /// How long pods tolerate a not-ready node before eviction, unless they
    /// say otherwise (seconds).
    #[arg(long, default_value_t = 300)]
    default_not_ready_toleration_seconds: i64,
    /// The same for an unreachable node.
    #[arg(long, default_value_t = 300)]
    default_unreachable_toleration_seconds: i64,
    /// A node whose heartbeats stop for this long is marked unknown and
    /// tainted unreachable (seconds).
    #[arg(long, default_value_t = 40)]
    node_monitor_grace_period: u64,
    /// Where nodes' pod CIDRs are carved from.
    #[arg(long, default_value = "10.244.0.0/16")]
    cluster_cidr: IpNetwork,
    /// The prefix length of each node's pod CIDR.
    #[arg(long, default_value_t = 24)]
    node_cidr_mask_size: u8,
    /// How often pods bound to deleted nodes are looked for (seconds).
    #[arg(long, default_value_t = 20)]
    pod_gc_period: u64,
    /// How long a node must be missing before its pods are deleted (seconds).
    #[arg(long, default_value_t = 40)]
    pod_gc_quarantine: u64,
    /// The most endpoints one EndpointSlice holds (1-1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    max_endpoints_per_slice: u16,
    /// The address the `kubernetes` Service's endpoints point at
    /// [default: the bind address, or 127.0.0.1 when it is unspecified].
    #[arg(long)]
    advertise_address: Option<IpAddr>,
}

fn port_range(s: &str) -> Result<RangeInclusive<u16>, String> {
    let (a, b) = s
        .split_once('-')
        .ok_or("expected first-last, e.g. 30000-32767")?;
    let (a, b): (u16, u16) = (
        a.trim().parse().map_err(|e| format!("{a}: {e}"))?,
        b.trim().parse().map_err(|e| format!("{b}: {e}"))?,
    );
    if a == 0 || a > b {
        return Err(format!(
            "{s}: the first port must be at least 1 and not above the last"
        ));
    }
    Ok(a..=b)
}

/// How often Service address claims are checked against the Services.
const REPAIR_EVERY: Duration = Duration::from_secs(60);

fn default_data_dir() -> PathBuf {
    // SAFETY: no arguments.
    if unsafe { libc::geteuid() } == 0 {
        PathBuf::from("/var/lib/skiff/control")
    } else {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        home.join(".local/share/skiff/control")
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let host_bits = if args.cluster_cidr.is_ipv4() { 32 } else { 128 };
    if args.node_cidr_mask_size < args.cluster_cidr.prefix() || args.node_cidr_mask_size > host_bits
    {
        anyhow::bail!(
            "--node-cidr-mask-size {} does not fit in --cluster-cidr {}: use a prefix between {} and {host_bits}",
            args.node_cidr_mask_size,
            args.cluster_cidr,
            args.cluster_cidr.prefix()
        );
    }
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}: choose another with --data-dir",
            data_dir.display()
        )
    })?;
    let store: Arc<dyn Store> = if args.etcd_endpoints.is_empty() {
        let options = EmbeddedOptions {
            compaction: CompactionPolicy {
                every: (args.compaction_interval > 0)
                    .then(|| Duration::from_secs(args.compaction_interval)),
                keep_revisions: args.compaction_keep,
            },
            ..Default::default()
        };
        Arc::new(EmbeddedStore::open_with(&data_dir.join("store"), options)?)
    } else {
        let etcd: Arc<dyn Store> = Arc::new(
            EtcdStore::connect(&args.etcd_endpoints, None)
                .await
                .context("is etcd running there? check --etcd-endpoints (client URLs such as http://127.0.0.1:2379)")?,
        );
        if args.compaction_interval > 0 {
            control::store::spawn_compactor(
                etcd.clone(),
                Duration::from_secs(args.compaction_interval),
            );
        }
        etcd
    };
    let tokens = match &args.token_auth_file {
        Some(path) => Tokens::load(path)?,
        None => Tokens::default(),
    };
    let allocator = Allocator::new(
        store.clone(),
        args.service_cluster_ip_range,
        args.service_node_port_range.clone(),
    );
    // Pods reach the server as the `kubernetes` Service: its address is one
    // of the certificate's names.
    let mut hosts = vec![args.bind.ip().to_string(), allocator.first_ip().to_string()];
    if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        hosts.push(name.trim().to_owned());
    }
    let pki = Pki::load_or_create(&data_dir.join("pki"), &hosts)?;
    let app = routes::router(Arc::new(routes::AppState {
        store: store.clone(),
        tokens,
        allocator: allocator.clone(),
        sa_tokens: control::apiserver::satokens::Signer::load_or_create(&data_dir.join("pki"))?,
        kubelet_tls: Arc::new(control::apiserver::kubelet::client_config(&pki)?),
        admission: Admission {
            not_ready_toleration: args.default_not_ready_toleration_seconds,
            unreachable_toleration: args.default_unreachable_toleration_seconds,
        },
    }));
    let listener = serve::bind(args.bind).await?;
    let local = listener.local_addr()?;
    let advertise = args
        .advertise_address
        .unwrap_or(if local.ip().is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            local.ip()
        });
    // The first objects exist before the first client is served.
    bootstrap::run(
        &*store,
        &allocator,
        SocketAddr::new(advertise, local.port()),
    )
    .await
    .context("creating the cluster's first objects")?;
    allocator.spawn_repair(REPAIR_EVERY);
    serve::spawn(listener, pki.server_config()?, app);

    let host = if local.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        local.ip().to_string()
    };
    let host = if local.is_ipv6() && !local.ip().is_unspecified() {
        format!("[{host}]")
    } else {
        host
    };
    let kubeconfig = data_dir.join("admin.kubeconfig");
    std::fs::write(
        &kubeconfig,
        pki.admin_kubeconfig(&format!("https://{host}:{}", local.port())),
    )
    .with_context(|| format!("writing {}", kubeconfig.display()))?;
    info!(address = %local, kubeconfig = %kubeconfig.display(), "API server ready");

    let (loops, elector) = if args.no_loops {
        (None, None)
    } else {
        let client = self_client(&pki, &format!("https://{host}:{}", local.port())).await?;
        let elector = args.leader_elect.then(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            let identity = format!("{}_{}", host.trim(), uuid::Uuid::new_v4());
            let api = kube::Api::namespaced(client.clone(), "kube-system");
            Arc::new(Elector::new(
                api,
                "skiff-control",
                &identity,
                Timing::default(),
            ))
        });
        let settings = controllers::Settings {
            podgc_period: Duration::from_secs(args.pod_gc_period.max(1)),
            podgc_quarantine: Duration::from_secs(args.pod_gc_quarantine),
            cluster_cidr: args.cluster_cidr,
            node_monitor_grace: Duration::from_secs(args.node_monitor_grace_period.max(1)),
            max_endpoints_per_slice: args.max_endpoints_per_slice.into(),
            node_cidr_mask: args.node_cidr_mask_size,
            root_ca: pki.ca.clone(),
        };
        (
            Some(tokio::spawn(run_loops(client, settings, elector.clone()))),
            elector,
        )
    };

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    info!("stopping");
    if let Some(loops) = loops {
        loops.abort();
    }
    // The next process takes over at once instead of waiting for expiry.
    if let Some(elector) = elector {
        elector.release().await;
    }
    Ok(())
}

/// Requests the loops have in flight at most (watches count only until
/// their response starts). HTTP/1.1 runs one request per connection: a burst
/// of bindings or pod creations without a bound opens a connection, and a
/// TLS handshake, per request.
const MAX_REQUESTS_IN_FLIGHT: usize = 64;

/// A client of this very server, with the admin credentials.
async fn self_client(pki: &Pki, url: &str) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&pki.admin_kubeconfig(url))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    let limit = tower::limit::ConcurrencyLimitLayer::new(MAX_REQUESTS_IN_FLIGHT);
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&limit)
        .build())
}

/// The reconciliation loops, under the leader Lease unless told otherwise.
async fn run_loops(
    client: kube::Client,
    settings: controllers::Settings,
    elector: Option<Arc<Elector>>,
) {
    let result = match elector {
        Some(elector) => {
            elector
                .run(|| controllers::run(client.clone(), settings.clone()))
                .await
        }
        None => controllers::run(client, settings).await,
    };
    if let Err(e) = result {
        tracing::error!("reconciliation loops stopped: {e:#}");
    }
}
#[tokio::main]
async fn main() {
    // The allocator returns idle pages to the system and touches them again
    // later; where transparent huge pages are "always", each such touch
    // zeroes 2 MiB (a tenth of the CPU under load). Small pages, then.
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and affects only
    // this process.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let result = match cli.command {
        Some(Command::Kubelet(cfg)) => control::kubelet::run(cfg).await,
        None => run(cli.server).await,
    };
    if let Err(e) = result {
        let who = if matches!(std::env::args().nth(1).as_deref(), Some("kubelet")) {
            "skiff-control kubelet"
        } else {
            "skiff-control"
        };
        eprintln!("{who}: {e:#}");
        std::process::exit(1);
    }
}
