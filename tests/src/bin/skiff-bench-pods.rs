//! `cargo xtask bench pods`: pod-to-pod networking in each routing mode.
//! Two nodes joined by a veth wire; per mode, the short-connection rate
//! between two pods of one node and between pods of the two nodes, and the
//! TCP throughput across nodes (iperf3). `kernel` is the baseline: the
//! kernel forwards along routes, the programs pass. Prints a table and a
//! JSON line.

use serde_json::json;
use skiff_e2e::podnet::{Cluster, NetNode, POD_PORT, Pod};
use skiff_e2e::probe;

fn usage() -> ! {
    eprintln!("usage: skiff-bench-pods [--seconds N] [--rounds N]");
    std::process::exit(2);
}

/// Short connections per second from `from` to `to`'s server.
fn rate(node: &NetNode, from: &Pod, to: &Pod, seconds: u64) -> f64 {
    let addr = format!("{}:{POD_PORT}", to.ip);
    let out = probe::command(
        &from.ns,
        &node.cgroup,
        &["rate", &addr, &seconds.to_string()],
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

/// iperf3 from `from` to `to`: received Gbit/s.
fn throughput(from: &Pod, to: &Pod, seconds: u64) -> f64 {
    let ip = to.ip.to_string();
    let mut server = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &to.ns.name,
            "iperf3",
            "-s",
            "-1",
            "-B",
            &ip,
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("iperf3 (Debian package iperf3) is needed");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &from.ns.name, "iperf3", "-J", "-c", &ip])
        .args(["-t", &seconds.to_string()])
        .output()
        .unwrap();
    let _ = server.wait();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("iperf3: {}", String::from_utf8_lossy(&out.stderr)));
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("iperf3 result without a rate: {v}"))
        / 1e9
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let (mut seconds, mut rounds) = (2u64, 5usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--seconds" => seconds = val(),
            "--rounds" => rounds = val() as usize,
            _ => usage(),
        }
    }
    let mut rows = Vec::new();
    for routing in ["kernel", "direct", "vxlan"] {
        let mut c = Cluster::new(2, routing);
        for n in &mut c.nodes {
            // As a node runs: the programs' debug events off.
            n.agent_cfg.log_filter = "info".into();
            n.sysctl("net/ipv4/ip_forward", "1");
        }
        c.start_agents();
        let (n1, n2) = (&c.nodes[0], &c.nodes[1]);
        let (a, a2, b) = (n1.add_pod("a"), n1.add_pod("a2"), n2.add_pod("b"));
        assert_eq!(a.greet(b.ip).as_deref(), Ok("b"), "{routing}: pods talk");
        let mut same = Vec::new();
        let mut across = Vec::new();
        for r in 0..rounds {
            same.push(rate(n1, &a, &a2, seconds));
            across.push(rate(n1, &a, &b, seconds));
            eprintln!(
                "  {routing} round {}/{rounds}: same node {:.0}/s, across nodes {:.0}/s",
                r + 1,
                same[r],
                across[r]
            );
        }
        let gbps = median((0..3).map(|_| throughput(&a, &b, seconds)).collect());
        eprintln!("  {routing}: across nodes {gbps:.2} Gbit/s");
        rows.push(json!({
            "routing": routing,
            "same_node_conn_per_s": median(same),
            "across_nodes_conn_per_s": median(across),
            "across_nodes_gbit_per_s": gbps,
            "counters_node1": n1.counters(),
        }));
    }
    println!(
        "{:<8} {:>22} {:>25} {:>25}",
        "ROUTING", "SAME NODE (conn/s)", "ACROSS NODES (conn/s)", "ACROSS NODES (Gbit/s)"
    );
    for r in &rows {
        println!(
            "{:<8} {:>22.0} {:>25.0} {:>25.2}",
            r["routing"].as_str().unwrap(),
            r["same_node_conn_per_s"].as_f64().unwrap(),
            r["across_nodes_conn_per_s"].as_f64().unwrap(),
            r["across_nodes_gbit_per_s"].as_f64().unwrap()
        );
    }
    println!("{}", json!({ "pods": rows }));
}
