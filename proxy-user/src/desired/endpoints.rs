//! Merging a service's EndpointSlices into one endpoint list per service port
//! and IP family, as upstream's EndpointSliceCache does.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::discovery::v1::{Endpoint as SliceEndpoint, EndpointSlice};

use super::Protocol;
use super::family::Family;
use super::ports;

/// One (address, port) with the conditions and hints categorisation needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    pub node_name: Option<String>,
    pub zone_hints: BTreeSet<String>,
    pub node_hints: BTreeSet<String>,
}

impl Endpoint {
    fn from_slice(ep: &SliceEndpoint, family: Family, port: u16) -> Option<Self> {
        // Upstream balances over the first address only; the API allows no more.
        let ip: IpAddr = ep.addresses.first()?.parse().ok()?;
        // A slice's addressType is not enforced per address; never mix families.
        if Family::of(ip) != family {
            return None;
        }
        let conditions = ep.conditions.as_ref();
        let ready = conditions.and_then(|c| c.ready).unwrap_or(true);
        // As upstream kube-proxy reads it: ready=nil and serving=nil mean true.
        let serving = conditions.and_then(|c| c.serving).unwrap_or(true);
        let terminating = conditions.and_then(|c| c.terminating).unwrap_or(false);
        let hints = ep.hints.as_ref();
        let zone_hints = hints
            .and_then(|h| h.for_zones.as_ref())
            .into_iter()
            .flatten()
            .map(|z| z.name.clone())
            .collect();
        let node_hints = hints
            .and_then(|h| h.for_nodes.as_ref())
            .into_iter()
            .flatten()
            .map(|n| n.name.clone())
            .collect();
        Some(Endpoint {
            ip,
            port,
            ready,
            serving,
            terminating,
            node_name: ep.node_name.clone(),
            zone_hints,
            node_hints,
        })
    }

    /// Upstream prefers a non-terminating copy when an address shows up twice:
    /// a pod IP reused while the old pod is still terminating, or an endpoint
    /// caught moving between slices. Readiness breaks the remaining ties so
    /// the result does not depend on slice order.
    fn rank(&self) -> (bool, bool, bool) {
        (!self.terminating, self.ready, self.serving)
    }
}

/// All endpoints of `slices` (one service's) serving the service port
/// `name`/`protocol` in `family`, de-duplicated by address and port.
pub(crate) fn merge(
    slices: &[&EndpointSlice],
    family: Family,
    name: &str,
    protocol: Protocol,
) -> Vec<Endpoint> {
    let mut by_addr: BTreeMap<(IpAddr, u16), Endpoint> = BTreeMap::new();
    for slice in slices {
        if Family::of_address_type(&slice.address_type) != Some(family) {
            continue;
        }
        // Every matching slice port counts, each with its own number, as
        // upstream keys endpoints by (name, protocol) and then address:port.
        let port_numbers = slice
            .ports
            .iter()
            .flatten()
            .filter_map(|p| ports::backend_port(p, name, protocol));
        for port in port_numbers {
            for ep in slice.endpoints.iter().flatten() {
                let Some(ep) = Endpoint::from_slice(ep, family, port) else {
                    continue;
                };
                match by_addr.get(&(ep.ip, ep.port)) {
                    Some(kept) if kept.rank() >= ep.rank() => {}
                    _ => {
                        by_addr.insert((ep.ip, ep.port), ep);
                    }
                }
            }
        }
    }
    by_addr.into_values().collect()
}

#[cfg(test)]
impl Endpoint {
    /// Test builder: a ready endpoint on port 80 on another node.
    pub(crate) fn test(ip: &str) -> Self {
        Endpoint {
            ip: ip.parse().unwrap(),
            port: 80,
            ready: true,
            serving: true,
            terminating: false,
            node_name: Some("other-node".into()),
            zone_hints: BTreeSet::new(),
            node_hints: BTreeSet::new(),
        }
    }

    pub(crate) fn on(mut self, node: &str) -> Self {
        self.node_name = Some(node.into());
        self
    }

    pub(crate) fn zones(mut self, zones: &[&str]) -> Self {
        self.zone_hints = zones.iter().map(|z| z.to_string()).collect();
        self
    }

    pub(crate) fn nodes(mut self, nodes: &[&str]) -> Self {
        self.node_hints = nodes.iter().map(|n| n.to_string()).collect();
        self
    }

