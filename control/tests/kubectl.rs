//! kubectl 1.32 and 1.20 against the real server, as a user drives them:
//! apply of a multi-document manifest, an edited re-apply, every `get`
//! output, a watch, label, annotate, the three patch types, scale,
//! describe and delete.

mod support;

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use support::{Kubectl, Server, kubectl_current, kubectl_legacy};

const MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web, tier: front}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: demo:1
        ports: [{containerPort: 8080}]
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data: {mode: fast}
"#;

/// The same manifest, edited: a new image, one env var fewer, more
/// replicas, a label dropped and a ConfigMap key changed.
fn edited() -> String {
    MANIFEST
        .replace("image: demo:1", "image: demo:2")
        .replace("        - {name: B, value: \"2\"}\n", "")
        .replace("replicas: 2", "replicas: 3")
        .replace("labels: {app: web, tier: front}", "labels: {app: web}")
        .replace("mode: fast", "mode: safe")
}

fn containers(k: &Kubectl) -> Value {
    k.json(&["get", "deployment", "web", "-n", "shop"])["spec"]["template"]["spec"]["containers"]
        .clone()
}

fn scenario(bin: PathBuf) {
    let server = Server::start();
    let k = server.admin(bin);
    let manifest = k.file("shop.yaml", MANIFEST);

    let out = k.ok(&["apply", "-f", &manifest]);
    for line in [
        "namespace/shop created",
        "deployment.apps/web created",
        "service/web created",
        "configmap/settings created",
    ] {
        assert!(out.contains(line), "{line:?} in:\n{out}");
    }
    // A field another client sets survives the re-apply: a 3-way merge only
    // touches what the manifest owned.
    k.ok(&[
        "annotate",
        "deployment",
        "web",
        "-n",
        "shop",
        "owner=team-a",
    ]);
    let again = k.ok(&["apply", "-f", &k.file("shop2.yaml", &edited())]);
    assert!(again.contains("deployment.apps/web configured"), "{again}");
    assert!(again.contains("service/web unchanged"), "{again}");
    let d = k.json(&["get", "deployment", "web", "-n", "shop"]);
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["metadata"]["annotations"]["owner"], "team-a", "{d}");
    assert!(d["metadata"]["labels"].get("tier").is_none(), "{d}");
    assert_eq!(d["metadata"]["generation"], 2);
    let c = containers(&k);
    assert_eq!(c[0]["image"], "demo:2");
    assert_eq!(
        c[0]["env"],
        serde_json::json!([{"name": "A", "value": "1"}]),
        "{c}"
    );
    assert_eq!(
        k.json(&["get", "configmap", "settings", "-n", "shop"])["data"]["mode"],
        "safe"
    );

    // Tables, wide, YAML and JSON.
    let table = k.ok(&["get", "deployments,services", "-n", "shop"]);
    assert!(
        table.contains("NAME") && table.contains("UP-TO-DATE") && table.contains("CLUSTER-IP"),
        "{table}"
    );
    let svc = k.json(&["get", "service", "web", "-n", "shop"]);
    let ip = svc["spec"]["clusterIP"].as_str().unwrap().to_owned();
    assert!(
        ip.starts_with("10.9") || ip.starts_with("10.10"),
        "an address from 10.96.0.0/12: {ip}"
    );
    assert!(table.contains(&ip) && table.contains("80/TCP"), "{table}");
    let wide = k.ok(&["get", "deployment", "web", "-n", "shop", "-o", "wide"]);
    assert!(
        wide.contains("IMAGES") && wide.contains("demo:2") && wide.contains("app=web"),
        "{wide}"
    );
    let yaml: Value =
        serde_yaml::from_str(&k.ok(&["get", "configmap", "settings", "-n", "shop", "-o", "yaml"]))
            .unwrap();
    assert_eq!(yaml["data"]["mode"], "safe");
    let listed = k.ok(&["get", "namespaces"]);
    for ns in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "shop",
    ] {
        assert!(listed.contains(ns), "{ns} in {listed}");
    }

    // A watch sees what another client does.
    let mut watch = k
        .command(&["get", "configmaps", "-n", "shop", "-w", "-o", "name"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        // The namespace's own CA ConfigMap is listed too; the test's are watched.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line != "configmap/kube-root-ca.crt" {
                let _ = tx.send(line);
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the watch lists first");
    assert_eq!(first, "configmap/settings");
    let other = server.admin(kubectl_current());
    let late = k.file(
        "late.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late, namespace: shop}\n",
    );
    other.ok(&["create", "-f", &late]);
    let seen = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the watch sees the new object");
    assert_eq!(seen, "configmap/late");
    watch.kill().unwrap();
    watch.wait().unwrap();

    // label, annotate, the three patch types, scale.
    k.ok(&["label", "configmap", "settings", "-n", "shop", "team=a"]);
    k.ok(&["annotate", "configmap", "settings", "-n", "shop", "note=hi"]);
    let cm = k.json(&["get", "configmap", "settings", "-n", "shop"]);
    assert_eq!(
        (
            cm["metadata"]["labels"]["team"].as_str(),
            cm["metadata"]["annotations"]["note"].as_str()
        ),
        (Some("a"), Some("hi"))
    );
    assert_eq!(
        k.ok(&[
            "get",
            "configmaps",
            "-n",
            "shop",
            "-l",
            "team=a",
            "-o",
            "name"
        ])
        .trim(),
        "configmap/settings"
    );
    k.ok(&["label", "configmap", "settings", "-n", "shop", "team-"]);
    assert!(
        k.json(&["get", "configmap", "settings", "-n", "shop"])["metadata"]["labels"]
            .get("team")
            .is_none()
    );

    k.ok(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"extra":"1","mode":null}}"#,
    ]);
    let data = &k.json(&["get", "configmap", "settings", "-n", "shop"])["data"];
    assert_eq!(data, &serde_json::json!({"extra": "1"}));
    k.ok(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "shop",
        "--type",
        "json",
        "-p",
        r#"[{"op":"add","path":"/data/more","value":"2"}]"#,
    ]);
    assert_eq!(
        k.json(&["get", "configmap", "settings", "-n", "shop"])["data"]["more"],
        "2"
    );
    let failed = k.fails(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "shop",
        "--type",
        "json",
        "-p",
        r#"[{"op":"test","path":"/data/more","value":"9"}]"#,
    ]);
    assert!(
        failed.contains("more") || failed.contains("test"),
        "{failed}"
    );
    // Strategic: the container list merges by name, so only the image changes.
    k.ok(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "shop",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"demo:3"}]}}}}"#,
    ]);
    let c = containers(&k);
    assert_eq!(
        (
            c[0]["image"].as_str(),
            c[0]["ports"][0]["containerPort"].as_i64()
        ),
        (Some("demo:3"), Some(8080)),
        "{c}"
    );

    k.ok(&["scale", "deployment", "web", "-n", "shop", "--replicas=5"]);
    assert_eq!(
        k.json(&["get", "deployment", "web", "-n", "shop"])["spec"]["replicas"],
        5
    );

    let described = k.ok(&["describe", "deployment", "web", "-n", "shop"]);
    assert!(
        described.contains("Name:") && described.contains("web") && described.contains("demo:3"),
        "{described}"
    );
    let described = k.ok(&["describe", "service", "web", "-n", "shop"]);
    assert!(described.contains(&ip), "{described}");

    // Invalid input is refused and names the field.
    let err = k.fails(&["apply", "-f", &k.file("bad.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: shop}\nspec:\n  ports: [{port: 80, name: a}, {port: 80, name: b}]\n")]);
    assert!(err.contains("spec.ports[1]: Duplicate value"), "{err}");

    let out = k.ok(&["delete", "configmap", "late", "-n", "shop"]);
    assert!(out.contains("configmap \"late\" deleted"), "{out}");
    // Deleting the namespace deletes what is in it; kubectl waits for both.
    let out = k.ok(&["delete", "namespace", "shop", "--timeout=30s"]);
    assert!(out.contains("namespace \"shop\" deleted"), "{out}");
    let err = k.fails(&["get", "namespace", "shop"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    let err = k.fails(&["get", "service", "web", "-n", "shop"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
}

#[test]
fn kubectl_1_32_drives_the_api() {
    scenario(kubectl_current());
}

#[test]
fn kubectl_1_20_drives_the_api() {
    scenario(kubectl_legacy());
}
