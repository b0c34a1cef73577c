//! `cargo xtask bench api`: the API server under load. Creates per second
//! (10,000 Services, each with a ClusterIP allocated), list latency at that
//! size, watch fan-out to 100 watchers, the server's RSS; then the time from
//! a Service and EndpointSlice written through the API to the entry in the
//! agent's eBPF map. Prints a table and a JSON line.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use proxy_ebpf::{ServiceKey, ServiceValue};
use proxy_user::desired::{Frontend, Protocol};
use proxy_user::maps::{LbMaps, frontend_key};
use serde_json::json;
use skiff_e2e::control::ControlPlane;
use skiff_e2e::lab::{Lab, POD_PORT};
use skiff_e2e::manifests::{READY, port, service, slice};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kb / 1024.0
}

fn plain_service(name: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"bench": "api"}},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }))
    .unwrap()
}

/// Creates `n` Services, `concurrency` at a time; creates per second.
async fn creates(client: &kube::Client, n: usize, concurrency: usize) -> f64 {
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    let start = Instant::now();
    let done = std::sync::atomic::AtomicUsize::new(0);
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let done = &done;
            async move {
                api.create(&PostParams::default(), &plain_service(&format!("svc-{i}")))
                    .await
                    .unwrap_or_else(|e| panic!("creating svc-{i}: {e}"));
                let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if d.is_multiple_of(1000) {
                    eprintln!("  {d}/{n} created");
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    n as f64 / start.elapsed().as_secs_f64()
}

/// Seconds per full list of every Service, as raw JSON (no client decoding).
async fn list_latency(client: &kube::Client, rounds: usize) -> (Vec<f64>, usize) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..rounds {
        let req = http::Request::get("/api/v1/services")
            .body(Vec::new())
            .unwrap();
        let start = Instant::now();
        let text = client.request_text(req).await.unwrap();
        times.push(start.elapsed().as_secs_f64());
        bytes = text.len();
    }
    (sorted(times), bytes)
}

/// `watchers` watches on one ConfigMap, `changes` updates; the time from
/// sending each update to each watcher receiving it.
async fn fan_out(client: &kube::Client, watchers: usize, changes: usize) -> Vec<f64> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "fanout"}, "data": {"n": "0"}}))
            .unwrap();
    let rv = api
        .create(&PostParams::default(), &cm)
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let sent: std::sync::Arc<std::sync::Mutex<Vec<Option<Instant>>>> =
        std::sync::Arc::new(std::sync::Mutex::new(vec![None; changes + 1]));
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let api = api.clone();
        let rv = rv.clone();
        let sent = sent.clone();
        let mut stream = api
            .watch(
                &WatchParams::default()
                    .fields("metadata.name=fanout")
                    .timeout(290),
                &rv,
            )
            .await
            .unwrap()
            .boxed();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while lat.len() < changes {
                match stream.try_next().await.unwrap() {
                    Some(WatchEvent::Modified(cm)) => {
                        let n: usize = cm.data.unwrap()["n"].parse().unwrap();
                        let at = sent.lock().unwrap()[n].expect("sent before seen");
                        lat.push(at.elapsed().as_secs_f64());
                    }
                    Some(_) => {}
                    None => panic!("the watch ended early"),
                }
            }
            lat
        }));
    }
    for n in 1..=changes {
        sent.lock().unwrap()[n] = Some(Instant::now());
        api.patch(
            "fanout",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"n": n.to_string()}})),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    sorted(all)
}

/// Frontend `vip`:80/TCP in the agent's map with `backends` backends.
fn programmed(maps: &LbMaps, vip: IpAddr, backends: u16) -> bool {
    let f = Frontend {
        ip: vip,
        port: 80,
        protocol: Protocol::Tcp,
    };
    let key: ServiceKey = frontend_key(&f, 0);
    let value: Option<ServiceValue> = maps.services.get(&key, 0).ok();
    value.is_some_and(|v| v.count == backends)
}

