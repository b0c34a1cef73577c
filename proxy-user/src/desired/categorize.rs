//! Choosing the backends of a cluster IP frontend, following upstream's
//! `CategorizeEndpoints` (pkg/proxy/topology.go) for internal traffic.

use super::endpoints::Endpoint;
use super::policy::Policy;
use super::{Backend, NodeInfo};

/// The backends, sorted and de-duplicated. Empty means nothing to balance
/// over: the socket programs refuse the connection at once (where kube-proxy's
/// rules would drop the packets of a Local service and let the client time out).
pub(crate) fn backends(endpoints: &[Endpoint], policy: &Policy, node: &NodeInfo) -> Vec<Backend> {
    let mut out = if policy.local_only {
        local(endpoints, node)
    } else {
        cluster(endpoints, policy, node)
    };
    out.sort();
    out.dedup();
    out
}

/// Ready endpoints (topology permitting); failing that, serving-terminating
/// ones anywhere, so connections drain gracefully instead of failing. Topology
/// is not re-applied to the fallback: no ready endpoint exists anywhere then.
fn cluster(endpoints: &[Endpoint], policy: &Policy, node: &NodeInfo) -> Vec<Backend> {
    let topology = if policy.topology_aware {
        Topology::from_hints(endpoints, node)
    } else {
        Topology::Any
    };
    let ready: Vec<Backend> = endpoints
        .iter()
        .filter(|ep| ep.ready && topology.allows(ep))
        .map(|ep| backend(ep, false))
        .collect();
    if !ready.is_empty() {
        return ready;
    }
    serving_terminating(endpoints.iter())
}

/// internalTrafficPolicy Local: this node's endpoints only, with the same
/// ready-then-terminating fallback; topology hints do not apply.
fn local(endpoints: &[Endpoint], node: &NodeInfo) -> Vec<Backend> {
    // An unnamed node is local to nothing, as upstream's isLocal.
    let is_local = |ep: &&Endpoint| {
        !node.name.is_empty() && ep.node_name.as_deref() == Some(node.name.as_str())
    };
    let ready: Vec<Backend> = endpoints
        .iter()
        .filter(is_local)
        .filter(|ep| ep.ready)
        .map(|ep| backend(ep, false))
        .collect();
    if !ready.is_empty() {
        return ready;
    }
    serving_terminating(endpoints.iter().filter(is_local))
}

fn serving_terminating<'a>(endpoints: impl Iterator<Item = &'a Endpoint>) -> Vec<Backend> {
    endpoints
        .filter(|ep| ep.serving && ep.terminating)
        .map(|ep| backend(ep, true))
        .collect()
}

fn backend(ep: &Endpoint, terminating: bool) -> Backend {
    Backend {
        ip: ep.ip,
        port: ep.port,
        terminating,
    }
}

