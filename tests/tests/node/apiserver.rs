//! The agent against the project's own API server: objects applied with
//! kubectl reach the eBPF maps through kube-rs watches.

use std::time::{Duration, Instant};

use skiff_e2e::control::ControlPlane;
use skiff_e2e::lab::Lab;
use skiff_e2e::manifests::yaml;
use skiff_e2e::probe::{Outcome, tally};

/// Repeats `probe` until `done` holds, for at most 20 s.
fn eventually(
    lab: &Lab,
    what: &str,
    probe: impl Fn() -> Vec<Outcome>,
    done: impl Fn(&[Outcome]) -> bool,
) -> Vec<Outcome> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = probe();
        if done(&out) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within 20 s; last: {out:?}\n{}",
            lab.agent().log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn objects_applied_with_kubectl_are_balanced_and_deleting_the_slice_refuses() {
    let cp = ControlPlane::start();
    let mut lab = Lab::new(2);
    let mut cfg = lab.agent_config();
    cfg.kubeconfig = Some(cp.kubeconfig());
    lab.start_agent_with(cfg);

    // As a user writes them: without the metadata the server owns. The
    // address is inside the server's service range (10.96.0.0/12).
    let objects: Vec<_> = lab
        .web("web", "10.96.4.10", None)
        .into_iter()
        .map(|mut o| {
            let meta = o["metadata"].as_object_mut().unwrap();
            meta.remove("uid");
            meta.remove("resourceVersion");
            o
        })
        .collect();
    let manifest = lab.dir.path().join("web.yaml");
    std::fs::write(&manifest, yaml(&objects)).unwrap();
    // kubectl validates against the server (fieldValidation=Strict).
    let created = cp.kubectl_ok(&["apply", "-f", manifest.to_str().unwrap()]);
    assert!(
        created.contains("service/web created")
            && created.contains("endpointslice.discovery.k8s.io/web-1 created"),
        "{created}"
    );

    let out = eventually(
        &lab,
        "the ClusterIP answers from both pods",
        || lab.tcp("10.96.4.10:80", 40),
        |o| tally(o).len() == 2,
    );
    assert!(
        out.iter().all(|o| o.ok && o.peer == "10.96.4.10:80"),
        "{out:?}"
    );

    cp.kubectl_ok(&["delete", "endpointslice", "web-1"]);
    eventually(
        &lab,
        "connections are refused",
        || lab.tcp("10.96.4.10:80", 1),
        |o| o[0].errno == Some(libc::ECONNREFUSED),
    );
}
