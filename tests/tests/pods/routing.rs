//! Pods across two nodes, in each routing mode, and the agent's life: a
//! restart keeps pods talking, --cleanup removes what it added.

use skiff_e2e::podnet::{Cluster, NetNode, Pod};

fn cluster(routing: &str) -> Cluster {
    let mut c = Cluster::new(2, routing);
    c.start_agents();
    c
}

/// The kernel forwards nothing a pod sends: forwarding is off on its veth,
/// so only the programs can carry its packets off the node.
fn assert_no_forwarding_from(n: &NetNode, pod: &Pod) {
    let host_if = pod.result["interfaces"][0]["name"].as_str().unwrap();
    assert_eq!(
        n.read_sysctl(&format!("net/ipv4/conf/{host_if}/forwarding")),
        "0",
        "{}: forwarding on {host_if}",
        n.name
    );
}

/// A TCP greeting from the node's own namespace (not a pod).
fn greet_from_node(n: &NetNode, ip: std::net::Ipv4Addr) -> Result<String, String> {
    let ns = n.ns.path();
    std::thread::spawn(move || {
        skiff_e2e::netns::enter(&ns);
        use std::io::BufRead as _;
        let addr = std::net::SocketAddr::from((ip, skiff_e2e::podnet::POD_PORT));
        let s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(3)))
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(s)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        Ok(line.trim().to_owned())
    })
    .join()
    .unwrap()
}

#[test]
fn pods_on_two_nodes_talk_in_direct_mode() {
    let c = cluster("direct");
    let (n1, n2) = (&c.nodes[0], &c.nodes[1]);
    for n in [n1, n2] {
        // Forwarding only on the uplink, where the FIB lookup is made: the
        // kernel forwards nothing that comes from a pod.
        n.sysctl("net/ipv4/ip_forward", "0");
        n.sysctl("net/ipv4/conf/up0/forwarding", "1");
    }
    let a = n1.add_pod("a");
    let b = n2.add_pod("b");
    assert_no_forwarding_from(n1, &a);
    assert_no_forwarding_from(n2, &b);

    assert_eq!(a.greet(b.ip).as_deref(), Ok("b"));
    assert_eq!(b.greet(a.ip).as_deref(), Ok("a"));
    for n in [n1, n2] {
        let c = n.counters();
        assert!(c["direct"] >= 3 && c["from_node"] >= 3, "{}: {c:?}", n.name);
        assert_eq!(c["vxlan"], 0, "{c:?}");
    }

    let routes = n1.dbg(&["routes", "-o", "json"]);
    let routes: serde_json::Value = serde_json::from_slice(&routes.stdout).unwrap();
    assert_eq!(
        routes,
        serde_json::json!([{"cidr": n2.pod_cidr, "node": n2.address}])
    );
}

#[test]
fn pods_on_two_nodes_talk_in_vxlan_mode_with_forwarding_off() {
    let c = cluster("vxlan");
    let (n1, n2) = (&c.nodes[0], &c.nodes[1]);
    for n in [n1, n2] {
        n.sysctl("net/ipv4/ip_forward", "0");
        let dev = n.ip(&["-d", "link", "show", "skiff_vxlan"]);
        assert!(
            dev.contains("external") && dev.contains("dstport 8472"),
            "{dev}"
        );
    }
    let a = n1.add_pod("a");
    let a2 = n1.add_pod("a2");
    let b = n2.add_pod("b");
    assert_no_forwarding_from(n1, &a);
    assert_no_forwarding_from(n2, &b);
    let route = n1.ip(&["-4", "route", "show", &n2.pod_cidr]);
    assert!(
        route.contains("encap ip id 1") && route.contains("dev skiff_vxlan"),
        "the node's own packets take the tunnel: {route}"
    );

    assert_eq!(a.greet(b.ip).as_deref(), Ok("b"));
    assert_eq!(b.greet(a.ip).as_deref(), Ok("a"));
    assert_eq!(b.greet(a2.ip).as_deref(), Ok("a2"));
    assert_eq!(a2.greet(a.ip).as_deref(), Ok("a"));
    for n in [n1, n2] {
        let c = n.counters();
        assert!(c["vxlan"] >= 3 && c["from_node"] >= 3, "{}: {c:?}", n.name);
        assert_eq!(c["direct"], 0, "{c:?}");
    }

    let table = String::from_utf8_lossy(&n2.dbg(&["routes"]).stdout).into_owned();
    assert!(
        table.contains(&n1.pod_cidr) && table.contains(&n1.address),
        "{table}"
    );
}

/// The node's own packets (a process on the node, or a service backend
/// chosen for one) reach other nodes' pods through the agent's kernel
/// routes; the replies come back through the remote node's forwarding.
#[test]
fn the_node_reaches_pods_of_other_nodes_in_direct_and_vxlan_mode() {
    for routing in ["direct", "vxlan"] {
        let c = cluster(routing);
        let (n1, n2) = (&c.nodes[0], &c.nodes[1]);
        for n in [n1, n2] {
            n.sysctl("net/ipv4/ip_forward", "1");
        }
        let a = n1.add_pod("a");
        let b = n2.add_pod("b");
        assert_eq!(greet_from_node(n1, b.ip).as_deref(), Ok("b"), "{routing}");
        assert_eq!(greet_from_node(n2, a.ip).as_deref(), Ok("a"), "{routing}");
        assert!(
            n2.counters()["from_node"] >= 3,
            "{routing}: {:?}",
            n2.counters()
        );
    }
}

