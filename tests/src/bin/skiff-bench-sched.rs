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

fn pod(name: &str, group: &str, anti_affinity: bool) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
        "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}}}]});
    if anti_affinity {
        spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"group": "anti"}}, "topologyKey": "kubernetes.io/hostname"}]}});
    }
    let labels = json!({"group": group});
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "spec": spec}))
        .unwrap()
}

/// Pods per second: bound from the first create to the last binding, and
/// created (what the API server took while it also served the scheduler).
struct Rates {
    scheduled: f64,
    created: f64,
}

/// The label of a run's pods.
fn group(anti_affinity: bool) -> &'static str {
    if anti_affinity { "anti" } else { "basic" }
}

fn pods_api(client: &kube::Client) -> Api<Pod> {
    Api::namespaced(client.clone(), "default")
}

/// Creates `<prefix>-0..n`, 32 at a time; how long that took.
async fn create(
    api: Api<Pod>,
    prefix: String,
    n: usize,
    group: &'static str,
    anti: bool,
) -> Duration {
    let start = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let name = format!("{prefix}-{i}");
            async move {
                api.create(&PostParams::default(), &pod(&name, group, anti))
                    .await
                    .unwrap()
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    start.elapsed()
}

/// When the first and the last of `n` pods were bound, since `start`.
struct Bound {
    first: Duration,
    last: Duration,
}

/// Follows `events` until `n` pods are bound.
async fn bound(
    mut events: futures::stream::BoxStream<'_, kube::Result<WatchEvent<Pod>>>,
    n: usize,
    start: Instant,
) -> Bound {
    let mut bound = std::collections::HashSet::new();
    let mut first = None;
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
                    first.get_or_insert_with(|| start.elapsed());
                    if bound.len() % 1000 == 0 {
                        eprintln!("  {}/{n} bound", bound.len());
                    }
                }
            }
            Some(_) => {}
            None => panic!("the watch ended"),
        }
    }
    Bound {
        first: first.unwrap_or_default(),
        last: start.elapsed(),
    }
}

/// Creates `n` pods while the scheduler runs and waits until all are bound.
async fn run(client: &kube::Client, n: usize, anti_affinity: bool) -> Rates {
    let api = pods_api(client);
    let rv = api
        .list(&ListParams::default().limit(1))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let group = group(anti_affinity);
    let events = api
        .watch(
            &WatchParams::default()
                .labels(&format!("group={group}"))
                .timeout(290),
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    let start = Instant::now();
    let creator = tokio::spawn(create(api, group.into(), n, group, anti_affinity));
    let all_bound = bound(events, n, start).await.last;
    let all_created = creator.await.unwrap();
    Rates {
        scheduled: n as f64 / all_bound.as_secs_f64(),
        created: n as f64 / all_created.as_secs_f64(),
    }
}

/// Scheduling alone: `n` pods created while no loop runs, then the control
/// plane restarted with its loops; pods per second from the restart until
/// the last is bound (the scheduler's start, its lists and every binding
/// included), and from the first binding to the last.
async fn backlog(
    cp: &mut ControlPlane,
    client: &kube::Client,
    n: usize,
    flags: &[&str],
) -> (f64, f64) {
    let mut quiet = flags.to_vec();
    quiet.push("--no-loops");
    cp.restart_with(&quiet);
    create(pods_api(client), "backlog".into(), n, "backlog", false).await;
    let start = Instant::now();
    cp.restart_with(flags);
    let events = pods_api(client)
        .watch(
            &WatchParams::default().labels("group=backlog").timeout(290),
            "0",
        )
        .await
        .unwrap()
        .boxed();
    let b = bound(events, n, start).await;
    let binding = (b.last - b.first).as_secs_f64().max(1e-3);
    (n as f64 / b.last.as_secs_f64(), (n - 1) as f64 / binding)
}

#[tokio::main]
async fn main() {
    let [n_nodes, n_pods, n_anti] = skiff_e2e::flags::counts(
        "skiff-bench-sched",
        [
            ("--nodes", 1000),
            ("--pods", 10_000),
            ("--anti-affinity-pods", 1000),
        ],
    );
    // Hollow nodes send no heartbeats: keep the node lifecycle loop away.
    let flags = ["--node-monitor-grace-period", "3600"];
    let mut cp = ControlPlane::start_with(&flags);
    let client = cp.client().await;
    eprintln!("registering {n_nodes} hollow nodes ...");
    nodes(&client, n_nodes).await;
    eprintln!("scheduling {n_pods} pods ...");
    let basic = run(&client, n_pods, false).await;
    eprintln!("scheduling {n_anti} pods with required anti-affinity ...");
    let anti = run(&client, n_anti.min(n_nodes), true).await;
    eprintln!("scheduling a backlog of {n_pods} pending pods after a restart ...");
    let (alone, binding) = backlog(&mut cp, &client, n_pods, &flags).await;
    println!(
        "scheduler throughput, {n_nodes} hollow nodes (API server, scheduler and client share 2 cores)"
    );
    let anti_pods = n_anti.min(n_nodes);
    println!(
        "  {n_pods} plain pods                        {:>8.0} pods/s  (target >= 2,000; created at {:.0}/s)",
        basic.scheduled, basic.created
    );
    println!(
        "  {anti_pods} pods, required anti-affinity       {:>8.0} pods/s  (target >= 200; created at {:.0}/s)",
        anti.scheduled, anti.created
    );
    println!(
        "  {n_pods} pending pods, from a restart       {alone:>8.0} pods/s  (scheduling and binding alone)"
    );
    println!("  the same, first binding to last            {binding:>8.0} pods/s");
    println!(
        "{}",
        json!({"backlog_pods_per_s": alone, "backlog_binding_pods_per_s": binding, "nodes": n_nodes, "pods": n_pods, "basic_pods_per_s": basic.scheduled,
               "basic_created_per_s": basic.created, "anti_affinity_pods": anti_pods,
               "anti_affinity_pods_per_s": anti.scheduled, "anti_affinity_created_per_s": anti.created})
    );
}
