//! The kubelet on one node, through kubectl and the API: its Node and Lease,
//! a pod's spec honoured (init containers in order, env from values,
//! ConfigMaps, Secrets and the downward API, volumes, cgroup limits), the
//! read-only port, restart back-off, terminal phases, a missing image, the
//! grace period on deletion, host-network and privileged pods, and pods
//! kept across a kubelet restart.

use std::time::{Duration, Instant};

use serde_json::Value;
use skiff_e2e::cluster::{Cluster, KUBELET_READ_ONLY_PORT, Options};
use skiff_e2e::images::DEMO;

use super::*;

const SPEC_POD: &str = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: default}
data: {greeting: hello, mode: fast}
---
apiVersion: v1
kind: Secret
metadata: {name: sec, namespace: default}
stringData: {token: s3cret}
data: {bin: /wA=}
---
apiVersion: v1
kind: Pod
metadata: {name: spec-pod, namespace: default, labels: {tier: web}}
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
  - name: first
    image: DEMO
    command: ["sh", "-c", "echo one > /work/order"]
    volumeMounts: [{name: work, mountPath: /work}]
  - name: second
    image: DEMO
    command: ["sh", "-c", "echo two >> /work/order; echo init-second-done"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: main
    image: DEMO
    command: ["sh", "-c", "echo hi > /host/from-pod; exec netprobe serve 8080"]
    lifecycle:
      postStart: {exec: {command: ["sh", "-c", "echo started > /work/post-start"]}}
      preStop: {exec: {command: ["sh", "-c", "echo stopping > /host/pre-stop"]}}
    resources:
      requests: {cpu: 100m, memory: 32Mi}
      limits: {cpu: 500m, memory: 64Mi}
    env:
    - {name: PLAIN, value: x}
    - {name: EXPANDED, value: "$(PLAIN)-y-$(MISSING)"}
    - {name: FROM_CM, valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}}
    - {name: FROM_SECRET, valueFrom: {secretKeyRef: {name: sec, key: token}}}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: CPU_MILLIS, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}
    envFrom: [{configMapRef: {name: cfg}, prefix: CM_}]
    volumeMounts:
    - {name: work, mountPath: /work}
    - {name: cfg, mountPath: /etc/cfg}
    - {name: sec, mountPath: /etc/sec}
    - {name: api, mountPath: /var/run/api}
    - {name: host, mountPath: /host}
    - {name: cache, mountPath: /cache}
  volumes:
  - {name: work, emptyDir: {}}
  - {name: cache, emptyDir: {medium: Memory, sizeLimit: 8Mi}}
  - {name: cfg, configMap: {name: cfg}}
  - {name: sec, secret: {secretName: sec}}
  - name: api
    projected:
      sources:
      - serviceAccountToken: {path: token, expirationSeconds: 3600}
      - downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
  - {name: host, hostPath: {path: HOSTDIR, type: DirectoryOrCreate}}
"#;

fn pod(c: &Cluster, name: &str) -> Value {
    c.get_json(&["pod", name])
        .unwrap_or_else(|| c.fail(&format!("no pod {name}")))
}

