//! `cargo xtask bench scheduler`: scheduler_perf-style throughput. 1,000
//! hollow nodes (Node objects only, as kubemark's), then pods created as fast
//! as the API takes them; pods scheduled per second from the first create
//! to the last binding, for plain pods and for pods with required
//! anti-affinity. Prints a table and a JSON line.

use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use skiff_e2e::control::ControlPlane;

fn usage() -> ! {
    eprintln!("usage: skiff-bench-sched [--nodes N] [--pods N] [--anti-affinity-pods N]");
    std::process::exit(2);
}

async fn client(cp: &ControlPlane) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(cp.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

async fn nodes(client: &kube::Client, n: usize) {
    let api: Api<Node> = Api::all(client.clone());
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                let node: Node = serde_json::from_value(json!({
                    "metadata": {"name": format!("hollow-{i}"),
                                 "labels": {"kubernetes.io/hostname": format!("hollow-{i}"),
                                            "topology.kubernetes.io/zone": format!("zone-{}", i % 3)}},
                    "status": {"capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                               "allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                               "conditions": [{"type": "Ready", "status": "True"}]},
                }))
                .unwrap();
                api.create(&PostParams::default(), &node).await.unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
}

fn pod(name: &str, anti_affinity: bool) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
        "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}}}]});
    if anti_affinity {
        spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"group": "anti"}}, "topologyKey": "kubernetes.io/hostname"}]}});
    }
    let labels = if anti_affinity {
        json!({"group": "anti"})
    } else {
        json!({"group": "basic"})
    };
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "spec": spec}))
        .unwrap()
}

/// Creates `n` pods and waits until all are bound; pods per second.
async fn run(client: &kube::Client, prefix: &str, n: usize, anti_affinity: bool) -> f64 {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rv = api
        .list(&ListParams::default().limit(1))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let label = if anti_affinity {
        "group=anti"
    } else {
        "group=basic"
    };
    let mut events = api
        .watch(&WatchParams::default().labels(label).timeout(290), &rv)
        .await
        .unwrap()
        .boxed();
    let start = Instant::now();
    let creator = {
        let api = api.clone();
        let prefix = prefix.to_owned();
        tokio::spawn(async move {
            futures::stream::iter(0..n)
                .map(|i| {
                    let api = api.clone();
                    let name = format!("{prefix}-{i}");
                    async move {
                        api.create(&PostParams::default(), &pod(&name, anti_affinity))
                            .await
                            .unwrap()
                    }
                })
                .buffer_unordered(32)
                .collect::<Vec<_>>()
                .await;
        })
    };
    let mut bound = std::collections::HashSet::new();
    let deadline = Duration::from_secs(600);
    while bound.len() < n {
        let event =
            tokio::time::timeout(deadline.saturating_sub(start.elapsed()), events.try_next())
                .await
                .unwrap_or_else(|_| panic!("{} of {n} pods bound after {deadline:?}", bound.len()));
        match event.unwrap() {
            Some(WatchEvent::Added(p) | WatchEvent::Modified(p)) => {
                if p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
                    bound.insert(p.metadata.name.unwrap());
                    if bound.len() % 1000 == 0 {
                        eprintln!("  {}/{n} bound", bound.len());
                    }
                }
            }
            Some(_) => {}
            None => panic!("the watch ended"),
        }
    }
    creator.await.unwrap();
    n as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let (mut n_nodes, mut n_pods, mut n_anti) = (1000usize, 10_000usize, 1000usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--nodes" => n_nodes = val(),
            "--pods" => n_pods = val(),
            "--anti-affinity-pods" => n_anti = val(),
            _ => usage(),
        }
    }
    // Hollow nodes send no heartbeats: keep the node lifecycle loop away.
    let cp = ControlPlane::start_with(&["--node-monitor-grace-period", "3600"]);
    let client = client(&cp).await;
    eprintln!("registering {n_nodes} hollow nodes ...");
    nodes(&client, n_nodes).await;
    eprintln!("scheduling {n_pods} pods ...");
    let basic = run(&client, "basic", n_pods, false).await;
    eprintln!("scheduling {n_anti} pods with required anti-affinity ...");
    let anti = run(&client, "anti", n_anti.min(n_nodes), true).await;
    println!(
        "scheduler throughput, {n_nodes} hollow nodes (API server, scheduler and client share 2 cores)"
    );
    println!("  {n_pods} plain pods                        {basic:>8.0} pods/s  (target >= 2,000)");
    println!(
        "  {} pods, required anti-affinity       {anti:>8.0} pods/s  (target >= 200)",
        n_anti.min(n_nodes)
    );
    println!(
        "{}",
        json!({"nodes": n_nodes, "pods": n_pods, "basic_pods_per_s": basic, "anti_affinity_pods": n_anti.min(n_nodes), "anti_affinity_pods_per_s": anti})
    );
}
