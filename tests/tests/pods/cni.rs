//! The CNI plugin on one node: ADD, DEL, CHECK, VERSION, errors, IPAM, the
//! same-node redirect, loopback.

use std::net::Ipv4Addr;

use serde_json::json;
use skiff_e2e::netns::Netns;
use skiff_e2e::podnet::{Cluster, Invoke, unique};

fn node() -> Cluster {
    let mut c = Cluster::new(1, "vxlan");
    c.start_agents();
    c
}

#[test]
fn add_gives_the_pod_an_address_routes_and_a_reachable_interface() {
    let c = node();
    let n = &c.nodes[0];
    let conflist = n.conflist();
    assert_eq!(conflist["cniVersion"], "1.0.0");
    assert_eq!(conflist["plugins"][0]["type"], "skiff-cni");
    assert_eq!(conflist["plugins"][0]["podCIDR"], n.pod_cidr.as_str());
    assert_eq!(
        conflist["plugins"][0]["mtu"], 1450,
        "vxlan mode leaves room for the header"
    );

    let pod = n.add_pod("web");
    let r = &pod.result;
    assert_eq!(r["cniVersion"], "1.0.0");
    assert_eq!(r["ips"][0]["gateway"], "169.254.1.1");
    assert_eq!(r["ips"][0]["interface"], 1);
    assert_eq!(r["interfaces"][1]["name"], "eth0");
    assert_eq!(r["interfaces"][1]["sandbox"], pod.ns.path().as_str());
    assert_eq!(
        r["routes"],
        json!([{"dst": "0.0.0.0/0", "gw": "169.254.1.1"}])
    );
    assert!(pod.ip.to_string().starts_with("10.246.1."), "{}", pod.ip);
    let host_if = r["interfaces"][0]["name"].as_str().unwrap();

    let addrs = pod.ns.ip(&["-4", "-o", "addr", "show", "eth0"]);
    assert!(addrs.contains(&format!("{}/32", pod.ip)), "{addrs}");
    let link = pod.ns.ip(&["-o", "link", "show", "eth0"]);
    assert!(link.contains("mtu 1450"), "{link}");
    let routes = pod.ns.ip(&["-4", "route"]);
    assert!(
        routes.contains("default via 169.254.1.1 dev eth0"),
        "{routes}"
    );
    assert!(routes.contains("169.254.1.1 dev eth0"), "{routes}");
    let node_routes = n.ip(&["-4", "route"]);
    assert!(
        node_routes.contains(&format!("{} dev {host_if}", pod.ip)),
        "{node_routes}"
    );
    assert_eq!(
        n.read_sysctl(&format!("net/ipv4/conf/{host_if}/proxy_arp")),
        "1"
    );

    // The node reaches the pod through its route; the pod the node through
    // its gateway.
    let from_node = std::thread::spawn({
        let (ns, ip) = (n.ns.path(), pod.ip);
        move || {
            skiff_e2e::netns::enter(&ns);
            greet(ip)
        }
    })
    .join()
    .unwrap();
    assert_eq!(from_node.as_deref(), Ok("web"));

    n.invoke("CHECK", &pod.container, Some(&pod.ns.path()))
        .run()
        .ok();

    let out = n.dbg(&["endpoints"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        table.contains(&pod.ip.to_string()) && table.contains(host_if),
        "{table}"
    );
}

fn greet(ip: Ipv4Addr) -> Result<String, String> {
    use std::io::BufRead as _;
    let addr = std::net::SocketAddr::from((ip, skiff_e2e::podnet::POD_PORT));
    let s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3))
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    std::io::BufReader::new(s)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    Ok(line.trim().to_owned())
}

#[test]
fn pods_of_one_node_talk_through_the_redirect_with_forwarding_off() {
    let c = node();
    let n = &c.nodes[0];
    n.sysctl("net/ipv4/ip_forward", "0");
    assert_eq!(n.read_sysctl("net/ipv4/conf/all/forwarding"), "0");
    let a = n.add_pod("a");
    let b = n.add_pod("b");
    let before = n.counters()["local"];
    assert_eq!(a.greet(b.ip).as_deref(), Ok("b"));
    assert_eq!(b.greet(a.ip).as_deref(), Ok("a"));
    let after = n.counters()["local"];
    // A connection's packets both ways, each redirected by from_pod.
    assert!(
        after >= before + 6,
        "the redirect carried the packets: {before} -> {after}"
    );
}

