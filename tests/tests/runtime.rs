//! The node's container runtime on its own: a containerd of the harness in a
//! fresh network namespace imports the project's images and runs the demo
//! image, whose server answers HTTP with its hostname.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use skiff_e2e::agent::http_get;
use skiff_e2e::containerd::{Containerd, K8S_NAMESPACE};
use skiff_e2e::images::{DEMO, PAUSE};
use skiff_e2e::netns::Netns;

/// A cgroup parent of the test's own (ctr would use /k8s.io/<id>, whose
/// parent no one removes), removed at the end.
struct TestCgroup(String);

impl TestCgroup {
    fn new(what: &str) -> Self {
        Self(format!("skiff-{what}-{}", std::process::id()))
    }

    fn path(&self, id: &str) -> String {
        format!("/{}/{id}", self.0)
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        skiff_e2e::cgroup::remove_everywhere(Path::new(&self.0));
    }
}

/// Kills `ctr run` if the test fails before it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn containerd_imports_the_images_and_runs_the_demo() {
    skiff_e2e::require_root();
    let ns = Netns::create(&format!("skr{}", std::process::id()));
    let dir = tempfile::Builder::new()
        .prefix("skiff-runtime-")
        .tempdir()
        .unwrap();
    let ctd = Containerd::start(&dir.path().join("ctd"), &ns, &dir.path().join("cni"));
    let cgroup = TestCgroup::new("runtime");

    let images = ctd.ctr_ok(&["images", "ls", "-q"]);
    for image in [PAUSE, DEMO] {
        if !images.lines().any(|l| l == image) {
            ctd.fail(&format!("{image} is not among the images:\n{images}"));
        }
    }

    // Host network: the server listens in the test's namespace, where the
    // test reaches it on loopback.
    let id = "skiff-runtime-demo";
    let port = 18080;
    let output = dir.path().join("ctr-run.out");
    let mut run = Running(
        Command::new("ctr")
            .arg("--address")
            .arg(ctd.socket())
            .args(["-n", K8S_NAMESPACE, "run", "--rm", "--net-host"])
            .arg("--runc-root")
            .arg(ctd.layout.runc_root())
            .args(["--cgroup", &cgroup.path(id), DEMO, id])
            .args(["/bin/netprobe", "serve", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&output).unwrap())
            .stderr(std::fs::File::create(dir.path().join("ctr-run.err")).unwrap())
            .spawn()
            .expect("starting ctr run"),
    );
    let answer = ns
        .spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(answer) = http_get(port, "/") {
                    return Some(answer);
                }
                if Instant::now() > deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
        .join()
        .unwrap();
    let stderr = || std::fs::read_to_string(dir.path().join("ctr-run.err")).unwrap_or_default();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    match answer {
        Some((200, body)) if body.trim() == hostname.trim() => {}
        other => ctd.fail(&format!(
            "the demo container answered {other:?}, expected 200 and {:?}; ctr run said: {}",
            hostname.trim(),
            stderr()
        )),
    }

    // busybox's shell and wget inside the image.
    let health = ctd.ctr_ok(&[
        "tasks",
        "exec",
        "--exec-id",
        "check",
        id,
        "/bin/sh",
        "-c",
        &format!("wget -q -O - http://127.0.0.1:{port}/healthz"),
    ]);
    if health.trim() != "ok" {
        ctd.fail(&format!("/healthz through busybox wget said {health:?}"));
    }

    // SIGTERM ends the server cleanly, and `--rm` removes the container.
    ctd.ctr_ok(&["tasks", "kill", "-s", "SIGTERM", id]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = run.0.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            ctd.fail("the demo container did not stop within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if !status.success() {
        ctd.fail(&format!("ctr run ended with {status}: {}", stderr()));
    }
    let served = std::fs::read_to_string(&output).unwrap_or_default();
    assert!(
        served.contains("netprobe serving"),
        "the container's output: {served:?}"
    );
    let containers = ctd.ctr_ok(&["containers", "ls", "-q"]);
    assert!(
        !containers.lines().any(|l| l == id),
        "--rm left the container: {containers}"
    );
}

/// Dropping the harness's containerd leaves no process, mount or directory.
#[test]
fn containerd_cleans_up_after_itself() {
    skiff_e2e::require_root();
    let ns = Netns::create(&format!("skc{}", std::process::id()));
    let dir = tempfile::Builder::new()
        .prefix("skiff-runtime-")
        .tempdir()
        .unwrap();
    let state = dir.path().join("ctd");
    let ctd = Containerd::start(&state, &ns, &dir.path().join("cni"));
    let cgroup = TestCgroup::new("cleanup");
    let pid = ctd.pid().expect("a running containerd") as i32;
    // A detached task: its shim outlives containerd unless the cleanup kills it.
    let id = "skiff-cleanup-demo";
    let cgroup_path = cgroup.path(id);
    let runc_root = ctd.layout.runc_root();
    ctd.ctr_ok(&[
        "run",
        "-d",
        "--net-host",
        "--runc-root",
        &runc_root.to_string_lossy(),
        "--cgroup",
        &cgroup_path,
        DEMO,
        id,
        "/bin/sleep",
        "600",
    ]);
    let sleeper = std::fs::read_to_string(
        skiff_e2e::cgroup::v2_root()
            .join(cgroup_path.trim_start_matches('/'))
            .join("cgroup.procs"),
    )
    .unwrap_or_default();
    let sleeper: i32 = sleeper
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the container's process is not in its cgroup: {sleeper:?}"));
    drop(ctd);
    assert!(
        !skiff_e2e::procs::running(sleeper),
        "the container's process still runs"
    );
    assert!(!skiff_e2e::procs::alive(pid), "containerd still runs");
    let left =
        skiff_e2e::procs::matching(|cmd| cmd.iter().any(|a| a.contains(&*state.to_string_lossy())));
    assert!(left.is_empty(), "processes left: {left:?}");
    assert!(
        skiff_e2e::mounts::under(&state).is_empty(),
        "mounts left: {:?}",
        skiff_e2e::mounts::under(&state)
    );
    assert!(!state.exists(), "{} is still there", state.display());
}