/// upstream's topologyMode: which hints restrict the ready endpoints.
enum Topology<'a> {
    Any,
    SameNode(&'a str),
    SameZone(&'a str),
}

impl<'a> Topology<'a> {
    /// Hints are all-or-nothing: one ready endpoint without hints (the
    /// controller is mid-update or gave up) means none are trusted, and hints
    /// that name no endpoint for us would leave this node with nothing.
    /// Node hints win over zone hints (PreferSameNode falls back to zone).
    fn from_hints(endpoints: &[Endpoint], node: &'a NodeInfo) -> Self {
        let ready: Vec<&Endpoint> = endpoints.iter().filter(|ep| ep.ready).collect();
        if ready.is_empty() {
            return Topology::Any;
        }
        let usable = |hints: fn(&Endpoint) -> &std::collections::BTreeSet<String>, want: &str| {
            ready.iter().all(|ep| !hints(ep).is_empty())
                && ready.iter().any(|ep| hints(ep).contains(want))
        };
        if !node.name.is_empty() && usable(|ep| &ep.node_hints, &node.name) {
            return Topology::SameNode(&node.name);
        }
        match node.zone.as_deref() {
            Some(zone) if !zone.is_empty() && usable(|ep| &ep.zone_hints, zone) => {
                Topology::SameZone(zone)
            }
            _ => Topology::Any,
        }
    }

    fn allows(&self, ep: &Endpoint) -> bool {
        match self {
            Topology::Any => true,
            Topology::SameNode(node) => ep.node_hints.contains(*node),
            Topology::SameZone(zone) => ep.zone_hints.contains(*zone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::show;
    use super::*;

    const NODE: &str = "test-node";

    fn ep(ip: &str) -> Endpoint {
        Endpoint::test(ip)
    }

    struct Case {
        name: &'static str,
        zone: Option<&'static str>,
        topology_aware: bool,
        local_only: bool,
        endpoints: Vec<Endpoint>,
        want: &'static [&'static str],
    }

    impl Default for Case {
        fn default() -> Self {
            Case {
                name: "",
                zone: Some("zone-a"),
                topology_aware: false,
                local_only: false,
                endpoints: Vec::new(),
                want: &[],
            }
        }
    }

    /// The four-endpoint zone layout most upstream topology cases share.
    fn abca() -> Vec<Endpoint> {
        vec![
            ep("10.1.2.3").zones(&["zone-a"]),
            ep("10.1.2.4").zones(&["zone-b"]),
            ep("10.1.2.5").zones(&["zone-c"]),
            ep("10.1.2.6").zones(&["zone-a"]),
        ]
    }

    /// Cases from upstream TestCategorizeEndpoints (cluster endpoints, or
    /// local endpoints for internalTrafficPolicy Local), plus the endpoint
    /// sets of nftables TestInternalTrafficPolicy and
    /// TestTerminatingEndpointsTrafficPolicy{Cluster,Local}.
    fn cases() -> Vec<Case> {
        vec![
            Case {
                name: "hints enabled, hints annotation == auto",
                topology_aware: true,
                endpoints: abca(),
                want: &["10.1.2.3:80", "10.1.2.6:80"],
                ..Case::default()
            },
            Case {
                name: "hints present but service did not opt in (annotation empty/disabled/aUto): ignored",
                endpoints: abca(),
                want: &["10.1.2.3:80", "10.1.2.4:80", "10.1.2.5:80", "10.1.2.6:80"],
                ..Case::default()
            },
            Case {
                name: "externalTrafficPolicy: Local does not change cluster endpoints (topology still applies)",
                topology_aware: true,
                endpoints: vec![
                    ep("10.1.2.3").zones(&["zone-a"]).on(NODE),
                    ep("10.1.2.4").zones(&["zone-b"]).on(NODE),
                    ep("10.1.2.5").zones(&["zone-c"]),
                    ep("10.1.2.6").zones(&["zone-a"]),
                ],
                want: &["10.1.2.3:80", "10.1.2.6:80"],
                ..Case::default()
            },
            Case {
                name: "internalTrafficPolicy: Local, topology ignored for Local endpoints",
                topology_aware: true,
                local_only: true,
                endpoints: vec![
                    ep("10.1.2.3").zones(&["zone-a"]).on(NODE),
                    ep("10.1.2.4").zones(&["zone-b"]).on(NODE),
                    ep("10.1.2.5").zones(&["zone-c"]),
                    ep("10.1.2.6").zones(&["zone-a"]),
                ],
                want: &["10.1.2.3:80", "10.1.2.4:80"],
                ..Case::default()
            },
            Case {
                name: "empty node labels",
                zone: None,
                topology_aware: true,
                endpoints: vec![ep("10.1.2.3").zones(&["zone-a"])],
                want: &["10.1.2.3:80"],
                ..Case::default()
            },
            Case {
                name: "empty zone label",
                zone: Some(""),
                topology_aware: true,
                endpoints: vec![ep("10.1.2.3").zones(&["zone-a"])],
                want: &["10.1.2.3:80"],
                ..Case::default()
            },
            Case {
                name: "node in different zone, no endpoint filtering",
                zone: Some("zone-b"),
                topology_aware: true,
                endpoints: vec![ep("10.1.2.3").zones(&["zone-a"])],
                want: &["10.1.2.3:80"],
                ..Case::default()
            },
            Case {
                name: "unready endpoint",
                topology_aware: true,
                endpoints: vec![
                    ep("10.1.2.3").zones(&["zone-a"]),
                    ep("10.1.2.4").zones(&["zone-b"]),
                    ep("10.1.2.5").zones(&["zone-c"]),
                    ep("10.1.2.6").zones(&["zone-a"]).cond(false, false, false),
                ],
                want: &["10.1.2.3:80"],
                ..Case::default()
            },
            Case {
                name: "only unready endpoints in same zone (should not filter)",
                topology_aware: true,
                endpoints: vec![
                    ep("10.1.2.3").zones(&["zone-a"]).cond(false, false, false),
                    ep("10.1.2.4").zones(&["zone-b"]),
                    ep("10.1.2.5").zones(&["zone-c"]),
                    ep("10.1.2.6").zones(&["zone-a"]).cond(false, false, false),
                ],
                want: &["10.1.2.4:80", "10.1.2.5:80"],
                ..Case::default()
            },
            Case {
                name: "missing hints, no filtering applied",
                topology_aware: true,
                endpoints: vec![
                    ep("10.1.2.3").zones(&["zone-a"]),
                    ep("10.1.2.4").zones(&["zone-b"]),
                    ep("10.1.2.5"),
                    ep("10.1.2.6").zones(&["zone-a"]),
                ],
                want: &["10.1.2.3:80", "10.1.2.4:80", "10.1.2.5:80", "10.1.2.6:80"],
                ..Case::default()
            },
            Case {
                name: "unready endpoint without hints does not disable hints",
                topology_aware: true,
                endpoints: vec![
                    ep("10.1.2.3").zones(&["zone-a"]),
                    ep("10.1.2.4").zones(&["zone-b"]),
                    ep("10.1.2.5").cond(false, false, false),
                ],
                want: &["10.1.2.3:80"],
                ..Case::default()
            },
            Case {
                name: "multiple hints per endpoint, filtering includes any endpoint with zone included",
                zone: Some("zone-c"),
                topology_aware: true,
                endpoints: vec![
                    ep("10.1.2.3").zones(&["zone-a", "zone-b", "zone-c"]),
                    ep("10.1.2.4").zones(&["zone-b", "zone-c"]),
                    ep("10.1.2.5").zones(&["zone-b", "zone-d"]),
                    ep("10.1.2.6").zones(&["zone-c"]),
                ],
                want: &["10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"],
                ..Case::default()
            },
            Case {
                name: "PreferSameNode: node hints win over zone hints",
                topology_aware: true,
                endpoints: vec![
                    ep("10.1.2.3").zones(&["zone-a"]).nodes(&[NODE]),
                    ep("10.1.2.4").zones(&["zone-a"]).nodes(&["node-2"]),
                    ep("10.1.2.5").zones(&["zone-b"]).nodes(&["node-3"]),
                ],
                want: &["10.1.2.3:80"],
                ..Case::default()
            },
            Case {
                name: "PreferSameNode: no hint for this node falls back to zone hints",
                topology_aware: true,
                endpoints: vec![
                    ep("10.1.2.3").zones(&["zone-a"]).nodes(&["node-1"]),
                    ep("10.1.2.4").zones(&["zone-a"]).nodes(&["node-2"]),
                    ep("10.1.2.5").zones(&["zone-b"]).nodes(&["node-3"]),
                ],
                want: &["10.1.2.3:80", "10.1.2.4:80"],
                ..Case::default()
            },
            Case {
                name: "topology: no ready endpoints, terminating fallback ignores hints",
                topology_aware: true,
                endpoints: vec![
                    ep("10.1.2.3").zones(&["zone-a"]).cond(false, true, true),
                    ep("10.1.2.4").zones(&["zone-b"]).cond(false, true, true),
                ],
                want: &["10.1.2.3:80 terminating", "10.1.2.4:80 terminating"],
                ..Case::default()
            },
            Case {
                name: "internalTrafficPolicy: Local, with empty endpoints",
                local_only: true,
                want: &[],
                ..Case::default()
            },
            Case {
                name: "internalTrafficPolicy: Local, but all endpoints are remote",
                local_only: true,
                endpoints: vec![ep("10.0.0.0"), ep("10.0.0.1")],
                want: &[],
                ..Case::default()
            },
            Case {
                name: "internalTrafficPolicy: Local, all endpoints are local",
                local_only: true,
                endpoints: vec![ep("10.0.0.0").on(NODE), ep("10.0.0.1").on(NODE)],
                want: &["10.0.0.0:80", "10.0.0.1:80"],
                ..Case::default()
            },
            Case {
                name: "internalTrafficPolicy: Local, some endpoints are local",
                local_only: true,
                endpoints: vec![ep("10.0.0.0").on(NODE), ep("10.0.0.1")],
                want: &["10.0.0.0:80"],
                ..Case::default()
            },
            Case {
                name: "Cluster traffic policy, endpoints not Ready",
                endpoints: vec![
                    ep("10.0.0.0").cond(false, false, false),
                    ep("10.0.0.1").cond(false, false, false),
                ],
                want: &[],
                ..Case::default()
            },
            Case {
                name: "Cluster traffic policy, some endpoints are Ready",
                endpoints: vec![ep("10.0.0.0").cond(false, false, false), ep("10.0.0.1")],
                want: &["10.0.0.1:80"],
                ..Case::default()
            },
            Case {
                name: "Cluster traffic policy, all endpoints are terminating",
                endpoints: vec![
                    ep("10.0.0.0").cond(false, true, true).on(NODE),
                    ep("10.0.0.1").cond(false, true, true),
                ],
                want: &["10.0.0.0:80 terminating", "10.0.0.1:80 terminating"],
                ..Case::default()
            },
            Case {
                name: "serving but not terminating is never a fallback",
                endpoints: vec![ep("10.0.0.0").cond(false, true, false)],
                want: &[],
                ..Case::default()
            },
            Case {
                name: "iTP: Local, all endpoints remote and terminating",
                local_only: true,
                endpoints: vec![
                    ep("10.0.0.0").cond(false, true, true),
                    ep("10.0.0.1").cond(false, true, true),
                ],
                want: &[],
                ..Case::default()
            },
            Case {
                name: "iTP: Local, local ready wins over local terminating",
                local_only: true,
                endpoints: vec![
                    ep("10.0.0.0").on(NODE),
                    ep("10.0.0.1").cond(false, true, true).on(NODE),
                    ep("10.0.0.2"),
                ],
                want: &["10.0.0.0:80"],
                ..Case::default()
            },
            Case {
                name: "iTP: Local, only local terminating: used even though a remote one is ready",
                local_only: true,
                endpoints: vec![
                    ep("10.0.0.0"),
                    ep("10.0.0.1").cond(false, false, false).on(NODE),
                    ep("10.0.0.2").cond(false, true, true).on(NODE),
                    ep("10.0.0.3").cond(false, true, true),
                ],
                want: &["10.0.0.2:80 terminating"],
                ..Case::default()
            },
            Case {
                name: "nftables terminating/cluster: ready endpoints exist",
                endpoints: vec![
                    ep("10.0.1.1").on(NODE),
                    ep("10.0.1.2").on(NODE),
                    ep("10.0.1.3").cond(false, true, true),
                    ep("10.0.1.4").cond(false, false, true),
                    ep("10.0.1.5"),
                ],
                want: &["10.0.1.1:80", "10.0.1.2:80", "10.0.1.5:80"],
                ..Case::default()
            },
            Case {
                name: "nftables terminating/cluster: only terminating endpoints exist",
                endpoints: vec![
                    ep("10.0.1.2").cond(false, true, true).on(NODE),
                    ep("10.0.1.3").cond(false, true, true).on(NODE),
                    ep("10.0.1.4").cond(false, false, true),
                    ep("10.0.1.5").cond(false, true, true),
                ],
                want: &[
                    "10.0.1.2:80 terminating",
                    "10.0.1.3:80 terminating",
                    "10.0.1.5:80 terminating",
                ],
                ..Case::default()
            },
        ]
    }

    #[test]
    fn categorize_table() {
        for case in cases() {
            let policy = Policy {
                local_only: case.local_only,
                affinity_timeout: None,
                topology_aware: case.topology_aware,
            };
            let node = NodeInfo {
                name: NODE.into(),
                zone: case.zone.map(str::to_string),
            };
            let got = backends(&case.endpoints, &policy, &node);
            assert_eq!(show(&got), case.want, "{}", case.name);
        }
    }

    #[test]
    fn unnamed_node_has_no_local_endpoints() {
        let policy = Policy {
            local_only: true,
            ..Policy::default()
        };
        let eps = [ep("10.0.0.0").on("")];
        assert_eq!(
            show(&backends(&eps, &policy, &NodeInfo::default())),
            Vec::<String>::new()
        );
    }
}