#[test]
fn allocations_persist_across_runs_and_are_never_doubled() {
    let c = node();
    let n = &c.nodes[0];
    let pods: Vec<_> = (0..4).map(|i| n.add_pod(&format!("p{i}"))).collect();
    let mut ips: Vec<Ipv4Addr> = pods.iter().map(|p| p.ip).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 4, "four distinct addresses: {ips:?}");
    let files: Vec<String> = std::fs::read_dir(n.state_dir().join("skiff"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.parse::<Ipv4Addr>().is_ok())
        .collect();
    assert_eq!(files.len(), 4, "one file per address: {files:?}");

    // ADD again for a container that has an address: the same one.
    let again = n
        .invoke("ADD", &pods[1].container, Some(&pods[1].ns.path()))
        .run();
    assert_eq!(
        again.ok().json()["ips"][0]["address"],
        format!("{}/32", pods[1].ip)
    );

    // DEL frees; the next pod does not get the freed address at once.
    n.invoke("DEL", &pods[0].container, Some(&pods[0].ns.path()))
        .run()
        .ok();
    let next = n.add_pod("p4");
    assert!(!ips.contains(&next.ip), "{} is new", next.ip);
    assert_ne!(next.ip, pods[0].ip);
}

#[test]
fn del_releases_and_is_idempotent_also_without_the_namespace() {
    let c = node();
    let n = &c.nodes[0];
    let pod = n.add_pod("gone");
    let host_if = pod.result["interfaces"][0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let pin = n.pin_dir().join("pods").join(&host_if);
    assert!(pin.exists(), "the link is pinned at {}", pin.display());
    let ns_path = pod.ns.path();
    let container = pod.container.clone();
    let ip = pod.ip;
    // The runtime may delete the namespace before it calls DEL.
    drop(pod);

    for netns in [Some(ns_path.as_str()), None] {
        n.invoke("DEL", &container, netns).run().ok();
    }
    assert!(!pin.exists(), "the link is unpinned");
    assert!(
        !n.state_dir().join("skiff").join(ip.to_string()).exists(),
        "the address is free"
    );
    let eps = n.dbg(&["endpoints", "-o", "json"]);
    let eps: serde_json::Value = serde_json::from_slice(&eps.stdout).unwrap();
    assert_eq!(eps, json!([]), "the endpoint entry is gone");
    assert!(!n.ip(&["link"]).contains(&host_if));
}

#[test]
fn version_check_and_errors_answer_as_the_spec_says() {
    let c = node();
    let n = &c.nodes[0];
    let ns = Netns::create(&format!("sk-{}-err", unique()));
    let path = ns.path();

    let mut v = n.invoke("VERSION", "x", None);
    v.stdin = json!({"cniVersion": "1.0.0"}).to_string();
    let out = v.run();
    let info = out.ok().json();
    assert_eq!(info["cniVersion"], "1.0.0");
    assert!(
        info["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("1.0.0")),
        "{info}"
    );

    // CHECK of a container that was never added.
    let check = n.invoke("CHECK", "never-added", Some(&path)).run();
    assert_eq!(check.error_code(), 102, "{check:?}");

    // Not JSON on stdin.
    let mut bad = n.invoke("ADD", "c1", Some(&path));
    bad.stdin = "{".into();
    assert_eq!(bad.run().error_code(), 6);

    // A version the plugin does not speak.
    let mut old = n.invoke("ADD", "c1", Some(&path));
    let mut conf: serde_json::Value = serde_json::from_str(&old.stdin).unwrap();
    conf["cniVersion"] = json!("0.1.0");
    old.stdin = conf.to_string();
    assert_eq!(old.run().error_code(), 1);

    // No CNI_NETNS on ADD.
    assert_eq!(n.invoke("ADD", "c1", None).run().error_code(), 7);

    // A config without podCIDR.
    let mut partial = n.invoke("ADD", "c1", Some(&path));
    let mut conf: serde_json::Value = serde_json::from_str(&partial.stdin).unwrap();
    conf.as_object_mut().unwrap().remove("podCIDR");
    partial.stdin = conf.to_string();
    assert_eq!(partial.run().error_code(), 4);

    // No agent behind the pin directory: try again later.
    let mut early = n.invoke("ADD", "c1", Some(&path));
    let mut conf: serde_json::Value = serde_json::from_str(&early.stdin).unwrap();
    conf["pinDir"] = json!("/sys/fs/bpf/skiff/no-such-node");
    early.stdin = conf.to_string();
    let run = early.run();
    assert_eq!(run.error_code(), 11);
    assert!(
        run.json()["msg"]
            .as_str()
            .unwrap()
            .contains("agent is not running"),
        "{run:?}"
    );
    // Nothing was allocated for the failed ADDs.
    let taken = std::fs::read_dir(n.state_dir().join("skiff"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_str()
                    .unwrap()
                    .parse::<Ipv4Addr>()
                    .is_ok()
            })
            .count()
        })
        .unwrap_or(0);
    assert_eq!(taken, 0);
}

