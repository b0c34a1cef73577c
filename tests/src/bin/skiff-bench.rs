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
    let (mut seconds, mut rounds, mut many) = (3u64, 3usize, 10_000usize);
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
    let (mut at10, mut direct_rates, mut at_many) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        eprintln!(
            "round {}/{rounds}: 10 services, direct ({seconds} s each)",
            r + 1
        );
        at10.push(rate(&lab, &vip, seconds));
        direct_rates.push(rate(&lab, &direct, seconds));
    }

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

    for r in 0..rounds {
        eprintln!("round {}/{rounds}: {many} services, direct", r + 1);
        at_many.push(rate(&lab, &vip, seconds));
        direct_rates.push(rate(&lab, &direct, seconds));
    }
    let (r10, rmany, rdirect) = (median(at10), median(at_many), median(direct_rates));
    println!(
        "short TCP connections per second (median of {rounds} runs of {seconds} s; client, server and kernel share 2 cores)"
    );
    println!("  ClusterIP, 10 services programmed      {r10:>9.0}");
    println!(
        "  ClusterIP, {many} services programmed  {rmany:>9.0}   ratio to 10: {:.3}  (target >= 0.95)",
        rmany / r10
    );
    println!(
        "  direct to the pod IP                   {rdirect:>9.0}   ClusterIP/direct: {:.3}  (target >= 0.95)",
        r10 / rdirect
    );
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
            "ratio_many_to_10": rmany / r10, "ratio_clusterip_to_direct": r10 / rdirect,
            "program_sync_s": sync_s, "program_wall_s": wall.as_secs_f64(), "agent_rss_mb": rss,
        })
    );
}
