//! `cargo xtask bench`: short-connection rate through a ClusterIP with 10 and
//! with 10,000 services programmed, and direct to the backend's pod IP, in one
//! run; then the time to program 10,000 services of 10 endpoints each and the
//! agent's RSS after it. Prints a table and a JSON line.

use std::time::Duration;

use serde_json::json;
use skiff_e2e::lab::{Lab, POD_PORT};
use skiff_e2e::manifests::{READY, port, service, slice};
use skiff_e2e::probe;

const VIP: &str = "10.96.0.10";

fn usage() -> ! {
    eprintln!("usage: skiff-bench [--seconds N] [--rounds N] [--services N]");
    std::process::exit(2);
}

/// Services 1..n with 10 endpoints each, never connected to; service 0 is
/// the one measured, backed by the real pod.
fn objects(lab: &Lab, n: usize) -> String {
    let ports = [port("http", 80, POD_PORT, "TCP")];
    let mut items = vec![
        service("bench-0", &[VIP], &ports, None),
        slice("bench-0", "bench-0", &[(&lab.pods[0].ip4, READY)], &ports),
    ];
    for i in 1..n {
        let vip = format!("10.100.{}.{}", i / 256, i % 256);
        let eps: Vec<String> = (0..10)
            .map(|j| format!("10.{}.{}.{}", 200 + j, i / 256, i % 256))
            .collect();
        let eps: Vec<(&str, _)> = eps.iter().map(|e| (e.as_str(), READY)).collect();
        let name = format!("bench-{i}");
        items.push(service(&name, &[&vip], &ports, None));
        items.push(slice(&name, &name, &eps, &ports));
    }
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

fn rate(lab: &Lab, addr: &str, seconds: u64) -> f64 {
    let out = probe::command(
        &lab.client,
        &lab.cgroup,
        &["rate", addr, &seconds.to_string()],
    )
    .output()
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("netprobe rate: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(
        v["failed"], 0,
        "connections failed during the measurement: {v}"
    );
    v["per_second"].as_f64().unwrap()
}

/// Total run time and run count of the newest `connect4` program: the
/// kernel's own measure of the balancing path, free of the machine's noise.
fn connect4_runs() -> (u64, u64) {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| p.name_as_str() == Some("connect4"))
        .max_by_key(|p| p.id())
        .map(|p| (p.run_time().as_nanos() as u64, p.run_count()))
        .expect("connect4 is loaded")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
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

fn main() {
    let (mut seconds, mut rounds, mut many) = (2u64, 7usize, 10_000usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--seconds" => seconds = val() as u64,
            "--rounds" => rounds = val(),
            "--services" => many = val(),
            _ => usage(),
        }
    }
    let mut lab = Lab::new(1);
    // As a node runs: the programs' debug events off (filtered in the kernel).
    let mut cfg = lab.agent_config();
    cfg.log_filter = "info".into();
    lab.start_agent_with(cfg);
    let vip = format!("{VIP}:80");
    let direct = format!("{}:{POD_PORT}", lab.pods[0].ip4);

    eprintln!("programming 10 services ...");
    lab.apply_file("objects.json", &objects(&lab, 10));
    // Each ClusterIP run is paired with a direct run right after it; ratios
    // are taken per pair, so drifts of the machine cancel out.
    let measure = |label: &str| -> (Vec<(f64, f64)>, f64) {
        let before = connect4_runs();
        let pairs = (0..rounds)
            .map(|r| {
                let pair = (rate(&lab, &vip, seconds), rate(&lab, &direct, seconds));
                eprintln!(
                    "  {label} round {}/{rounds}: ClusterIP {:.0}/s, direct {:.0}/s, ratio {:.3}",
                    r + 1,
                    pair.0,
                    pair.1,
                    pair.0 / pair.1
                );
                pair
            })
            .collect();
        let after = connect4_runs();
        // Every connect in the cgroup runs it: ClusterIP hits and direct misses.
        let ns_per_run = (after.0 - before.0) as f64 / (after.1 - before.1).max(1) as f64;
        (pairs, ns_per_run)
    };
    let _stats =
        aya::sys::enable_stats(aya::sys::Stats::RunTime).expect("enabling BPF run-time statistics");
    let (few, ns10) = measure("10 services");

    eprintln!("programming {many} services with 10 endpoints each ...");
    let sum_before = lab.agent().metric("skiff_proxy_sync_duration_seconds_sum");
    let text = objects(&lab, many);
    let wall = lab.apply_file("objects.json", &text);
    let sync_s = lab.agent().metric("skiff_proxy_sync_duration_seconds_sum") - sum_before;
    let entries = lab
        .agent()
        .metric("skiff_proxy_map_entries{map=\"services\"}");
    assert_eq!(
        entries as usize,
        1 + 1 + (many - 1) * 11,
        "all services programmed"
    );
    std::thread::sleep(Duration::from_millis(500));
    let rss = rss_mb(lab.agent().pid());
    let (lots, ns_many) = measure(&format!("{many} services"));

    let med = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| median(v.iter().map(f).collect());
    let (r10, rmany) = (med(&few, |p| p.0), med(&lots, |p| p.0));
    let rdirect = median(few.iter().chain(&lots).map(|p| p.1).collect());
    // Normalised by the direct run of the same pair.
    let ratio_many = med(&lots, |p| p.0 / p.1) / med(&few, |p| p.0 / p.1);
    let ratio_direct = med(&few, |p| p.0 / p.1);
    println!(
        "short TCP connections per second (median of {rounds} paired runs of {seconds} s; client, server and kernel share 2 cores)"
    );
    println!(
        "  ClusterIP, 10 services programmed      {r10:>9.0}   ClusterIP/direct: {ratio_direct:.3}  (target >= 0.95)"
    );
    println!(
        "  ClusterIP, {many} services programmed  {rmany:>9.0}   ratio to 10: {ratio_many:.3}  (target >= 0.95)"
    );
    println!("  direct to the pod IP                   {rdirect:>9.0}");
    println!("connect4 in the kernel, mean per call (BPF run-time statistics, hits and misses)");
    println!("  10 services programmed                  {ns10:>8.0} ns");
    println!("  {many} services programmed               {ns_many:>8.0} ns");
    println!(
        "programming {many} services x 10 endpoints ({} MB of JSON manifests)",
        text.len() / 1_000_000
    );
    println!("  compute + map writes (agent's own sync) {sync_s:>8.3} s   (target <= 2 s)");
    println!(
        "  file written -> maps programmed         {:>8.3} s   (includes parsing the JSON)",
        wall.as_secs_f64()
    );
    println!("  agent RSS after                         {rss:>8.1} MB  (target <= 64 MB)");
    println!(
        "{}",
        json!({
            "rate_10": r10, "rate_many": rmany, "rate_direct": rdirect, "services": many,
            "ratio_many_to_10": ratio_many, "ratio_clusterip_to_direct": ratio_direct,
            "connect4_ns_10": ns10, "connect4_ns_many": ns_many, "program_sync_s": sync_s, "program_wall_s": wall.as_secs_f64(), "agent_rss_mb": rss,
        })
    );
}
