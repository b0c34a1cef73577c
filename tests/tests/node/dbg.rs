//! The debug CLI reads what was programmed from the pinned maps.

use skiff_e2e::lab::{Lab, POD_PORT};
use skiff_e2e::manifests::{port, service};

fn stdout(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "skiff-dbg failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn shows_services_backends_affinity_and_stats() {
    let mut lab = Lab::new(2);
    lab.start_agent();
    let ports = [port("http", 80, POD_PORT, "TCP")];
    let mut objects = lab.web("web", "10.96.1.10", Some(600));
    objects.push(service("empty", &["10.96.1.11"], &ports, None));
    lab.apply(&objects);
    assert!(lab.tcp("10.96.1.10:80", 10).iter().all(|o| o.ok));

    let services: serde_json::Value =
        serde_json::from_str(&stdout(&lab.dbg(&["services", "-o", "json"]))).unwrap();
    let services = services.as_array().unwrap();
    assert_eq!(services.len(), 2, "{services:?}");
    let web = services
        .iter()
        .find(|s| s["frontend"]["ip"] == "10.96.1.10")
        .expect("web listed");
    assert_eq!(web["frontend"]["port"], 80);
    assert_eq!(web["frontend"]["protocol"], "Tcp");
    assert_eq!(web["affinity_timeout"], 600);
    assert_eq!(web["flags"], serde_json::json!(["affinity"]));
    let mut ips: Vec<&str> = web["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["ip"].as_str().unwrap())
        .collect();
    ips.sort();
    assert_eq!(
        ips,
        vec![lab.pods[0].ip4.as_str(), lab.pods[1].ip4.as_str()]
    );
    assert!(
        web["backends"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["port"] == POD_PORT)
    );

    let table = stdout(&lab.dbg(&["services"]));
    assert!(table.starts_with("FRONTEND"), "{table}");
    assert!(
        table.contains("10.96.1.10:80/TCP")
            && table.contains("600s")
            && table.contains(&format!("{}:{POD_PORT}", lab.pods[0].ip4)),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains("10.96.1.11:80/TCP") && l.contains("(none: refused)")),
        "{table}"
    );

    let backends: serde_json::Value =
        serde_json::from_str(&stdout(&lab.dbg(&["backends", "-o", "json"]))).unwrap();
    assert_eq!(backends.as_array().unwrap().len(), 2);

    let affinity: serde_json::Value =
        serde_json::from_str(&stdout(&lab.dbg(&["affinity", "-o", "json"]))).unwrap();
    let affinity = affinity.as_array().unwrap();
    assert_eq!(affinity.len(), 1, "one client, one service: {affinity:?}");
    assert_eq!(affinity[0]["service_id"], web["id"]);

    let stats: serde_json::Value =
        serde_json::from_str(&stdout(&lab.dbg(&["stats", "-o", "json"]))).unwrap();
    let web_stats = stats
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["frontend"] == "10.96.1.10:80/TCP")
        .unwrap();
    assert_eq!(web_stats["balanced"], 10, "{stats}");
    assert_eq!(web_stats["affinity_hits"], 9, "{stats}");
    assert!(stdout(&lab.dbg(&["stats"])).contains("BALANCED"));
}

#[test]
fn says_which_directory_has_no_maps() {
    let out = std::process::Command::new(skiff_e2e::bin("skiff-dbg"))
        .args(["--pin-dir", "/sys/fs/bpf/skiff/no-such-node", "services"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no pinned maps in /sys/fs/bpf/skiff/no-such-node"),
        "{err}"
    );

    let bad = std::process::Command::new(skiff_e2e::bin("skiff-dbg"))
        .arg("bogus")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("Usage"),
        "a bad subcommand prints usage"
    );
}
