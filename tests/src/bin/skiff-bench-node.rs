//! `cargo xtask bench node`: one node's kubelet under a burst of pods. Per
//! round, a fresh one-node cluster; 30 pods of the demo image pinned to the
//! node are created at once, and a watch times each from the creates to the
//! event showing it Running and the one showing it Ready. Then the resident
//! memory of the kubelet, the agent, containerd and one shim with the pods
//! running. Prints each round and a JSON line.

use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};
use skiff_e2e::cluster::{Cluster, Node, Options, condition};

const NAMESPACE: &str = "default";

fn pod(i: usize, node: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": format!("bench-{i}"), "labels": {"app": "bench"}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "demo", "image": skiff_e2e::images::DEMO}]},
    }))
    .unwrap()
}

/// `field` of /proc/<pid>/status, in MB.
fn proc_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1000.0)
}

fn memory(pid: u32) -> Value {
    json!({"rss_mb": proc_mb(pid, "VmRSS"), "hwm_mb": proc_mb(pid, "VmHWM")})
}

/// The node's containerd shims (started with `-address <its socket>`).
fn shims(node: &Node) -> Vec<i32> {
    let socket = node.containerd.socket();
    skiff_e2e::procs::matching(|cmdline| {
        cmdline
            .first()
            .is_some_and(|p| p.contains("containerd-shim"))
            && cmdline
                .windows(2)
                .any(|w| w[0] == "-address" && std::path::Path::new(&w[1]) == socket)
    })
}

/// Nearest rank: with 30 samples, p99 is the largest.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(mut v: Vec<f64>) -> Value {
    v.sort_by(|a, b| a.total_cmp(b));
    json!({"p50": quantile(&v, 0.5), "p99": quantile(&v, 0.99), "max": v[v.len() - 1]})
}

/// Seconds from `from` to `to`, API timestamps (whole seconds).
fn server_seconds(from: &Value, to: &Value) -> f64 {
    let secs = |v: &Value| {
        serde_json::from_value::<Time>(v.clone())
            .unwrap()
            .0
            .as_second()
    };
    (secs(to) - secs(from)) as f64
}