fn waiting_reason(p: &Value) -> Option<String> {
    p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn a_pod_runs_as_its_spec_says() {
    let _one = serial();
    let c = Cluster::start(1, Options::default());
    let node = c.node(0);

    // The Node as registered and kept by the kubelet.
    let n = c.get_json(&["node", &node.name]).unwrap();
    for key in ["cpu", "memory", "pods", "ephemeral-storage"] {
        assert!(
            n["status"]["capacity"][key].is_string(),
            "capacity {key}: {n:#}"
        );
        assert_eq!(
            n["status"]["allocatable"][key],
            n["status"]["capacity"][key]
        );
    }
    assert!(n["spec"]["podCIDR"].is_string(), "{n:#}");
    let runtime = n["status"]["nodeInfo"]["containerRuntimeVersion"]
        .as_str()
        .unwrap_or_default();
    assert!(runtime.starts_with("containerd://"), "{runtime}");
    let lease = c
        .get_json(&["lease", &node.name, "-n", "kube-node-lease"])
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], node.name.as_str());

    let host_dir = c.dir.path().join("host-path");
    c.apply(
        &SPEC_POD
            .replace("DEMO", DEMO)
            .replace("HOSTDIR", &host_dir.to_string_lossy()),
    );
    let p = c.wait_until("spec-pod Ready", READY, |c| {
        let p = c.get_json(&["pod", "spec-pod"])?;
        skiff_e2e::cluster::condition(&p, "Ready").then_some(p)
    });
    let ip = p["status"]["podIP"].as_str().unwrap_or_default().to_owned();
    assert!(!ip.is_empty());
    for cond in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
        assert!(skiff_e2e::cluster::condition(&p, cond), "{cond}: {p:#}");
    }
    assert_eq!(
        p["status"]["initContainerStatuses"][1]["state"]["terminated"]["reason"],
        "Completed"
    );

    // Init containers ran in order, before the container.
    assert_eq!(exec(&c, "spec-pod", "cat /work/order"), "one\ntwo\n");
    let init_log = c.kubectl_ok(&["logs", "spec-pod", "-c", "second"]);
    assert_eq!(init_log.trim(), "init-second-done");
    let serving = "netprobe serving spec-pod on port 8080";
    exec(&c, "spec-pod", "echo later > /proc/1/fd/1");
    assert_eq!(
        c.kubectl_ok(&["logs", "spec-pod", "--tail=1"]).trim(),
        "later"
    );
    assert!(
        c.kubectl_ok(&["logs", "spec-pod", "--timestamps"])
            .lines()
            .any(|l| l.ends_with(serving))
    );
    // Following: what the container writes next arrives on the open stream.
    let mut follow = skiff_e2e::cluster::kubectl_command(&c.kubeconfig())
        .args(["logs", "-f", "spec-pod", "--tail=0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).map(|_| line)
    });
    std::thread::sleep(Duration::from_secs(1));
    exec(&c, "spec-pod", "echo followed > /proc/1/fd/1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reader.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let followed = reader.join().unwrap().unwrap_or_default();
    assert_eq!(followed.trim(), "followed", "kubectl logs -f");

    let env = exec(&c, "spec-pod", "env");
    let var = |k: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{k} not in the environment:\n{env}"))
    };
    assert_eq!(var("PLAIN"), "x");
    assert_eq!(var("EXPANDED"), "x-y-$(MISSING)");
    assert_eq!(var("FROM_CM"), "hello");
    assert_eq!(var("FROM_SECRET"), "s3cret");
    assert_eq!(var("POD_NAME"), "spec-pod");
    assert_eq!(var("POD_IP"), ip);
    assert_eq!(var("NODE"), node.name);
    assert_eq!(var("CPU_MILLIS"), "500");
    assert_eq!(var("CM_mode"), "fast");
    // Service links, as upstream's kubelet sets them.
    assert!(
        var("KUBERNETES_SERVICE_HOST").starts_with("10.96."),
        "{env}"
    );

    assert_eq!(exec(&c, "spec-pod", "cat /etc/cfg/greeting"), "hello");
    assert_eq!(exec(&c, "spec-pod", "cat /etc/sec/token"), "s3cret");
    // Binary data arrives as its bytes (0xff 0x00), not as mangled text.
    assert_eq!(exec(&c, "spec-pod", "wc -c < /etc/sec/bin").trim(), "2");
    // Volumes the kubelet writes are read-only to the container.
    let write = c.kubectl(&[
        "exec",
        "spec-pod",
        "--",
        "sh",
        "-c",
        "echo x > /etc/cfg/greeting",
    ]);
    assert!(!write.status.success(), "a configMap volume was writable");
    assert_eq!(
        exec(&c, "spec-pod", "cat /var/run/api/labels"),
        "tier=\"web\""
    );
    assert_eq!(
        std::fs::read_to_string(host_dir.join("from-pod")).unwrap(),
        "hi\n"
    );
    // The projected token is one the API server accepts.
    let token = exec(&c, "spec-pod", "cat /var/run/api/token");
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
    let whoami = c.kubectl_ok(&["--token", &token, "get", "--raw", "/api"]);
    assert!(whoami.contains("APIVersions"), "{whoami}");
    // The service account's volume, as in-cluster clients read it (token,
    // cluster CA, namespace), and such a client (kube-rs in netprobe)
    // reading its own Pod through the `kubernetes` Service.
    let sa = "/var/run/secrets/kubernetes.io/serviceaccount";
    assert_eq!(
        exec(&c, "spec-pod", &format!("cat {sa}/namespace")),
        "default"
    );
    let ca = std::fs::read_to_string(c.control.dir.path().join("pki/ca.crt")).unwrap();
    assert_eq!(exec(&c, "spec-pod", &format!("cat {sa}/ca.crt")), ca);
    let seen = exec(&c, "spec-pod", "netprobe incluster");
    let seen: Value =
        serde_json::from_str(&seen).unwrap_or_else(|e| c.fail(&format!("{e}: {seen}")));
    assert_eq!(seen["ok"], true, "{seen}");
    assert_eq!(seen["pod"], "spec-pod", "{seen}");
    assert_eq!(seen["node"], node.name.as_str(), "{seen}");
    // A memory-backed emptyDir is a tmpfs of its size limit.
    let cache = exec(&c, "spec-pod", "grep ' /cache ' /proc/mounts");
    assert!(
        cache.starts_with("tmpfs /cache tmpfs") && cache.contains("size=8192k"),
        "{cache}"
    );
    assert_eq!(exec(&c, "spec-pod", "cat /work/post-start"), "started\n");
    // Limits reach the cgroup.
    let limit = exec(
        &c,
        "spec-pod",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
    );
    assert_eq!(limit.trim(), (64u64 << 20).to_string());

    // The read-only port lists the node's pods.
    let ro = std::net::SocketAddr::new(node.ip.parse().unwrap(), KUBELET_READ_ONLY_PORT);
    assert_eq!(
        node.http_get(ro, "/healthz").map(|r| r.1.trim().to_owned()),
        Some("ok".into())
    );
    let (code, body) = node
        .http_get(ro, "/pods")
        .unwrap_or_else(|| c.fail("no answer on /pods"));
    assert_eq!(code, 200);
    assert!(body.contains("\"spec-pod\""), "{body}");

    // A kubelet restart adopts the running pod: same container, no restart.
    let id = p["status"]["containerStatuses"][0]["containerID"].clone();
    let mut c = c;
    c.nodes[0].restart_kubelet();
    std::thread::sleep(Duration::from_secs(3));
    let after = c.wait_until("spec-pod Ready after the kubelet restart", READY, |c| {
        let p = c.get_json(&["pod", "spec-pod"])?;
        skiff_e2e::cluster::condition(&p, "Ready").then_some(p)
    });
    assert_eq!(after["status"]["containerStatuses"][0]["containerID"], id);
    assert_eq!(after["status"]["containerStatuses"][0]["restartCount"], 0);

    // Deleting runs the preStop hook, then stops; the tmpfs goes with the pod.
    let tmpfs_before = std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .matches("/cache")
        .count();
    c.kubectl_ok(&["delete", "pod", "spec-pod", "--wait=true", "--timeout=60s"]);
    assert_eq!(
        std::fs::read_to_string(host_dir.join("pre-stop")).unwrap(),
        "stopping\n"
    );
    let pods_root = c.node(0).dir.join("kubelet/pods");
    let left: Vec<String> = std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&*pods_root.to_string_lossy()))
        .map(str::to_owned)
        .collect();
    assert!(
        left.is_empty(),
        "mounts left after the pod ({tmpfs_before} before): {left:?}"
    );
}

