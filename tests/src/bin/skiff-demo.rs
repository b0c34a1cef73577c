//! `cargo xtask run`: a three-node cluster on this machine (the control plane,
//! and nodes made of network namespaces with containerd, the kubelet and the
//! agent), a demo Deployment and Service applied with kubectl. It stays up
//! until Ctrl-C, then cleans up; `--down` takes down a cluster whose run was
//! killed, from the state file the run keeps.
//!
//! skiff-demo [--nodes N] [--routing direct|vxlan|kernel] [--state PATH]
//! skiff-demo --down [--state PATH]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use skiff_e2e::cluster::{Cluster, Options, Routing, State};
use skiff_e2e::images::{DEMO, DEMO_PORT};

/// In /run: it lives as long as what it lists (namespaces, bridges, mounts),
/// until the next boot.
const DEFAULT_STATE: &str = "/run/skiff/demo-cluster.json";

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

struct Args {
    nodes: usize,
    routing: Routing,
    state: PathBuf,
    down: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: skiff-demo [--nodes N] [--routing direct|vxlan|kernel] [--state PATH]\n       \
         skiff-demo --down [--state PATH]"
    );
    std::process::exit(2);
}

fn args() -> Args {
    let mut args = Args {
        nodes: 3,
        routing: Routing::Direct,
        state: PathBuf::from(DEFAULT_STATE),
        down: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--down" => args.down = true,
            "--nodes" => {
                args.nodes = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| (1..=20).contains(n))
                    .unwrap_or_else(|| usage())
            }
            "--routing" => {
                args.routing = match it.next().as_deref() {
                    Some("direct") => Routing::Direct,
                    Some("vxlan") => Routing::Vxlan,
                    Some("kernel") => Routing::Kernel,
                    _ => usage(),
                }
            }
            "--state" => args.state = it.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    args
}

fn down(state_file: &PathBuf) {
    // Clusters of killed tests too: those whose process is gone.
    for orphan in skiff_e2e::cluster::teardown_orphans() {
        eprintln!(
            "took down the cluster on {} left by process {}",
            orphan.bridge, orphan.owner
        );
    }
    match State::load(state_file) {
        Ok(state) => {
            eprintln!(
                "taking down the cluster on {} recorded in {} ...",
                state.bridge,
                state_file.display()
            );
            state.teardown();
            let _ = std::fs::remove_file(state_file);
            eprintln!("done");
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "no cluster to take down: {} does not exist",
                state_file.display()
            );
        }
        Err(e) => {
            eprintln!("cannot read {}: {e}", state_file.display());
            std::process::exit(1);
        }
    }
}

fn demo_manifest() -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels: {{app: demo}}
  template:
    metadata:
      labels: {{app: demo}}
    spec:
      containers:
      - name: demo
        image: {DEMO}
        imagePullPolicy: IfNotPresent
        ports:
        - {{name: http, containerPort: {DEMO_PORT}}}
---
apiVersion: v1
kind: Service
metadata:
  name: demo
  namespace: default
spec:
  selector: {{app: demo}}
  ports:
  - {{name: http, port: 80, targetPort: http}}
"#
    )
}

fn main() {
    let args = args();
    skiff_e2e::require_root();
    if args.down {
        down(&args.state);
        return;
    }
    if args.state.exists() {
        eprintln!(
            "a cluster is already recorded in {}: it may still run (another terminal), or its \
             run was killed. Take it down first: cargo xtask run --down",
            args.state.display()
        );
        std::process::exit(1);
    }
    if let Err(why) = skiff_e2e::cluster::kubelet_available() {
        eprintln!("cannot start the cluster: {why}");
        std::process::exit(1);
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    eprintln!(
        "starting a {}-node cluster (routing {:?}) ...",
        args.nodes, args.routing
    );
    let cluster = Cluster::start(
        args.nodes,
        Options {
            routing: args.routing,
            state_file: Some(args.state.clone()),
            progress: |line| eprintln!("  {line}"),
            ..Options::default()
        },
    );

    eprintln!("applying the demo Deployment and Service ...");
    cluster.apply(&demo_manifest());
    cluster.wait_pods_ready("default", "app=demo", 3, Duration::from_secs(120));
    let cluster_ip =
        cluster.kubectl_ok(&["get", "service", "demo", "-o", "jsonpath={.spec.clusterIP}"]);
    println!(
        "\n{}",
        cluster.kubectl_ok(&["get", "pods", "-o", "wide", "-l", "app=demo"])
    );

    let node = cluster.node(0);
    println!(
        "The cluster is up. Try:\n  \
         export KUBECONFIG={kc}\n  \
         kubectl get nodes -o wide\n  \
         kubectl get pods,services,endpointslices -o wide\n  \
         kubectl scale deployment demo --replicas 5\n  \
         kubectl exec deploy/demo -- netprobe http {cluster_ip}:80 6   # from a pod, through the ClusterIP\n  \
         kubectl logs deploy/demo\n\
         From {node_name}, balanced by its agent (a process in the node's cgroup):\n  \
         sh -c 'echo $$ > {procs}; exec nsenter --net=/run/netns/{ns} {probe} http {cluster_ip}:80 6'\n\
         The node's maps:\n  \
         {dbg} --pin-dir {pins} services\n\
         Logs: {dir}\n\
         Stop with Ctrl-C, or `cargo xtask run --down` from another terminal (also after this \
         process was killed).",
        kc = cluster.kubeconfig().display(),
        node_name = node.name,
        ns = node.netns.name,
        procs = node.cgroup.join("cgroup.procs").display(),
        dbg = skiff_e2e::bin("skiff-dbg").display(),
        probe = skiff_e2e::bin("netprobe").display(),
        pins = node.pin_dir.display(),
        dir = cluster.dir.path().display(),
    );
    while !STOP.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("stopping and cleaning up ...");
    drop(cluster);
    eprintln!("done");
}