/// Creates the pods at once; each pod's seconds from the creates to the
/// first event showing it Running, and showing it Ready.
async fn burst(client: &kube::Client, n: usize, node: &str) -> (Vec<f64>, Vec<f64>, f64) {
    let api: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let rv = api
        .list(&ListParams::default().limit(1))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = api
        .watch(
            &WatchParams::default().labels("app=bench").timeout(290),
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    let start = Instant::now();
    eprintln!(
        "creating {n} pods at {}",
        k8s_openapi::jiff::Timestamp::now()
    );
    let creates = async {
        let api = &api;
        let each =
            (0..n).map(|i| async move { api.create(&PostParams::default(), &pod(i, node)).await });
        for r in futures::future::join_all(each).await {
            r.unwrap();
        }
        start.elapsed().as_secs_f64()
    };
    let watch = async {
        let (mut running, mut ready) = (vec![None; n], vec![None; n]);
        let deadline = Duration::from_secs(120);
        while ready.iter().any(Option::is_none) {
            let next =
                tokio::time::timeout(deadline.saturating_sub(start.elapsed()), events.try_next());
            let p = match next.await.expect("every pod Ready in 2 minutes").unwrap() {
                Some(WatchEvent::Added(p) | WatchEvent::Modified(p)) => p,
                Some(_) => continue,
                None => panic!("the watch ended"),
            };
            let at = start.elapsed().as_secs_f64();
            let name = p.metadata.name.as_deref().unwrap();
            let i: usize = name["bench-".len()..].parse().unwrap();
            let v = serde_json::to_value(&p).unwrap();
            if v["status"]["phase"] == "Running" {
                running[i].get_or_insert(at);
            }
            if condition(&v, "Ready") {
                ready[i].get_or_insert(at);
            }
        }
        let all = |v: Vec<Option<f64>>| v.into_iter().map(Option::unwrap).collect();
        (all(running), all(ready))
    };
    let (created, (running, ready)) = tokio::join!(creates, watch);
    (running, ready, created)
}

/// Per pod, from the API's own timestamps: creation to Ready, and creation
/// to the container's start.
fn server_side(c: &Cluster) -> (Vec<f64>, Vec<f64>) {
    let list = c
        .get_json(&["pods", "-n", NAMESPACE, "-l", "app=bench"])
        .unwrap();
    let items = list["items"].as_array().unwrap();
    let created = |p: &Value| p["metadata"]["creationTimestamp"].clone();
    let ready = items.iter().map(|p| {
        let conds = p["status"]["conditions"].as_array().unwrap();
        let r = conds.iter().find(|c| c["type"] == "Ready").unwrap();
        server_seconds(&created(p), &r["lastTransitionTime"])
    });
    let started = items.iter().map(|p| {
        let at = &p["status"]["containerStatuses"][0]["state"]["running"]["startedAt"];
        server_seconds(&created(p), at)
    });
    (ready.collect(), started.collect())
}

/// `starts`: the kubelet's `--parallel-pod-starts` (0: its default).
fn round(r: usize, n: usize, starts: usize) -> Value {
    let kubelet_args = match starts {
        0 => vec![],
        s => vec!["--parallel-pod-starts".into(), s.to_string()],
    };
    let c = Cluster::start(
        1,
        Options {
            log_filter: "info,control::kubelet=debug".into(),
            kubelet_args,
            ..Options::default()
        },
    );
    let node = c.node(0);
    let kubelet = node.kubelet().unwrap().pid();
    let agent = node.agent().unwrap().pid();
    // Let the components finish starting.
    std::thread::sleep(Duration::from_secs(5));
    let idle = memory(kubelet);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("round {r}: node Ready, loadavg {}", load.trim());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (running, ready, created) = rt.block_on(async {
        let client = c.control.client().await;
        burst(&client, n, &node.name).await
    });
    // With the pods running and settled.
    std::thread::sleep(Duration::from_secs(3));
    let shims = shims(node);
    let (server_ready, server_started) = server_side(&c);
    let ctd = node.containerd.pid().unwrap();
    let result = json!({
        "round": r,
        "creates_acked_s": created,
        "running_s": summary(running),
        "ready_s": summary(ready),
        "server_ready_s": summary(server_ready),
        "server_started_s": summary(server_started),
        "kubelet_idle": idle,
        "kubelet": memory(kubelet),
        "agent": memory(agent),
        "containerd": memory(ctd),
        "shims": shims.len(),
        "shim": shims.first().map(|&p| memory(p as u32)),
    });
    // The logs, for where the time went.
    let keep = std::env::temp_dir().join(format!("skiff-bench-node/round-{r}"));
    std::fs::create_dir_all(&keep).unwrap();
    let _ = std::fs::copy(&node.kubelet().unwrap().log, keep.join("kubelet.log"));
    let _ = std::fs::copy(node.containerd.layout.log(), keep.join("containerd.log"));
    eprintln!("round {r}: logs in {}", keep.display());
    result
}

fn main() {
    let [n, rounds, starts] = skiff_e2e::flags::counts(
        "skiff-bench-node",
        [
            ("--pods", 30),
            ("--rounds", 3),
            ("--parallel-pod-starts", 0),
        ],
    );
    let mut results = Vec::new();
    for r in 1..=rounds {
        let v = round(r, n, starts);
        let s = |k: &str, q: &str| v[k][q].as_f64().unwrap();
        let mb = |k: &str| v[k]["rss_mb"].as_f64().unwrap_or(f64::NAN);
        println!(
            "round {r}/{rounds}: {n} pods, creates acked in {:.2} s; Running p50 {:.2} p99 {:.2} max {:.2} s; \
             Ready p50 {:.2} p99 {:.2} max {:.2} s (server side, whole seconds: p50 {:.0} max {:.0})",
            v["creates_acked_s"].as_f64().unwrap(),
            s("running_s", "p50"),
            s("running_s", "p99"),
            s("running_s", "max"),
            s("ready_s", "p50"),
            s("ready_s", "p99"),
            s("ready_s", "max"),
            s("server_ready_s", "p50"),
            s("server_ready_s", "max"),
        );
        println!(
            "  RSS MB: kubelet {:.1} (HWM {:.1}, idle {:.1}), agent {:.1} (HWM {:.1}), containerd {:.1}, one of {} shims {:.1}",
            mb("kubelet"),
            s("kubelet", "hwm_mb"),
            s("kubelet_idle", "rss_mb"),
            mb("agent"),
            s("agent", "hwm_mb"),
            mb("containerd"),
            v["shims"],
            v["shim"]["rss_mb"].as_f64().unwrap_or(f64::NAN),
        );
        results.push(v);
    }
    println!("{}", json!({ "node": results }));
}