#[test]
fn restarts_back_off_and_finished_pods_keep_their_phase() {
    let _one = serial();
    let c = Cluster::start(1, Options::default());
    let pod_yaml = |name: &str, policy: &str, script: &str, image: &str| {
        format!(
            r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default}}
spec:
  restartPolicy: {policy}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "{script}"]
"#
        )
    };
    c.apply(&pod_yaml("crasher", "Always", "echo crash; exit 1", DEMO));
    c.apply(&pod_yaml("done", "Never", "exit 0", DEMO));
    c.apply(&pod_yaml("broken", "Never", "exit 2", DEMO));
    c.apply(&pod_yaml(
        "missing",
        "Always",
        "true",
        "localhost/skiff/missing:1",
    ));
    // A subPath that a link in the volume leads out of it is refused.
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: escape, namespace: default}}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: link
    image: {DEMO}
    command: ["busybox", "ln", "-s", "/", "/data/esc"]
    volumeMounts: [{{name: data, mountPath: /data}}]
  containers:
  - name: main
    image: {DEMO}
    volumeMounts: [{{name: data, mountPath: /host-root, subPath: esc}}]
  volumes: [{{name: data, emptyDir: {{}}}}]
"#
    ));

    let crashed = c.wait_until(
        "crasher in CrashLoopBackOff",
        Duration::from_secs(60),
        |c| {
            let p = c.get_json(&["pod", "crasher"])?;
            let restarts = p["status"]["containerStatuses"][0]["restartCount"].as_i64()?;
            (waiting_reason(&p).as_deref() == Some("CrashLoopBackOff") && restarts >= 1)
                .then_some(p)
        },
    );
    let status = &crashed["status"]["containerStatuses"][0];
    assert_eq!(
        status["lastState"]["terminated"]["exitCode"], 1,
        "{status:#}"
    );
    assert!(
        status["state"]["waiting"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("back-off")
    );
    // The back-off holds the next start: no restart within its first 10 s.
    let count = status["restartCount"].as_i64().unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let later = pod(&c, "crasher")["status"]["containerStatuses"][0]["restartCount"]
        .as_i64()
        .unwrap();
    assert!(
        later <= count + 1,
        "restarted {} times in 4 s",
        later - count
    );
    let previous = c.kubectl_ok(&["logs", "crasher", "--previous"]);
    assert_eq!(previous.trim(), "crash");

    c.wait_until("done Succeeded", READY, |c| {
        (c.get_json(&["pod", "done"])?["status"]["phase"] == "Succeeded").then_some(())
    });
    c.wait_until("broken Failed", READY, |c| {
        (c.get_json(&["pod", "broken"])?["status"]["phase"] == "Failed").then_some(())
    });
    let broken = pod(&c, "broken");
    assert_eq!(
        broken["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
        2
    );
    assert_eq!(
        broken["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
        "Error"
    );

    let missing = c.wait_until(
        "missing in an image pull error",
        Duration::from_secs(60),
        |c| {
            let p = c.get_json(&["pod", "missing"])?;
            waiting_reason(&p)
                .filter(|r| r == "ErrImagePull" || r == "ImagePullBackOff")
                .map(|_| p)
        },
    );
    let message = missing["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("localhost/skiff/missing:1"), "{message}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let escape = loop {
        let p = pod(&c, "escape");
        if waiting_reason(&p).as_deref() == Some("CreateContainerConfigError") {
            break p;
        }
        if Instant::now() > deadline {
            c.fail(&format!(
                "the escaping subPath was not refused: {:#}",
                p["status"]
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let refusal = escape["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(refusal.contains("leads out of its volume"), "{refusal}");
    c.wait_until(
        "missing in ImagePullBackOff",
        Duration::from_secs(60),
        |c| {
            (waiting_reason(&c.get_json(&["pod", "missing"])?).as_deref()
                == Some("ImagePullBackOff"))
            .then_some(())
        },
    );
}

#[test]
fn deletion_honours_the_grace_period_and_host_pods_share_the_node() {
    let _one = serial();
    let c = Cluster::start(1, Options::default());
    let node = c.node(0);
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: stubborn, namespace: default}}
spec:
  terminationGracePeriodSeconds: 4
  containers:
  - name: main
    image: {DEMO}
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
---
apiVersion: v1
kind: Pod
metadata: {{name: polite, namespace: default}}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: main
    image: {DEMO}
---
apiVersion: v1
kind: Pod
metadata: {{name: host, namespace: default}}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {DEMO}
    command: ["sh", "-c", "sleep 100000"]
    securityContext: {{privileged: true}}
"#
    ));
    for name in ["stubborn", "polite", "host"] {
        c.wait_until(&format!("{name} Ready"), READY, |c| {
            skiff_e2e::cluster::condition(&c.get_json(&["pod", name])?, "Ready").then_some(())
        });
    }
    // A host-network pod has the node's address and sees its interfaces; a
    // privileged one may change them.
    assert_eq!(pod(&c, "host")["status"]["podIP"], node.ip.as_str());
    exec(&c, "host", "ip addr add 10.99.99.99/32 dev lo");
    let addrs = node.exec_in_netns(&["ip", "-o", "addr", "show", "dev", "lo"]);
    assert!(
        String::from_utf8_lossy(&addrs.stdout).contains("10.99.99.99/32"),
        "the privileged pod's address is not on the node: {addrs:?}"
    );
    node.exec_in_netns(&["ip", "addr", "del", "10.99.99.99/32", "dev", "lo"]);

    // A process ignoring SIGTERM gets SIGKILL when the grace period ends;
    // one that stops on SIGTERM goes at once.
    let timed_delete = |name: &str| {
        let started = Instant::now();
        c.kubectl_ok(&["delete", "pod", name, "--wait=true", "--timeout=60s"]);
        started.elapsed()
    };
    let stubborn = timed_delete("stubborn");
    assert!(
        stubborn >= Duration::from_secs(4),
        "stubborn went in {stubborn:?}, before its grace period"
    );
    assert!(
        stubborn < Duration::from_secs(20),
        "stubborn took {stubborn:?}"
    );
    let polite = timed_delete("polite");
    assert!(
        polite < Duration::from_secs(10),
        "polite took {polite:?} though it stops on SIGTERM"
    );
}
