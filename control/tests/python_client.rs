//! The official Python client (`kubernetes` from PyPI) against the real
//! server: its typed models must decode what the server answers, and its
//! watch helper must see every change.

mod support;

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use support::{Server, python};

/// Lists, reads, creates and watches, then prints what it saw as JSON.
const SCRIPT: &str = r#"
import json, sys, threading
from kubernetes import client, config, watch

config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
out = {}

out["namespaces"] = sorted(ns.metadata.name for ns in v1.list_namespace().items)

svc = v1.read_namespaced_service("kubernetes", "default")
out["service"] = {
    "clusterIP": svc.spec.cluster_ip,
    "ports": [[p.name, p.port, p.protocol] for p in svc.spec.ports],
    "created_year": svc.metadata.creation_timestamp.year,
}

settings = client.V1ConfigMap(
    metadata=client.V1ObjectMeta(name="py-settings", labels={"owner": "python"}),
    data={"mode": "fast"},
)
created = v1.create_namespaced_config_map("default", settings)
out["created"] = {"uid": created.metadata.uid, "rv": created.metadata.resource_version}
v1.create_namespaced_config_map(
    "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-other"))
)
selected = v1.list_namespaced_config_map("default", label_selector="owner=python")
out["selected"] = [c.metadata.name for c in selected.items]

# The watch lists first (ADDED for what exists); once it has, change things.
events = []
listed = threading.Event()
w = watch.Watch()

def follow():
    try:
        stream = w.stream(v1.list_namespaced_config_map, "default", timeout_seconds=20)
        for e in stream:
            o = e["object"]
            if o.metadata.name == "kube-root-ca.crt":  # the namespace's own
                continue
            events.append([e["type"], o.metadata.name, (o.data or {}).get("mode")])
            if len(events) == 2:
                listed.set()
            if e["type"] == "DELETED":
                w.stop()
    finally:
        listed.set()

follower = threading.Thread(target=follow)
follower.start()
listed.wait(20)
v1.patch_namespaced_config_map("py-settings", "default", {"data": {"mode": "safe"}})
v1.create_namespaced_config_map(
    "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-late"))
)
v1.delete_namespaced_config_map("py-settings", "default")
follower.join(30)
out["events"] = events
print(json.dumps(out))
"#;

/// Runs the script against `server`; its JSON summary.
fn run_script(server: &Server) -> Value {
    let script = server.dir.path().join("client.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let child = Command::new(python())
        .arg(&script)
        .arg(server.kubeconfig())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    let Ok(out) = rx.recv_timeout(Duration::from_secs(60)) else {
        // SAFETY: our own child, which has not been reaped (no output yet).
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        panic!(
            "the Python client did not finish in 60 s:\n{}",
            server.log()
        );
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the Python client failed:\n{stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test]
async fn the_python_client_lists_reads_creates_and_watches() {
    let server = Server::start();
    let out = run_script(&server);

    assert_eq!(
        out["namespaces"],
        json!(["default", "kube-node-lease", "kube-public", "kube-system"]),
        "{out}"
    );
    assert_eq!(out["service"]["clusterIP"], "10.96.0.1", "{out}");
    assert_eq!(
        out["service"]["ports"],
        json!([["https", 443, "TCP"]]),
        "{out}"
    );
    assert!(
        out["service"]["created_year"].as_i64() > Some(2000),
        "{out}"
    );
    let created = &out["created"];
    assert!(
        created["uid"].as_str().is_some_and(|u| u.len() == 36)
            && created["rv"]
                .as_str()
                .is_some_and(|rv| rv.parse::<u64>().is_ok()),
        "{out}"
    );
    assert_eq!(out["selected"], json!(["py-settings"]), "{out}");
    assert_eq!(
        out["events"],
        json!([
            ["ADDED", "py-other", null],
            ["ADDED", "py-settings", "fast"],
            ["MODIFIED", "py-settings", "safe"],
            ["ADDED", "py-late", null],
            ["DELETED", "py-settings", "safe"],
        ]),
        "{out}"
    );

    // What the script left, as another client sees it.
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let mut names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    names.sort();
    assert_eq!(names, ["kube-root-ca.crt", "py-late", "py-other"]);
}
