//! Desired state: a pure function from Kubernetes objects to the load-balancing
//! entries a node must program. No I/O here; the map writer turns the result
//! into map updates, so every rule below is tested as a table.

mod categorize;
mod endpoints;
mod family;
mod policy;
mod ports;
mod skip;

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use family::Family;
use policy::Policy;

/// L4 protocol of a service port. SCTP is not balanced at the socket level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// What a client connects to: one (address, port, protocol) of a Service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Frontend {
    pub ip: IpAddr,
    pub port: u16,
    pub protocol: Protocol,
}

/// One endpoint address a frontend balances over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Backend {
    pub ip: IpAddr,
    pub port: u16,
    /// Serving but terminating: used only because no ready endpoint is left.
    pub terminating: bool,
}

/// Everything the node programs for one frontend.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ServiceEntry {
    /// `namespace/name:portName` (`namespace/name` for an unnamed port), as
    /// kube-proxy names a service port.
    pub name: String,
    /// Sorted and de-duplicated. Empty means: refuse connections.
    pub backends: Vec<Backend>,
    /// sessionAffinity ClientIP timeout in seconds.
    pub affinity_timeout: Option<u32>,
    /// internalTrafficPolicy: Local.
    pub local_only: bool,
}

/// The whole node's load-balancing state.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DesiredState {
    pub services: BTreeMap<Frontend, ServiceEntry>,
}

/// What of the node the rules depend on.
#[derive(Clone, Debug, Default)]
pub struct NodeInfo {
    pub name: String,
    /// `topology.kubernetes.io/zone` of this node, for topology hints.
    pub zone: Option<String>,
}

/// Slices bind to their service by this label, within its namespace.
const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";

/// The load-balancing entries this node programs for cluster IP traffic.
/// Takes the objects by reference or shared (`Arc`, as the watch caches hold
/// them), so a sync never copies them.
pub fn compute<S, E>(services: &[S], slices: &[E], node: &NodeInfo) -> DesiredState
where
    S: Borrow<Service>,
    E: Borrow<EndpointSlice>,
{
    let by_service = slices_by_service(slices);
    let mut state = DesiredState::default();
    let services = services.iter().map(Borrow::borrow);
    for svc in services.filter(|svc| skip::is_proxied(svc)) {
        let ns = svc.metadata.namespace.as_deref().unwrap_or("");
        let name = svc.metadata.name.as_deref().unwrap_or("");
        let svc_slices = by_service
            .get(&(ns, name))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let policy = Policy::of(svc);
        let cluster_ips = family::cluster_ips(svc);
        let svc_ports = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .into_iter()
            .flatten();
        for svc_port in svc_ports {
            let (Some(protocol), Some(port)) = (
                ports::protocol(svc_port.protocol.as_deref()),
                ports::number(svc_port.port),
            ) else {
                continue;
            };
            let port_name = svc_port.name.as_deref().unwrap_or("");
            let entry_name = match port_name {
                "" => format!("{ns}/{name}"),
                _ => format!("{ns}/{name}:{port_name}"),
            };
            for &ip in &cluster_ips {
                let endpoints = endpoints::merge(svc_slices, Family::of(ip), port_name, protocol);
                let entry = ServiceEntry {
                    name: entry_name.clone(),
                    backends: categorize::backends(&endpoints, &policy, node),
                    affinity_timeout: policy.affinity_timeout,
                    local_only: policy.local_only,
                };
                // The API never lets two services share a cluster IP; should
                // stale input do so, keep the first rather than mix the two.
                state
                    .services
                    .entry(Frontend { ip, port, protocol })
                    .or_insert(entry);
            }
        }
    }
    state
}