#[test]
fn loopback_brings_lo_up() {
    let c = node();
    let n = &c.nodes[0];
    let ns = Netns::create(&format!("sk-{}-lo", unique()));
    ns.ip(&["link", "set", "lo", "down"]);
    let path = ns.path();
    let stdin = json!({"cniVersion": "1.0.0", "name": "cni-loopback", "type": "loopback"});
    // containerd runs it from the bin directory by its type's name.
    let run = Invoke {
        node_ns: n.ns.path(),
        command: "ADD",
        container: "c-lo",
        netns: Some(&path),
        ifname: "lo",
        stdin: stdin.to_string(),
        program: "loopback",
    }
    .run();
    let v = run.ok().json();
    assert_eq!(v["interfaces"][0]["name"], "lo", "{v}");
    let lo = ns.ip(&["-o", "link", "show", "lo"]);
    assert!(lo.contains("UP"), "{lo}");
}

#[test]
fn a_restarted_agent_drops_endpoints_of_pods_gone_without_a_del() {
    let mut c = node();
    let kept = c.nodes[0].add_pod("kept");
    let gone = c.nodes[0].add_pod("gone");
    // The pod's veth vanishes and no DEL comes (a crashed runtime).
    let host_if = gone.result["interfaces"][0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    c.nodes[0].ip(&["link", "del", &host_if]);

    let n = &mut c.nodes[0];
    drop(n.agent.take());
    n.start_agent();
    n.conflist();
    let eps = n.dbg(&["endpoints", "-o", "json"]);
    let eps: serde_json::Value = serde_json::from_slice(&eps.stdout).unwrap();
    let ips: Vec<&str> = eps
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ip"].as_str().unwrap())
        .collect();
    assert_eq!(ips, [kept.ip.to_string()], "{eps}");
    assert!(
        !n.pin_dir().join("pods").join(&host_if).exists(),
        "the dead link's pin is gone"
    );
    assert_eq!(
        gone.greet(kept.ip).ok(),
        None,
        "the gone pod has no way out"
    );
}

#[test]
fn concurrent_adds_get_distinct_addresses() {
    let c = node();
    let n = &c.nodes[0];
    let pods: Vec<Netns> = (0..8)
        .map(|i| Netns::create(&format!("sk-{}-c{i}", unique())))
        .collect();
    let ips: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = pods
            .iter()
            .enumerate()
            .map(|(i, ns)| {
                s.spawn(move || {
                    let path = ns.path();
                    let id = format!("concurrent-{i}");
                    let out = n.invoke("ADD", &id, Some(&path)).run();
                    out.ok().json()["ips"][0]["address"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut distinct = ips.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 8, "{ips:?}");
    let eps = n.dbg(&["endpoints", "-o", "json"]);
    let eps: serde_json::Value = serde_json::from_slice(&eps.stdout).unwrap();
    assert_eq!(eps.as_array().unwrap().len(), 8, "{eps}");
}