    /// ready, serving, terminating as given.
    pub(crate) fn cond(mut self, ready: bool, serving: bool, terminating: bool) -> Self {
        (self.ready, self.serving, self.terminating) = (ready, serving, terminating);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn slice(name: &str, address_type: &str, ports: Value, endpoints: Value) -> EndpointSlice {
        serde_json::from_value(json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"namespace": "ns1", "name": name, "labels": {"kubernetes.io/service-name": "svc1"}},
            "addressType": address_type,
            "ports": ports,
            "endpoints": endpoints,
        }))
        .unwrap()
    }

    fn p80() -> Value {
        json!([{"name": "", "port": 80, "protocol": "TCP"}])
    }

    /// (address:port, ready, serving, terminating, node)
    fn show(eps: &[Endpoint]) -> Vec<(String, bool, bool, bool, Option<&str>)> {
        eps.iter()
            .map(|e| {
                let addr = std::net::SocketAddr::new(e.ip, e.port).to_string();
                (
                    addr,
                    e.ready,
                    e.serving,
                    e.terminating,
                    e.node_name.as_deref(),
                )
            })
            .collect()
    }

    #[test]
    fn merge_table() {
        type Want = &'static [(&'static str, bool, bool, bool, Option<&'static str>)];
        let cases: Vec<(&str, Vec<EndpointSlice>, Want)> = vec![
            (
                "conditions default, as upstream: ready nil = true, serving nil = true, terminating nil = false",
                vec![slice(
                    "a",
                    "IPv4",
                    p80(),
                    json!([
                        {"addresses": ["10.0.0.1"]},
                        {"addresses": ["10.0.0.2"], "conditions": {"ready": false}},
                        {"addresses": ["10.0.0.3"], "conditions": {"ready": false, "terminating": true}},
                    ]),
                )],
                &[
                    ("10.0.0.1:80", true, true, false, None),
                    ("10.0.0.2:80", false, true, false, None),
                    ("10.0.0.3:80", false, true, true, None),
                ],
            ),
            (
                // TestTerminatingEndpointsTrafficPolicyCluster "no usable endpoints on any node"
                "same address twice in one slice is kept once",
                vec![slice(
                    "a",
                    "IPv4",
                    p80(),
                    json!([
                        {"addresses": ["10.0.1.5"], "conditions": {"ready": false, "serving": false, "terminating": true}, "nodeName": "test-node"},
                        {"addresses": ["10.0.1.5"], "conditions": {"ready": false, "serving": false, "terminating": true}, "nodeName": "node-1"},
                    ]),
                )],
                &[("10.0.1.5:80", false, false, true, Some("test-node"))],
            ),
            (
                "reused pod IP: the running pod wins over the terminating one, whatever the slice order",
                vec![
                    slice(
                        "a",
                        "IPv4",
                        p80(),
                        json!([{"addresses": ["10.0.0.1"], "conditions": {"ready": false, "serving": true, "terminating": true}, "nodeName": "old"}]),
                    ),
                    slice(
                        "b",
                        "IPv4",
                        p80(),
                        json!([{"addresses": ["10.0.0.1"], "conditions": {"ready": true}, "nodeName": "new"}]),
                    ),
                    slice(
                        "c",
                        "IPv4",
                        p80(),
                        json!([{"addresses": ["10.0.0.1"], "conditions": {"ready": false, "serving": true, "terminating": true}, "nodeName": "old"}]),
                    ),
                ],
                &[("10.0.0.1:80", true, true, false, Some("new"))],
            ),
            (
                "same address on different ports stays distinct",
                vec![
                    slice("a", "IPv4", p80(), json!([{"addresses": ["10.0.0.1"]}])),
                    slice(
                        "b",
                        "IPv4",
                        json!([{"name": "", "port": 81}]),
                        json!([{"addresses": ["10.0.0.1"]}]),
                    ),
                ],
                &[
                    ("10.0.0.1:80", true, true, false, None),
                    ("10.0.0.1:81", true, true, false, None),
                ],
            ),
            (
                "other family, FQDN slices and bad addresses are ignored",
                vec![
                    slice("a", "IPv6", p80(), json!([{"addresses": ["fd00::1"]}])),
                    slice("b", "FQDN", p80(), json!([{"addresses": ["example.com"]}])),
                    slice(
                        "c",
                        "IPv4",
                        p80(),
                        json!([{"addresses": ["10.0.0.9"]}, {"addresses": ["fd00::2"]}, {"addresses": ["10.0.0.999"]}, {"addresses": []}]),
                    ),
                ],
                &[("10.0.0.9:80", true, true, false, None)],
            ),
        ];
        for (case, slices, want) in cases {
            let refs: Vec<&EndpointSlice> = slices.iter().collect();
            let got = merge(&refs, Family::V4, "", Protocol::Tcp);
            let want: Vec<_> = want
                .iter()
                .map(|(a, r, s, t, n)| (a.to_string(), *r, *s, *t, *n))
                .collect();
            assert_eq!(show(&got), want, "{case}");
        }
    }
}