/// Slices grouped by (namespace, service name), each group sorted by slice
/// name: the order decides between equally good duplicate endpoints, so it
/// must not depend on watch event order.
fn slices_by_service<E: Borrow<EndpointSlice>>(
    slices: &[E],
) -> BTreeMap<(&str, &str), Vec<&EndpointSlice>> {
    let mut map: BTreeMap<(&str, &str), Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in slices.iter().map(Borrow::borrow) {
        let service = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_SERVICE_NAME));
        let Some(service) = service.filter(|s| !s.is_empty()) else {
            continue;
        };
        let ns = slice.metadata.namespace.as_deref().unwrap_or("");
        map.entry((ns, service.as_str())).or_default().push(slice);
    }
    for group in map.values_mut() {
        group.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    }
    map
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::net::SocketAddr;

    /// `ip:port`, suffixed ` terminating` for a terminating fallback backend.
    pub(crate) fn show(backends: &[Backend]) -> Vec<String> {
        backends
            .iter()
            .map(|b| {
                let addr = SocketAddr::new(b.ip, b.port);
                if b.terminating {
                    format!("{addr} terminating")
                } else {
                    addr.to_string()
                }
            })
            .collect()
    }

    /// One line per frontend: `ip:port/PROTO name [backends] flags`.
    fn render(state: &DesiredState) -> Vec<String> {
        state
            .services
            .iter()
            .map(|(fe, e)| {
                let proto = match fe.protocol {
                    Protocol::Tcp => "TCP",
                    Protocol::Udp => "UDP",
                };
                let mut line = format!(
                    "{}/{proto} {} [{}]",
                    SocketAddr::new(fe.ip, fe.port),
                    e.name,
                    show(&e.backends).join(", ")
                );
                if let Some(t) = e.affinity_timeout {
                    line += &format!(" affinity={t}");
                }
                if e.local_only {
                    line += " local";
                }
                line
            })
            .collect()
    }

    fn service(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "ns1", "name": name}, "spec": spec})
    }

    /// Merges `meta` into the object's metadata (labels, annotations, namespace).
    fn with_meta(mut obj: Value, meta: Value) -> Value {
        for (k, v) in meta.as_object().unwrap() {
            obj["metadata"][k] = v.clone();
        }
        obj
    }

    fn slice(
        service: &str,
        name: &str,
        address_type: &str,
        ports: Value,
        endpoints: Value,
    ) -> Value {
        json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"namespace": "ns1", "name": name, "labels": {LABEL_SERVICE_NAME: service}},
            "addressType": address_type,
            "ports": ports,
            "endpoints": endpoints,
        })
    }

    /// The slice port for an unnamed TCP service port 80.
    fn p80() -> Value {
        json!([{"name": "", "port": 80, "protocol": "TCP"}])
    }

    fn svc80(name: &str, cluster_ip: &str) -> Value {
        service(
            name,
            json!({"clusterIP": cluster_ip, "ports": [{"port": 80, "protocol": "TCP"}]}),
        )
    }

    /// Ready endpoints on the given nodes.
    fn ready_on(eps: &[(&str, &str)]) -> Value {
        eps.iter()
            .map(|(ip, node)| json!({"addresses": [ip], "conditions": {"ready": true}, "nodeName": node}))
            .collect()
    }

    struct Case {
        name: &'static str,
        services: Vec<Value>,
        slices: Vec<Value>,
        want: &'static [&'static str],
    }

    fn cases() -> Vec<Case> {
        vec![
            Case {
                // nftables TestOverallNFTablesRules, svc1 and svc6
                name: "named port; a service without endpoints still gets a frontend",
                services: vec![
                    service("svc1", json!({"clusterIP": "172.30.0.41", "ports": [{"name": "p80", "port": 80, "protocol": "TCP"}]})),
                    service(
                        "svc6",
                        json!({"type": "ClusterIP", "clusterIP": "172.30.0.46", "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "targetPort": 80}]}),
                    ),
                ],
                slices: vec![slice(
                    "svc1",
                    "svc1-1",
                    "IPv4",
                    json!([{"name": "p80", "port": 80, "protocol": "TCP"}]),
                    json!([{"addresses": ["10.180.0.1"]}]),
                )],
                want: &["172.30.0.41:80/TCP ns1/svc1:p80 [10.180.0.1:80]", "172.30.0.46:80/TCP ns1/svc6:p80 []"],
            },
            Case {
                name: "several slices merged, duplicates across slices kept once",
                services: vec![svc80("svc1", "172.30.1.1")],
                slices: vec![
                    slice("svc1", "svc1-1", "IPv4", p80(), ready_on(&[("10.0.1.1", "n1"), ("10.0.1.2", "n2")])),
                    slice("svc1", "svc1-2", "IPv4", p80(), ready_on(&[("10.0.1.3", "n3"), ("10.0.1.1", "n1")])),
                    slice("svc1", "svc1-3", "IPv4", p80(), json!([])),
                ],
                want: &["172.30.1.1:80/TCP ns1/svc1 [10.0.1.1:80, 10.0.1.2:80, 10.0.1.3:80]"],
            },
            Case {
                name: "named targetPort resolved per slice: each pod keeps its own port",
                services: vec![service(
                    "web",
                    json!({"clusterIP": "172.30.1.2", "ports": [{"name": "http", "port": 80, "targetPort": "web"}]}),
                )],
                slices: vec![
                    slice("web", "web-a", "IPv4", json!([{"name": "http", "port": 8080, "protocol": "TCP"}]), json!([{"addresses": ["10.0.2.1"]}])),
                    slice("web", "web-b", "IPv4", json!([{"name": "http", "port": 9090, "protocol": "TCP"}]), json!([{"addresses": ["10.0.2.2"]}])),
                ],
                want: &["172.30.1.2:80/TCP ns1/web:http [10.0.2.1:8080, 10.0.2.2:9090]"],
            },
            Case {
                name: "multi-port: joined on name and protocol; SCTP and port-less slice ports skipped",
                services: vec![service(
                    "dns",
                    json!({"clusterIP": "172.30.0.10", "ports": [
                        {"name": "dns", "port": 53, "protocol": "UDP"},
                        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                        {"name": "metrics", "port": 9153, "protocol": "TCP"},
                        {"name": "sctp", "port": 9999, "protocol": "SCTP"},
                    ]}),
                )],
                slices: vec![slice(
                    "dns",
                    "dns-1",
                    "IPv4",
                    json!([
                        {"name": "dns", "port": 5353, "protocol": "UDP"},
                        {"name": "dns-tcp", "port": 5354, "protocol": "TCP"},
                        {"name": "metrics", "protocol": "TCP"},
                        {"name": "sctp", "port": 9999, "protocol": "SCTP"},
                    ]),
                    json!([{"addresses": ["10.0.3.1"]}, {"addresses": ["10.0.3.2"]}]),
                )],
                want: &[
                    "172.30.0.10:53/TCP ns1/dns:dns-tcp [10.0.3.1:5354, 10.0.3.2:5354]",
                    "172.30.0.10:53/UDP ns1/dns:dns [10.0.3.1:5353, 10.0.3.2:5353]",
                    "172.30.0.10:9153/TCP ns1/dns:metrics []",
                ],
            },
            Case {
                name: "dual-stack: each cluster IP gets only its own family; FQDN slices ignored",
                services: vec![service(
                    "ds",
                    json!({"clusterIP": "172.30.1.3", "clusterIPs": ["172.30.1.3", "fd00:10:96::3"], "ipFamilies": ["IPv4", "IPv6"], "ports": [{"port": 80}]}),
                )],
                slices: vec![
                    slice("ds", "ds-v4", "IPv4", p80(), json!([{"addresses": ["10.0.4.1"]}])),
                    slice("ds", "ds-v6", "IPv6", p80(), json!([{"addresses": ["fd00:10::4:1"]}, {"addresses": ["fd00:10::4:2"]}])),
                    slice("ds", "ds-fqdn", "FQDN", p80(), json!([{"addresses": ["pod.example.com"]}])),
                ],
                want: &[
                    "172.30.1.3:80/TCP ns1/ds [10.0.4.1:80]",
                    "[fd00:10:96::3]:80/TCP ns1/ds [[fd00:10::4:1]:80, [fd00:10::4:2]:80]",
                ],
            },
            Case {
                name: "single-stack IPv6 ignores IPv4 slices",
                services: vec![svc80("v6", "fd00:10:96::6")],
                slices: vec![
                    slice("v6", "v6-a", "IPv4", p80(), json!([{"addresses": ["10.0.5.1"]}])),
                    slice("v6", "v6-b", "IPv6", p80(), json!([{"addresses": ["fd00:10::5:1"]}])),
                ],
                want: &["[fd00:10:96::6]:80/TCP ns1/v6 [[fd00:10::5:1]:80]"],
            },
            Case {
                name: "headless, ExternalName, service-proxy-name and headless-labelled services are skipped",
                services: vec![
                    service("headless", json!({"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 80}]})),
                    service("ext", json!({"type": "ExternalName", "externalName": "db.example.com", "ports": [{"port": 80}]})),
                    with_meta(
                        svc80("other-proxy", "172.30.1.5"),
                        json!({"labels": {"service.kubernetes.io/service-proxy-name": "foo-bar"}}),
                    ),
                    with_meta(svc80("labelled", "172.30.1.6"), json!({"labels": {"service.kubernetes.io/headless": ""}})),
                    svc80("kept", "172.30.1.7"),
                ],
                slices: ["headless", "ext", "other-proxy", "labelled", "kept"]
                    .iter()
                    .map(|s| slice(s, &format!("{s}-1"), "IPv4", p80(), json!([{"addresses": ["10.0.6.1"]}])))
                    .collect(),
                want: &["172.30.1.7:80/TCP ns1/kept [10.0.6.1:80]"],
            },
            Case {
                name: "slices of another namespace, another service or without the label are ignored",
                services: vec![svc80("svc1", "172.30.1.8")],
                slices: vec![
                    with_meta(slice("svc1", "a", "IPv4", p80(), json!([{"addresses": ["10.0.7.1"]}])), json!({"namespace": "ns2"})),
                    slice("svc2", "b", "IPv4", p80(), json!([{"addresses": ["10.0.7.2"]}])),
                    with_meta(slice("svc1", "c", "IPv4", p80(), json!([{"addresses": ["10.0.7.3"]}])), json!({"labels": {}})),
                    slice("svc1", "d", "IPv4", p80(), json!([{"addresses": ["10.0.7.4"]}])),
                ],
                want: &["172.30.1.8:80/TCP ns1/svc1 [10.0.7.4:80]"],
            },
            Case {
                name: "invalid cluster IPs and endpoint addresses are ignored",
                services: vec![
                    service("bad", json!({"clusterIP": "172.30.1.999", "ports": [{"port": 80}]})),
                    service("mixed", json!({"clusterIPs": ["bogus", "172.30.1.9"], "ports": [{"port": 80}, {"port": 0}]})),
                ],
                slices: vec![slice(
                    "mixed",
                    "mixed-1",
                    "IPv4",
                    p80(),
                    json!([{"addresses": ["10.0.8.1"]}, {"addresses": ["10.0.8.x"]}, {"addresses": []}]),
                )],
                want: &["172.30.1.9:80/TCP ns1/mixed [10.0.8.1:80]"],
            },
            Case {
                // nftables TestInternalTrafficPolicy, "one local endpoint"
                name: "internalTrafficPolicy Local: only this node's endpoints",
                services: vec![service(
                    "svc1",
                    json!({"clusterIP": "172.30.1.1", "internalTrafficPolicy": "Local", "ports": [{"port": 80}]}),
                )],
                slices: vec![slice(
                    "svc1",
                    "svc1-1",
                    "IPv4",
                    p80(),
                    ready_on(&[("10.0.1.1", "test-node"), ("10.0.1.2", "node1"), ("10.0.1.3", "node2")]),
                )],
                want: &["172.30.1.1:80/TCP ns1/svc1 [10.0.1.1:80] local"],
            },
            Case {
                // nftables TestInternalTrafficPolicy, "no local endpoints": upstream drops
                name: "internalTrafficPolicy Local without local endpoints: no backends",
                services: vec![service(
                    "svc1",
                    json!({"clusterIP": "172.30.1.1", "internalTrafficPolicy": "Local", "ports": [{"port": 80}]}),
                )],
                slices: vec![slice(
                    "svc1",
                    "svc1-1",
                    "IPv4",
                    p80(),
                    ready_on(&[("10.0.1.1", "node0"), ("10.0.1.2", "node1"), ("10.0.1.3", "node2")]),
                )],
                want: &["172.30.1.1:80/TCP ns1/svc1 [] local"],
            },
            Case {
                // nftables TestTerminatingEndpointsTrafficPolicyLocal "only terminating endpoints exist",
                // pod-to-clusterIP flow (internal policy is Cluster there)
                name: "terminating fallback is not used while a remote endpoint is ready; nil serving means serving, as upstream reads it",
                services: vec![svc80("svc1", "172.30.1.1"), svc80("svc2", "172.30.1.2")],
                slices: vec![
                    slice(
                        "svc1",
                        "svc1-1",
                        "IPv4",
                        p80(),
                        json!([
                            {"addresses": ["10.0.1.2"], "conditions": {"ready": false, "serving": true, "terminating": true}, "nodeName": "test-node"},
                            {"addresses": ["10.0.1.3"], "conditions": {"ready": false, "serving": true, "terminating": true}, "nodeName": "test-node"},
                            {"addresses": ["10.0.1.4"], "conditions": {"ready": false, "serving": false, "terminating": true}, "nodeName": "test-node"},
                            {"addresses": ["10.0.1.5"], "conditions": {"ready": true, "serving": true, "terminating": false}, "nodeName": "node-1"},
                        ]),
                    ),
                    slice(
                        "svc2",
                        "svc2-1",
                        "IPv4",
                        p80(),
                        json!([
                            {"addresses": ["10.0.2.1"], "conditions": {"ready": false, "terminating": true}},
                            {"addresses": ["10.0.2.2"], "conditions": {"ready": false, "serving": true, "terminating": true}},
                        ]),
                    ),
                ],
                want: &["172.30.1.1:80/TCP ns1/svc1 [10.0.1.5:80]", "172.30.1.2:80/TCP ns1/svc2 [10.0.2.1:80 terminating, 10.0.2.2:80 terminating]"],
            },
            Case {
                name: "session affinity ClientIP, default and explicit timeout",
                services: vec![
                    service("a", json!({"clusterIP": "172.30.0.45", "sessionAffinity": "ClientIP", "ports": [{"name": "p80", "port": 80}]})),
                    service(
                        "b",
                        json!({"clusterIP": "172.30.0.46", "sessionAffinity": "ClientIP",
                               "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 300}}, "ports": [{"port": 53, "protocol": "UDP"}]}),
                    ),
                ],
                slices: vec![],
                want: &["172.30.0.45:80/TCP ns1/a:p80 [] affinity=10800", "172.30.0.46:53/UDP ns1/b [] affinity=300"],
            },
            Case {
                name: "topology hints used only when the service opts in",
                services: vec![
                    with_meta(svc80("auto", "172.30.2.1"), json!({"annotations": {"service.kubernetes.io/topology-mode": "Auto"}})),
                    service("close", json!({"clusterIP": "172.30.2.2", "trafficDistribution": "PreferClose", "ports": [{"port": 80}]})),
                    svc80("plain", "172.30.2.3"),
                ],
                slices: ["auto", "close", "plain"]
                    .iter()
                    .map(|s| {
                        let eps = json!([
                            {"addresses": ["10.1.2.3"], "zone": "zone-a", "hints": {"forZones": [{"name": "zone-a"}]}},
                            {"addresses": ["10.1.2.4"], "zone": "zone-b", "hints": {"forZones": [{"name": "zone-b"}]}},
                        ]);
                        slice(s, &format!("{s}-1"), "IPv4", p80(), eps)
                    })
                    .collect(),
                want: &[
                    "172.30.2.1:80/TCP ns1/auto [10.1.2.3:80]",
                    "172.30.2.2:80/TCP ns1/close [10.1.2.3:80]",
                    "172.30.2.3:80/TCP ns1/plain [10.1.2.3:80, 10.1.2.4:80]",
                ],
            },
        ]
    }

    #[test]
    fn compute_table() {
        let node = NodeInfo {
            name: "test-node".into(),
            zone: Some("zone-a".into()),
        };
        for case in cases() {
            let services: Vec<Service> = case
                .services
                .into_iter()
                .map(|v| serde_json::from_value(v).unwrap())
                .collect();
            let slices: Vec<EndpointSlice> = case
                .slices
                .into_iter()
                .map(|v| serde_json::from_value(v).unwrap())
                .collect();
            assert_eq!(
                render(&compute(&services, &slices, &node)),
                case.want,
                "{}",
                case.name
            );
        }
    }
}
