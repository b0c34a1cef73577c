//! How endpoint changes reach sockets: affinity, removal, terminating endpoints.

use std::time::Duration;

use skiff_e2e::lab::{Lab, POD_PORT};
use skiff_e2e::manifests::{Cond, READY, TERMINATING_SERVING, port, service, slice};
use skiff_e2e::probe::tally;

#[test]
fn client_ip_affinity_keeps_one_backend_until_its_timeout() {
    let mut lab = Lab::new(4);
    lab.start_agent();
    lab.apply(&lab.web("sticky", "10.96.0.50", Some(1)));

    let out = lab.tcp("10.96.0.50:80", 40);
    let counts = tally(&out);
    assert_eq!(counts.values().sum::<usize>(), 40);
    assert_eq!(
        counts.len(),
        1,
        "one backend while the affinity is fresh: {counts:?}"
    );

    // Past the timeout the choice is made again: over 8 rounds with 4
    // backends, staying on one every time has odds of (1/4)^7.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(1100));
        let out = lab.tcp("10.96.0.50:80", 1);
        assert!(out[0].ok, "{:?}", out[0]);
        seen.insert(out[0].backend.clone());
    }
    assert!(
        seen.len() >= 2,
        "a new backend may be chosen after the timeout: {seen:?}"
    );
}

#[test]
fn a_removed_endpoint_gets_no_new_connections_but_keeps_its_established_one() {
    let mut lab = Lab::new(3);
    lab.start_agent();
    let ports = [port("http", 80, POD_PORT, "TCP")];
    let all: Vec<_> = lab.pods.iter().map(|p| (p.ip4.as_str(), READY)).collect();
    lab.apply(&[
        service("web", &["10.96.0.60"], &ports, None),
        slice("web-1", "web", &all, &ports),
    ]);

    let mut held = lab.hold("10.96.0.60:80");
    assert!(held.first.ok, "{:?}", held.first);
    let gone = held.first.backend.clone();
    let rest: Vec<_> = lab
        .pods
        .iter()
        .filter(|p| p.name != gone)
        .map(|p| (p.ip4.as_str(), READY))
        .collect();
    lab.apply(&[
        service("web", &["10.96.0.60"], &ports, None),
        slice("web-1", "web", &rest, &ports),
    ]);

    let out = lab.tcp("10.96.0.60:80", 90);
    let counts = tally(&out);
    assert_eq!(counts.values().sum::<usize>(), 90, "{out:?}");
    assert!(
        !counts.contains_key(&gone),
        "{gone} was removed but got connections: {counts:?}"
    );
    assert_eq!(counts.len(), 2, "{counts:?}");

    let echo = held.echo("still here");
    assert!(
        echo.ok && echo.echo == "still here",
        "the established connection to {gone} keeps working: {echo:?}"
    );
}

#[test]
fn terminating_endpoints_serve_only_when_no_ready_one_is_left() {
    let mut lab = Lab::new(2);
    lab.start_agent();
    let ports = [port("http", 80, POD_PORT, "TCP")];
    let (p1, p2) = (lab.pods[0].ip4.clone(), lab.pods[1].ip4.clone());
    let svc = service("web", &["10.96.0.70"], &ports, None);

    lab.apply(&[
        svc.clone(),
        slice(
            "web-1",
            "web",
            &[(&p1, READY), (&p2, TERMINATING_SERVING)],
            &ports,
        ),
    ]);
    let counts = tally(&lab.tcp("10.96.0.70:80", 40));
    assert_eq!(
        counts.get("pod-1"),
        Some(&40),
        "only the ready endpoint while there is one: {counts:?}"
    );

    let not_ready = Cond {
        ready: false,
        serving: false,
        terminating: false,
    };
    lab.apply(&[
        svc.clone(),
        slice(
            "web-1",
            "web",
            &[(&p1, not_ready), (&p2, TERMINATING_SERVING)],
            &ports,
        ),
    ]);
    let counts = tally(&lab.tcp("10.96.0.70:80", 40));
    assert_eq!(
        counts.get("pod-2"),
        Some(&40),
        "the terminating-but-serving endpoint takes over: {counts:?}"
    );

    let terminating_not_serving = Cond {
        ready: false,
        serving: false,
        terminating: true,
    };
    lab.apply(&[
        svc,
        slice(
            "web-1",
            "web",
            &[(&p1, not_ready), (&p2, terminating_not_serving)],
            &ports,
        ),
    ]);
    let out = lab.tcp("10.96.0.70:80", 3);
    assert!(
        out.iter().all(|o| o.errno == Some(libc::ECONNREFUSED)),
        "never a non-serving endpoint: {out:?}"
    );
}

#[test]
fn a_stale_affinity_entry_never_leads_to_another_services_backend() {
    let mut lab = Lab::new(3);
    lab.start_agent();
    let ports = [port("http", 80, POD_PORT, "TCP")];
    let (p1, p2, p3) = (
        lab.pods[0].ip4.clone(),
        lab.pods[1].ip4.clone(),
        lab.pods[2].ip4.clone(),
    );
    let a = service("a", &["10.96.2.2"], &ports, Some(600));
    lab.apply(&[a.clone(), slice("a-1", "a", &[(&p1, READY)], &ports)]);
    let first = lab.tcp("10.96.2.2:80", 1);
    assert_eq!(first[0].backend, "pod-1", "{first:?}");
    // pod-1 leaves A: its backend id is freed, the client's affinity entry
    // for A still names it.
    lab.apply(&[a.clone(), slice("a-1", "a", &[], &ports)]);
    // A restarted agent starts its id pool over, and B (sorted first) gets
    // the freed id for pod-3.
    let cfg = lab.kill_agent();
    lab.start_agent_with(cfg);
    lab.apply(&[
        service("b", &["10.96.2.1"], &ports, None),
        slice("b-1", "b", &[(&p3, READY)], &ports),
        a,
        slice("a-1", "a", &[(&p2, READY)], &ports),
    ]);
    let out = lab.tcp("10.96.2.2:80", 5);
    assert!(
        out.iter().all(|o| o.backend == "pod-2"),
        "A's only backend is pod-2, never B's pod-3: {out:?}"
    );
}
