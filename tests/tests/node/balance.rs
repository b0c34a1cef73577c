//! TCP and UDP through a ClusterIP, IPv4 and IPv6: every backend is reached,
//! the socket shows the service address, and what is not a service is left alone.

use skiff_e2e::lab::{Lab, POD_PORT};
use skiff_e2e::manifests::{port, service, slice};
use skiff_e2e::probe::tally;

#[test]
fn tcp_reaches_every_backend_evenly_and_peer_is_the_service() {
    let mut lab = Lab::new(3);
    lab.start_agent();
    let ports = [port("http", 80, POD_PORT, "TCP")];
    lab.apply(&[
        service("web", &["10.96.0.10"], &ports, None),
        lab.ready_slice("web-1", "web", false, &ports),
    ]);

    let out = lab.tcp("10.96.0.10:80", 300);
    assert!(
        out.iter().all(|o| o.ok),
        "every connection succeeds: {:?}",
        out.iter().find(|o| !o.ok)
    );
    assert!(
        out.iter().all(|o| o.peer == "10.96.0.10:80"),
        "getpeername shows the service: {:?}",
        out[0]
    );
    let counts = tally(&out);
    assert_eq!(counts.len(), 3, "all three backends reached: {counts:?}");
    // 100 expected each; 60..140 is about five standard deviations.
    assert!(
        counts.values().all(|&n| (60..=140).contains(&n)),
        "roughly even: {counts:?}"
    );
}

#[test]
fn udp_replies_come_from_the_service_address() {
    let mut lab = Lab::new(3);
    lab.start_agent();
    let ports = [port("dns", 53, POD_PORT, "UDP")];
    lab.apply(&[
        service("dns", &["10.96.0.53"], &ports, None),
        lab.ready_slice("dns-1", "dns", false, &ports),
    ]);

    let out = lab.udp("10.96.0.53:53", 300, false);
    assert!(
        out.iter().all(|o| o.ok && o.from == "10.96.0.53:53"),
        "unconnected replies come from the service: {:?}",
        out.iter().find(|o| !o.ok || o.from != "10.96.0.53:53")
    );
    let counts = tally(&out);
    assert_eq!(counts.len(), 3, "all backends reached over UDP: {counts:?}");
    assert!(
        counts.values().all(|&n| (60..=140).contains(&n)),
        "roughly even: {counts:?}"
    );

    let out = lab.udp("10.96.0.53:53", 30, true);
    assert!(
        out.iter()
            .all(|o| o.ok && o.from == "10.96.0.53:53" && o.peer == "10.96.0.53:53"),
        "connected UDP: {:?}",
        out.iter().find(|o| !o.ok || o.peer != "10.96.0.53:53")
    );
    assert!(
        tally(&out).len() >= 2,
        "connected sockets are balanced too: {:?}",
        tally(&out)
    );
}

#[test]
fn ipv6_and_dual_stack_cluster_ips_work_the_same() {
    let mut lab = Lab::new(3);
    lab.start_agent();
    let ports = [
        port("http", 80, POD_PORT, "TCP"),
        port("dns", 53, POD_PORT, "UDP"),
    ];
    lab.apply(&[
        service("web", &["fd00:96::10", "10.96.0.10"], &ports, None),
        lab.ready_slice("web-v6", "web", true, &ports),
        lab.ready_slice("web-v4", "web", false, &ports),
    ]);

    let out = lab.tcp("[fd00:96::10]:80", 150);
    assert!(
        out.iter().all(|o| o.ok && o.peer == "[fd00:96::10]:80"),
        "{:?}",
        out.iter().find(|o| !o.ok || o.peer != "[fd00:96::10]:80")
    );
    assert_eq!(tally(&out).len(), 3, "{:?}", tally(&out));

    let out = lab.udp("[fd00:96::10]:53", 60, false);
    assert!(
        out.iter().all(|o| o.ok && o.from == "[fd00:96::10]:53"),
        "{:?}",
        out.iter().find(|o| !o.ok || o.from != "[fd00:96::10]:53")
    );
    assert_eq!(tally(&out).len(), 3, "{:?}", tally(&out));

    let out = lab.tcp("10.96.0.10:80", 60);
    assert!(
        out.iter().all(|o| o.ok && o.peer == "10.96.0.10:80"),
        "the IPv4 address of the same service: {:?}",
        out[0]
    );
}

#[test]
fn no_endpoints_is_refused_at_once() {
    let mut lab = Lab::new(1);
    lab.start_agent();
    let ports = [port("http", 80, POD_PORT, "TCP")];
    lab.apply(&[
        service("empty", &["10.96.0.30"], &ports, None),
        slice("empty-1", "empty", &[], &ports),
    ]);

    for o in lab.tcp("10.96.0.30:80", 5) {
        assert!(!o.ok, "no backend to reach: {o:?}");
        assert_eq!(
            o.errno,
            Some(libc::ECONNREFUSED),
            "refused, not hung nor EPERM: {o:?}"
        );
        assert!(o.ms < 100.0, "refused within 100 ms, took {} ms", o.ms);
    }
}

#[test]
fn a_port_the_service_does_not_expose_is_untouched() {
    let mut lab = Lab::new(2);
    // The service address exists in the client's namespace, with a server on
    // port 81: whatever reaches it was not balanced.
    lab.client_local_server("10.96.0.40", 81, "unbalanced");
    lab.client_local_server("10.96.0.41", 80, "not-a-service");
    lab.start_agent();
    let ports = [port("http", 80, POD_PORT, "TCP")];
    lab.apply(&[
        service("web", &["10.96.0.40"], &ports, None),
        lab.ready_slice("web-1", "web", false, &ports),
    ]);

    let other_port = lab.tcp("10.96.0.40:81", 5);
    assert!(
        other_port
            .iter()
            .all(|o| o.ok && o.backend == "unbalanced" && o.peer == "10.96.0.40:81"),
        "{other_port:?}"
    );
    let other_addr = lab.tcp("10.96.0.41:80", 5);
    assert!(
        other_addr
            .iter()
            .all(|o| o.ok && o.backend == "not-a-service"),
        "{other_addr:?}"
    );
    let service_port = lab.tcp("10.96.0.40:80", 20);
    assert!(
        service_port
            .iter()
            .all(|o| o.ok && o.backend.starts_with("pod-")),
        "{service_port:?}"
    );
}
