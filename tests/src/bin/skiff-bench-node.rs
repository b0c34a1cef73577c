//! `cargo xtask bench node`: one node's kubelet under a burst of pods. Per
//! round, a fresh one-node cluster; 30 pods of the demo image pinned to the
//! node are created at once (or one every `--interval-ms`), and a watch times
//! each from its create to the event showing it Running and the one showing
//! it Ready. Meanwhile, the CPU time the machine spent until the last pod
//! ran, and how much of it went to the kubelet, the control plane, the agent
//! and containerd itself (the rest: shims, runc, CNI plugins, the containers).
//! Then the resident memory of the kubelet, the agent, containerd and one
//! shim with the pods running. Prints each round and a JSON line.

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

/// CPU seconds: the machine's busy and stolen time (all CPUs, from /proc/stat) and
/// each watched process's own (user + system, from /proc/<pid>/stat).
#[derive(Clone)]
struct Cpu {
    busy: f64,
    steal: f64,
    procs: Vec<f64>,
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

impl Cpu {
    fn sample(pids: &[u32]) -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let ticks: Vec<f64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is
        // already in user): busy is what ran here, steal what the
        // hypervisor gave to others while this machine wanted to run.
        let tick = |i: usize| ticks.get(i).copied().unwrap_or(0.0);
        let busy = [0, 1, 2, 5, 6].into_iter().map(tick).sum::<f64>();
        let steal = tick(7);
        let own = |pid: &u32| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // After the command name, which may hold spaces: from the state
            // on, utime and stime are the 12th and 13th fields.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let f: Vec<&str> = rest.split_whitespace().collect();
            let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
            (field(11).unwrap_or(f64::NAN) + field(12).unwrap_or(f64::NAN)) / clock_ticks()
        };
        Self {
            busy: busy / clock_ticks(),
            steal: steal / clock_ticks(),
            procs: pids.iter().map(own).collect(),
        }
    }

    fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            busy: self.busy - before.busy,
            steal: self.steal - before.steal,
            procs: (self.procs.iter().zip(&before.procs))
                .map(|(a, b)| a - b)
                .collect(),
        }
    }
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

struct Burst {
    /// Per pod, seconds from its create to the first event showing it
    /// Running, and showing it Ready.
    running: Vec<f64>,
    ready: Vec<f64>,
    /// Seconds until every create was answered.
    created: f64,
    /// Seconds from the first create until the last pod ran, and the CPU
    /// spent meanwhile.
    all_running: f64,
    cpu: Cpu,
}

/// Creates the pods, one every `interval` (at once with zero), and times
/// them; `pids`: the processes whose CPU time is counted apart.
async fn burst(
    client: &kube::Client,
    n: usize,
    node: &str,
    interval: Duration,
    pids: &[u32],
) -> Burst {
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
    let cpu_before = Cpu::sample(pids);
    eprintln!(
        "creating {n} pods at {}",
        k8s_openapi::jiff::Timestamp::now()
    );
    let creates = async {
        let api = &api;
        let each = (0..n).map(|i| async move {
            tokio::time::sleep(interval * i as u32).await;
            let sent = start.elapsed().as_secs_f64();
            api.create(&PostParams::default(), &pod(i, node))
                .await
                .map(|_| sent)
        });
        let sent: Vec<f64> = futures::future::join_all(each)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        (sent, start.elapsed().as_secs_f64())
    };
    let watch = async {
        let (mut running, mut ready) = (vec![None; n], vec![None; n]);
        let mut all_running = None;
        let deadline = Duration::from_secs(120) + interval * n as u32;
        while ready.iter().any(Option::is_none) {
            let next =
                tokio::time::timeout(deadline.saturating_sub(start.elapsed()), events.try_next());
            let p = match next.await.expect("every pod Ready in time").unwrap() {
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
                if all_running.is_none() && running.iter().all(Option::is_some) {
                    all_running = Some((at, Cpu::sample(pids).since(&cpu_before)));
                }
            }
            if condition(&v, "Ready") {
                ready[i].get_or_insert(at);
            }
        }
        let all = |v: Vec<Option<f64>>| v.into_iter().map(Option::unwrap).collect::<Vec<_>>();
        (all(running), all(ready), all_running.unwrap())
    };
    let ((sent, created), (running, ready, (all_running, cpu))) = tokio::join!(creates, watch);
    let from_create = |v: Vec<f64>| v.iter().zip(&sent).map(|(at, s)| at - s).collect();
    Burst {
        running: from_create(running),
        ready: from_create(ready),
        created,
        all_running,
        cpu,
    }
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
fn round(r: usize, n: usize, starts: usize, interval: Duration) -> Value {
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
    let ctd = node.containerd.pid().unwrap();
    // Apart: the kubelet, the control plane, the agent, containerd.
    let pids = [kubelet, c.control.pid(), agent, ctd];
    let b = rt.block_on(async {
        let client = c.control.client().await;
        burst(&client, n, &node.name, interval, &pids).await
    });
    let per_pod_ms = |s: f64| s * 1000.0 / n as f64;
    let apart: f64 = b.cpu.procs.iter().sum();
    // With the pods running and settled.
    std::thread::sleep(Duration::from_secs(3));
    let shims = shims(node);
    let (server_ready, server_started) = server_side(&c);
    let result = json!({
        "round": r,
        "interval_ms": interval.as_millis() as u64,
        "creates_acked_s": b.created,
        "running_s": summary(b.running),
        "ready_s": summary(b.ready),
        "all_running_s": b.all_running,
        "cpu_ms_per_pod": {
            "machine": per_pod_ms(b.cpu.busy),
            "kubelet": per_pod_ms(b.cpu.procs[0]),
            "control_plane": per_pod_ms(b.cpu.procs[1]),
            "agent": per_pod_ms(b.cpu.procs[2]),
            "containerd": per_pod_ms(b.cpu.procs[3]),
            "rest": per_pod_ms(b.cpu.busy - apart),
        },
        "cpu_stolen_s": b.cpu.steal,
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
    let [n, rounds, starts, interval] = skiff_e2e::flags::counts(
        "skiff-bench-node",
        [
            ("--pods", 30),
            ("--rounds", 3),
            ("--parallel-pod-starts", 0),
            ("--interval-ms", 0),
        ],
    );
    let interval = Duration::from_millis(interval as u64);
    let mut results = Vec::new();
    for r in 1..=rounds {
        let v = round(r, n, starts, interval);
        let s = |k: &str, q: &str| v[k][q].as_f64().unwrap();
        let mb = |k: &str| v[k]["rss_mb"].as_f64().unwrap_or(f64::NAN);
        println!(
            "round {r}/{rounds}: {n} pods, one every {} ms, creates acked in {:.2} s; Running p50 {:.2} p99 {:.2} max {:.2} s; \
             Ready p50 {:.2} p99 {:.2} max {:.2} s (server side, whole seconds: p50 {:.0} max {:.0})",
            v["interval_ms"],
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
        let cpu = |k: &str| v["cpu_ms_per_pod"][k].as_f64().unwrap();
        println!(
            "  all Running after {:.2} s; CPU per pod until then {:.0} ms: kubelet {:.0}, control plane {:.0}, \
             agent {:.0}, containerd {:.0}, the rest (shims, runc, CNI plugins, containers) {:.0}; \
             stolen by the hypervisor {:.2} s",
            v["all_running_s"].as_f64().unwrap(),
            cpu("machine"),
            cpu("kubelet"),
            cpu("control_plane"),
            cpu("agent"),
            cpu("containerd"),
            cpu("rest"),
            v["cpu_stolen_s"].as_f64().unwrap(),
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