/// The time from writing a Service and its EndpointSlice to the agent's map
/// holding them, `n` times, each on a quiet system.
async fn programming(client: &kube::Client, lab: &Lab, n: usize) -> Vec<f64> {
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let maps = LbMaps::open_pinned(&lab.pin_dir()).expect("the agent's pinned maps");
    let ports = [port("http", 80, POD_PORT, "TCP")];
    let mut times = Vec::new();
    for i in 0..n {
        let vip = format!("10.100.{}.{}", i / 200, 1 + i % 200);
        let name = format!("lat-{i}");
        let svc: Service = serde_json::from_value(service(&name, &[&vip], &ports, None)).unwrap();
        let eps = slice(
            &format!("{name}-1"),
            &name,
            &[(&lab.pods[0].ip4, READY)],
            &ports,
        );
        let eps: EndpointSlice = serde_json::from_value(eps).unwrap();
        let ip: IpAddr = vip.parse().unwrap();
        let start = Instant::now();
        services.create(&PostParams::default(), &svc).await.unwrap();
        slices.create(&PostParams::default(), &eps).await.unwrap();
        while !programmed(&maps, ip, 1) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{name} not programmed in 10 s"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        times.push(start.elapsed().as_secs_f64());
        // Quiet between changes, so each is measured alone.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    sorted(times)
}

#[tokio::main]
async fn main() {
    let [many, watchers, changes] = skiff_e2e::flags::counts(
        "skiff-bench-api",
        [
            ("--services", 10_000),
            ("--watchers", 100),
            ("--changes", 100),
        ],
    );
    let cp = ControlPlane::start();
    let client = cp.client().await;
    let rss_idle = rss_mb(cp.pid());

    eprintln!("creating {many} Services (64 at a time) ...");
    let per_second = creates(&client, many, 64).await;
    eprintln!("listing ...");
    let (lists, bytes) = list_latency(&client, 10).await;
    let rss_loaded = rss_mb(cp.pid());
    eprintln!("watch fan-out: {watchers} watchers x {changes} changes ...");
    let fan = fan_out(&client, watchers, changes).await;
    let rss_watch = rss_mb(cp.pid());

    eprintln!("programming latency: agent on the API server ...");
    let mut lab = Lab::new(1);
    let mut cfg = lab.agent_config();
    cfg.kubeconfig = Some(cp.kubeconfig());
    cfg.log_filter = "info".into();
    lab.start_agent_with(cfg);
    // The agent first programs every Service created above.
    let deadline = Instant::now() + Duration::from_secs(60);
    while lab
        .agent()
        .metric("skiff_proxy_map_entries{map=\"services\"}")
        < many as f64
    {
        assert!(
            Instant::now() < deadline,
            "the agent did not program {many} Services in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let prog = programming(&client, &lab, 50).await;

    let ms = |s: f64| s * 1000.0;
    println!("API server (skiff-control, embedded store; client, server and agent share 2 cores)");
    println!("  creates, {many} Services with ClusterIPs, 64 in flight   {per_second:>8.0} /s");
    println!(
        "  list of {} Services ({} MB JSON)  p50 {:>7.1} ms  max {:>7.1} ms",
        many + 1,
        bytes / 1_000_000,
        ms(percentile(&lists, 0.5)),
        ms(percentile(&lists, 1.0))
    );
    println!(
        "  watch fan-out, {watchers} watchers x {changes} changes    p50 {:>7.1} ms  p99 {:>7.1} ms",
        ms(percentile(&fan, 0.5)),
        ms(percentile(&fan, 0.99))
    );
    println!(
        "  server RSS: idle {rss_idle:.0} MB, {many} Services {rss_loaded:.0} MB, +{watchers} watchers {rss_watch:.0} MB  (target <= 150 MB)"
    );
    println!(
        "programming latency, API write -> eBPF map ({} changes)  p50 {:>6.1} ms  p99 {:>6.1} ms  (target p99 <= 100 ms)",
        prog.len(),
        ms(percentile(&prog, 0.5)),
        ms(percentile(&prog, 0.99))
    );
    println!(
        "{}",
        json!({
            "services": many, "creates_per_s": per_second,
            "list_p50_ms": ms(percentile(&lists, 0.5)), "list_max_ms": ms(percentile(&lists, 1.0)), "list_bytes": bytes,
            "watchers": watchers, "fanout_p50_ms": ms(percentile(&fan, 0.5)), "fanout_p99_ms": ms(percentile(&fan, 0.99)),
            "rss_idle_mb": rss_idle, "rss_loaded_mb": rss_loaded, "rss_watch_mb": rss_watch,
            "program_p50_ms": ms(percentile(&prog, 0.5)), "program_p99_ms": ms(percentile(&prog, 0.99)),
        })
    );
}