#[test]
fn kernel_mode_routes_through_the_kernel() {
    let c = cluster("kernel");
    let (n1, n2) = (&c.nodes[0], &c.nodes[1]);
    for n in [n1, n2] {
        n.sysctl("net/ipv4/ip_forward", "1");
    }
    let a = n1.add_pod("a");
    let b = n2.add_pod("b");
    let routes = n1.ip(&["-4", "route"]);
    assert!(
        routes.contains(&format!("{} via {}", n2.pod_cidr, n2.address)),
        "{routes}"
    );
    assert_eq!(a.greet(b.ip).as_deref(), Ok("b"));
    assert_eq!(b.greet(a.ip).as_deref(), Ok("a"));
    for n in [n1, n2] {
        let c = n.counters();
        assert!(c.values().all(|v| *v == 0), "the programs pass: {c:?}");
    }
}

#[test]
fn pods_keep_talking_across_an_agent_restart_and_cleanup_removes_it_all() {
    let mut c = cluster("vxlan");
    let a = c.nodes[0].add_pod("a");
    let b = c.nodes[1].add_pod("b");
    assert_eq!(a.greet(b.ip).as_deref(), Ok("b"));

    // No agent: the pinned programs and links keep routing.
    let agent = c.nodes[0].agent.take().unwrap();
    drop(agent);
    assert_eq!(a.greet(b.ip).as_deref(), Ok("b"));
    assert_eq!(b.greet(a.ip).as_deref(), Ok("a"));

    // A new agent loads new programs and moves the pods' links to them.
    let n1 = &mut c.nodes[0];
    let prog_before = prog_id(n1, "from_pod");
    n1.start_agent();
    n1.conflist();
    let prog_after = prog_id(n1, "from_pod");
    assert_ne!(prog_before, prog_after, "a new program is pinned");
    let host_if = a.result["interfaces"][0]["name"].as_str().unwrap();
    let attached = tcx_prog_ids(n1, host_if);
    assert_eq!(
        attached,
        vec![prog_after],
        "the pod's link runs the new program"
    );
    let local = n1.counters()["vxlan"];
    assert_eq!(a.greet(b.ip).as_deref(), Ok("b"));
    assert!(n1.counters()["vxlan"] > local);

    // --cleanup: conflist, VXLAN device and pins gone.
    let n1 = &mut c.nodes[0];
    n1.agent.take();
    let mut cmd = std::process::Command::new(skiff_e2e::bin("skiff-proxy"));
    skiff_e2e::netns::enter_before_exec(&mut cmd, &n1.ns.path());
    let out = cmd
        .args(["--cleanup", "--node-name", &n1.name])
        .arg("--pin-dir")
        .arg(n1.pin_dir())
        .args(&n1.agent_cfg.extra_args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!n1.conf_dir().join("10-skiff.conflist").exists());
    assert!(!n1.pin_dir().exists());
    assert!(!n1.ip(&["link"]).contains("skiff_vxlan"));
    assert!(
        tcx_prog_ids(n1, host_if).is_empty(),
        "from_pod left the veth"
    );
}

fn prog_id(n: &NetNode, name: &str) -> u32 {
    aya::programs::SchedClassifier::from_pin(n.pin_dir().join("progs").join(name))
        .unwrap()
        .info()
        .unwrap()
        .id()
}

/// The programs on a veth's tcx ingress, asked from the node's namespace.
fn tcx_prog_ids(n: &NetNode, ifname: &str) -> Vec<u32> {
    let (ns, ifname) = (n.ns.path(), ifname.to_owned());
    std::thread::spawn(move || {
        skiff_e2e::netns::enter(&ns);
        let (_, progs) = aya::programs::SchedClassifier::query_tcx(
            &ifname,
            aya::programs::TcAttachType::Ingress,
        )
        .unwrap();
        progs.iter().map(|p| p.id()).collect()
    })
    .join()
    .unwrap()
}

#[test]
fn nodes_from_the_api_server_route_pods_and_a_deleted_node_loses_its_route() {
    let mut c = Cluster::new(2, "vxlan");
    // The API server on node 1, where node 1's agent watches it.
    let cp = skiff_e2e::control::ControlPlane::start_in(&c.nodes[0].ns.path(), &[]);
    for node in c.node_objects() {
        let status = serde_json::json!({"status": node["status"]}).to_string();
        let name = node["metadata"]["name"].as_str().unwrap().to_owned();
        let file = c.nodes[0].dir.path().join(format!("{name}.json"));
        std::fs::write(&file, node.to_string()).unwrap();
        cp.kubectl_ok(&["create", "-f", file.to_str().unwrap()]);
        cp.kubectl_ok(&[
            "patch",
            "node",
            &name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status,
        ]);
    }
    c.nodes[0].agent_cfg.kubeconfig = Some(cp.kubeconfig());
    c.start_agents();
    let (n1, n2) = (&c.nodes[0], &c.nodes[1]);
    let a = n1.add_pod("a");
    let b = n2.add_pod("b");
    assert_eq!(a.greet(b.ip).as_deref(), Ok("b"));
    assert_eq!(b.greet(a.ip).as_deref(), Ok("a"));

    cp.kubectl_ok(&["delete", "node", &n2.name]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = n1.dbg(&["routes", "-o", "json"]);
        let routes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if routes == serde_json::json!([]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node 1 still routes to the deleted node: {routes}\n{}",
            n1.agent.as_ref().unwrap().log_tail()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
