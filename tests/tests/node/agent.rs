//! The agent's life: restarts under traffic, health and metrics.

use std::time::Duration;

use skiff_e2e::agent::http_get;
use skiff_e2e::lab::Lab;
use skiff_e2e::probe::{self, Outcome};

#[test]
fn killing_and_restarting_the_agent_under_traffic_drops_nothing() {
    let mut lab = Lab::new(3);
    lab.start_agent();
    lab.apply(&lab.web("web", "10.96.0.80", None));

    let mut held = lab.hold("10.96.0.80:80");
    assert!(held.first.ok);
    // 150 connections, one every 20 ms, across the kill and the restart.
    let traffic = probe::command(
        &lab.client,
        &lab.cgroup,
        &["tcp", "10.96.0.80:80", "150", "20"],
    )
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let cfg = lab.kill_agent();
    // While no agent runs, the pinned programs and maps keep balancing.
    std::thread::sleep(Duration::from_millis(500));
    let during = lab.tcp("10.96.0.80:80", 10);
    assert!(
        during.iter().all(|o| o.ok),
        "balancing continues with no agent: {during:?}"
    );
    let log = cfg.log.clone();
    lab.start_agent_with(cfg);

    let out = traffic.wait_with_output().unwrap();
    let outcomes: Vec<Outcome> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(outcomes.len(), 150);
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.ok).collect();
    assert!(
        failed.is_empty(),
        "{} of 150 connections failed across the restart: {:?}",
        failed.len(),
        failed.first()
    );

    let echo = held.echo("after restart");
    assert!(
        echo.ok && echo.echo == "after restart",
        "the established connection survived: {echo:?}"
    );
    let text = std::fs::read_to_string(log).unwrap();
    assert!(
        text.contains("maps adopted") && text.contains("frontends=1"),
        "the new agent adopted the pinned service:\n{text}"
    );
    let after = lab.tcp("10.96.0.80:80", 30);
    assert!(after.iter().all(|o| o.ok), "{after:?}");
}

#[test]
fn healthz_and_metrics_report_the_programmed_state() {
    let mut lab = Lab::new(3);
    lab.start_agent();
    lab.apply(&lab.web("web", "10.96.0.90", None));

    let agent = lab.agent();
    let (status, body) = http_get(agent.cfg.healthz_port, "/healthz").unwrap();
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(health["lastUpdated"].as_u64().unwrap() > 0, "{body}");

    let m = agent.metrics();
    assert!(
        m.contains("skiff_proxy_map_entries{map=\"services\"} 4"),
        "1 frontend + 3 slots:\n{m}"
    );
    assert!(
        m.contains("skiff_proxy_map_entries{map=\"backends\"} 3"),
        "{m}"
    );
    assert!(m.contains("skiff_proxy_frontends 1"), "{m}");
    assert!(
        agent.metric("skiff_proxy_sync_duration_seconds_count") >= 1.0,
        "{m}"
    );
    assert_eq!(agent.metric("skiff_proxy_sync_errors_total"), 0.0, "{m}");

    // The programs' debug events reach the agent's log.
    lab.tcp("10.96.0.90:80", 3);
    std::thread::sleep(Duration::from_millis(300));
    let log = std::fs::read_to_string(&agent.cfg.log).unwrap();
    assert!(
        log.contains("proxy_ebpf") && log.contains("port 80: backend"),
        "eBPF events in the agent's output:\n{log}"
    );
}

#[test]
fn cleanup_detaches_the_programs_and_removes_the_maps() {
    let mut lab = Lab::new(1);
    lab.start_agent();
    lab.apply(&lab.web("web", "10.96.0.95", None));
    assert!(lab.tcp("10.96.0.95:80", 3).iter().all(|o| o.ok));
    let cfg = lab.kill_agent();

    let out = std::process::Command::new(skiff_e2e::bin("skiff-proxy"))
        .args(["--cleanup", "--node-name", &cfg.node])
        .arg("--pin-dir")
        .arg(&cfg.pin_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!cfg.pin_dir.exists(), "the pin directory is gone");
    // Nothing balances any more: the service address is not routable from
    // the client's namespace.
    let after = lab.tcp("10.96.0.95:80", 1);
    assert_eq!(after[0].errno, Some(libc::ENETUNREACH), "{after:?}");
}

#[test]
fn a_sync_that_does_not_fit_fails_cleanly_and_the_next_one_programs() {
    let mut lab = Lab::new(1);
    let mut cfg = lab.agent_config();
    // Room for 3 service ports.
    cfg.extra_args = vec!["--max-service-ports".into(), "4".into()];
    lab.start_agent_with(cfg);
    let mut too_many = Vec::new();
    for i in 1..=4 {
        too_many.extend(lab.web(&format!("s{i}"), &format!("10.96.3.{i}"), None));
    }
    assert!(!lab.try_apply(&too_many), "4 service ports do not fit in 3");
    let agent = lab.agent();
    assert!(
        agent.log_tail().contains("no free service id"),
        "{}",
        agent.log_tail()
    );

    let fits: Vec<_> = too_many[2..].to_vec();
    lab.apply(&fits);
    let services: serde_json::Value =
        serde_json::from_slice(&lab.dbg(&["services", "-o", "json"]).stdout).unwrap();
    let mut ips: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["frontend"]["ip"].as_str().unwrap())
        .collect();
    ips.sort();
    assert_eq!(ips, ["10.96.3.2", "10.96.3.3", "10.96.3.4"]);
    assert!(
        lab.tcp("10.96.3.4:80", 3)
            .iter()
            .all(|o| o.ok && o.backend == "pod-1")
    );
}
