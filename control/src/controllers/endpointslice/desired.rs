//! The endpoints a Service's slices should hold, computed from the pods it
//! selects: a pure function with upstream's rules (the endpointslice
//! reconciler's podToEndpoint, getEndpointPorts and FindPort). Endpoints are
//! grouped by address type and by the set of ports the pod resolves, since a
//! slice has one address type and one list of ports for all its endpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const CONTROLLER: &str = "endpointslice-controller.k8s.io";
pub const HEADLESS: &str = "service.kubernetes.io/headless";
pub const ZONE: &str = "topology.kubernetes.io/zone";

type Labels = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: &IpAddr) -> Self {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }

    /// The EndpointSlice `addressType`.
    pub fn address_type(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    /// From an `addressType` or an `ipFamilies` entry (the same words).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "IPv4" => Some(Family::V4),
            "IPv6" => Some(Family::V6),
            _ => None,
        }
    }
}

/// The selector of a Service that gets endpoints from its pods. ExternalName
/// Services get none, nor do Services without a selector (their endpoints
/// are written by hand); an empty selector is no selector, as it is once
/// stored upstream.
pub fn selector(svc: &Service) -> Option<&Labels> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    spec.selector.as_ref().filter(|s| !s.is_empty())
}

pub fn selects(selector: &Labels, labels: Option<&Labels>) -> bool {
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The pod's Ready condition, as its kubelet reports it.
pub fn pod_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Succeeded or Failed: its containers will not run again.
pub fn terminal(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed"))
}

pub fn terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// `status.podIPs`, or `status.podIP` when a writer set only that.
pub fn pod_ips(pod: &Pod) -> Vec<IpAddr> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let listed: Vec<&str> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|p| p.ip.as_str())
        .collect();
    let ips = if listed.is_empty() {
        status.pod_ip.as_deref().into_iter().collect()
    } else {
        listed
    };
    ips.into_iter().filter_map(|ip| ip.parse().ok()).collect()
}

/// Whether the Service has a cluster IP (is not headless).
pub fn has_cluster_ip(svc: &Service) -> bool {
    let ip = svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref());
    ip.is_some_and(|ip| !ip.is_empty() && ip != "None")
}

/// The address types a Service has slices of: its `ipFamilies`, else the
/// family of its cluster IP. A headless Service without `ipFamilies` (this
/// API server assigns families only with a cluster IP) takes the families of
/// its pods' addresses, IPv4 when none has one.
pub fn address_types(svc: &Service, pods: &[&Pod]) -> BTreeSet<Family> {
    let spec = svc.spec.as_ref();
    let listed: BTreeSet<Family> = spec
        .and_then(|s| s.ip_families.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|f| Family::parse(f))
        .collect();
    if !listed.is_empty() {
        return listed;
    }
    if has_cluster_ip(svc) {
        let ip = spec.and_then(|s| s.cluster_ip.as_deref()).unwrap_or("");
        let v6 = ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6());
        return BTreeSet::from([if v6 { Family::V6 } else { Family::V4 }]);
    }
    let of_pods: BTreeSet<Family> = pods
        .iter()
        .filter(|p| !terminal(p))
        .flat_map(|p| pod_ips(p))
        .map(|ip| Family::of(&ip))
        .collect();
    if of_pods.is_empty() {
        BTreeSet::from([Family::V4])
    } else {
        of_pods
    }
}

fn protocol(p: Option<&String>) -> &str {
    p.map_or("TCP", String::as_str)
}

/// The pod's port for a Service port (upstream's FindPort): a numeric target
/// port as it is; a named one from the ports of the pod's containers and
/// sidecars (init containers that keep running) with that name and protocol.
pub fn target_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let name = match &port.target_port {
        None => return Some(port.port),
        Some(IntOrString::Int(n)) => return Some(*n),
        Some(IntOrString::String(name)) => name,
    };
    let spec = pod.spec.as_ref()?;
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| {
            p.name.as_ref() == Some(name)
                && protocol(p.protocol.as_ref()) == protocol(port.protocol.as_ref())
        })
        .map(|p| p.container_port)
}

/// The slice ports of one pod: each Service port it resolves, in the
/// Service's order. Pods resolving different sets go to different slices.
pub fn ports(svc: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let service_ports = svc.spec.as_ref().and_then(|s| s.ports.as_ref());
    service_ports
        .into_iter()
        .flatten()
        .filter_map(|sp| {
            Some(EndpointPort {
                name: Some(sp.name.clone().unwrap_or_default()),
                port: Some(target_port(pod, sp)?),
                protocol: Some(protocol(sp.protocol.as_ref()).to_owned()),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect()
}

/// A set of ports regardless of their order: slices match on it.
pub type PortsKey = Vec<(String, i32, String, Option<String>)>;

pub fn ports_key(ports: &[EndpointPort]) -> PortsKey {
    let mut key: PortsKey = ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port.unwrap_or(0),
                protocol(p.protocol.as_ref()).to_owned(),
                p.app_protocol.clone(),
            )
        })
        .collect();
    key.sort();
    key
}

/// What makes an endpoint the same endpoint from one sync to the next
/// (upstream hashes the same fields); its other fields may change in place.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Identity {
    namespace: String,
    name: String,
    hostname: String,
    addresses: Vec<String>,
}

pub fn identity(ep: &Endpoint) -> Identity {
    let target = ep.target_ref.as_ref();
    let mut addresses = ep.addresses.clone();
    addresses.sort();
    Identity {
        namespace: target.and_then(|t| t.namespace.clone()).unwrap_or_default(),
        name: target.and_then(|t| t.name.clone()).unwrap_or_default(),
        hostname: ep.hostname.clone().unwrap_or_default(),
        addresses,
    }
}

/// The endpoints of one address type and one set of ports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    pub ports: Vec<EndpointPort>,
    pub endpoints: BTreeMap<Identity, Endpoint>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Desired {
    /// Every address type the Service has slices of, with endpoints or not.
    pub address_types: BTreeSet<Family>,
    pub groups: BTreeMap<(Family, PortsKey), Group>,
}

fn endpoint(
    svc: &Service,
    pod: &Pod,
    addresses: Vec<String>,
    zone_of: &impl Fn(&str) -> Option<String>,
) -> Endpoint {
    let serving = pod_ready(pod);
    let terminating = terminating(pod);
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    // A terminating endpoint is never ready, for consumers that only read
    // `ready`; `serving` tells whether it still takes connections.
    let ready = publish || (serving && !terminating);
    let spec = pod.spec.as_ref();
    let node = spec
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty());
    let zone = node.as_deref().and_then(zone_of).filter(|z| !z.is_empty());
    Endpoint {
        addresses,
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname: hostname(svc, pod),
        node_name: node,
        zone,
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A pod names itself in DNS under the Service its subdomain names.
pub fn hostname(svc: &Service, pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.as_ref().filter(|h| !h.is_empty())?;
    let under = spec.subdomain.is_some() && spec.subdomain == svc.metadata.name;
    (under && pod.metadata.namespace == svc.metadata.namespace).then(|| hostname.clone())
}

/// The endpoints of `pods` (those `svc` selects) by address type and port
/// set. Pods without an address and finished pods have none; terminating
/// pods keep theirs, marked terminating. `zone_of` names a node's zone.
pub fn compute(svc: &Service, pods: &[&Pod], zone_of: impl Fn(&str) -> Option<String>) -> Desired {
    let address_types = address_types(svc, pods);
    let mut groups: BTreeMap<(Family, PortsKey), Group> = BTreeMap::new();
    for pod in pods {
        if terminal(pod) {
            continue;
        }
        let ips = pod_ips(pod);
        if ips.is_empty() {
            continue;
        }
        let ports = ports(svc, pod);
        let key = ports_key(&ports);
        for family in &address_types {
            let addresses: Vec<String> = ips
                .iter()
                .filter(|ip| Family::of(ip) == *family)
                .map(IpAddr::to_string)
                .collect();
            if addresses.is_empty() {
                continue;
            }
            let ep = endpoint(svc, pod, addresses, &zone_of);
            let group = groups
                .entry((*family, key.clone()))
                .or_insert_with(|| Group {
                    ports: ports.clone(),
                    endpoints: BTreeMap::new(),
                });
            group.endpoints.insert(identity(&ep), ep);
        }
    }
    Desired {
        address_types,
        groups,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::controllers::endpointslice::plan::plan;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use serde_json::{Value, json};

    pub fn service(spec: Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid", "labels": {"team": "a"}},
            "spec": spec,
        }))
        .unwrap()
    }

    pub fn web() -> Service {
        service(json!({
            "selector": {"app": "web"}, "clusterIP": "10.96.0.10", "ipFamilies": ["IPv4"],
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        }))
    }

    /// A running pod on node-1; `ready` is its Ready condition.
    pub fn pod(name: &str, ip: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "demo",
                     "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        }))
        .unwrap()
    }

    fn no_zone(_: &str) -> Option<String> {
        None
    }

    fn endpoints(d: &Desired) -> Vec<&Endpoint> {
        d.groups
            .values()
            .flat_map(|g| g.endpoints.values())
            .collect()
    }

    /// (ready, serving, terminating) of the one endpoint.
    fn conditions(svc: &Service, pod: &Pod) -> (bool, bool, bool) {
        let d = compute(svc, &[pod], no_zone);
        let eps = endpoints(&d);
        assert_eq!(eps.len(), 1, "{d:?}");
        let c = eps[0].conditions.clone().unwrap();
        (c.ready.unwrap(), c.serving.unwrap(), c.terminating.unwrap())
    }

    fn terminating_pod(ready: bool) -> Pod {
        let mut p = pod("p", "10.0.0.1", ready);
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        p
    }

    #[test]
    fn conditions_follow_readiness_and_termination() {
        let svc = web();
        let mut publish = web();
        publish.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
        // (service, pod, (ready, serving, terminating))
        let cases = [
            (&svc, pod("p", "10.0.0.1", true), (true, true, false)),
            (&svc, pod("p", "10.0.0.1", false), (false, false, false)),
            (&svc, terminating_pod(true), (false, true, true)),
            (&svc, terminating_pod(false), (false, false, true)),
            // publishNotReadyAddresses: ready always; serving stays the
            // pod's Ready condition, as upstream reports it.
            (&publish, pod("p", "10.0.0.1", false), (true, false, false)),
            (&publish, terminating_pod(true), (true, true, true)),
        ];
        for (i, (svc, pod, want)) in cases.iter().enumerate() {
            assert_eq!(conditions(svc, pod), *want, "case {i}");
        }
    }

    #[test]
    fn pods_without_an_address_and_finished_pods_are_left_out() {
        let svc = web();
        let mut pending = pod("pending", "10.0.0.1", false);
        pending.status.as_mut().unwrap().pod_ip = None;
        let mut done = pod("done", "10.0.0.2", false);
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        let mut failed = pod("failed", "10.0.0.3", false);
        failed.status.as_mut().unwrap().phase = Some("Failed".into());
        let ok = pod("ok", "10.0.0.4", true);
        let d = compute(&svc, &[&pending, &done, &failed, &ok], no_zone);
        let eps = endpoints(&d);
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].addresses, ["10.0.0.4"]);
    }

    #[test]
    fn an_endpoint_names_its_pod_node_and_zone() {
        let svc = web();
        let p = pod("p", "10.0.0.1", true);
        let d = compute(&svc, &[&p], |node| {
            (node == "node-1").then(|| "zone-a".to_owned())
        });
        let ep = endpoints(&d)[0].clone();
        let want: Endpoint = serde_json::from_value(json!({
            "addresses": ["10.0.0.1"],
            "conditions": {"ready": true, "serving": true, "terminating": false},
            "nodeName": "node-1", "zone": "zone-a",
            "targetRef": {"kind": "Pod", "namespace": "default", "name": "p", "uid": "uid-p"},
        }))
        .unwrap();
        assert_eq!(ep, want);
        let group = d.groups.values().next().unwrap();
        let port: EndpointPort =
            serde_json::from_value(json!({"name": "http", "port": 8080, "protocol": "TCP"}))
                .unwrap();
        assert_eq!(group.ports, [port]);
        // No Node object: no zone, the endpoint stays.
        let d = compute(&svc, &[&p], no_zone);
        assert_eq!(endpoints(&d)[0].zone, None);
    }

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let svc = service(json!({
            "selector": {"app": "web"}, "clusterIP": "10.96.0.10",
            "ports": [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"},
                      {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}],
        }));
        let with = |name: &str, ip: &str, ports: Value| -> Pod {
            let mut p = pod(name, ip, true);
            p.spec.as_mut().unwrap().containers[0].ports = serde_json::from_value(ports).unwrap();
            p
        };
        let a = with(
            "a",
            "10.0.0.1",
            json!([{"name": "web", "containerPort": 8080}]),
        );
        let b = with(
            "b",
            "10.0.0.2",
            json!([{"name": "web", "containerPort": 8081}]),
        );
        let c = with(
            "c",
            "10.0.0.3",
            json!([{"name": "other", "containerPort": 8080}]),
        );
        // The name matches but not the protocol.
        let d = with(
            "d",
            "10.0.0.4",
            json!([{"name": "web", "containerPort": 8080, "protocol": "UDP"}]),
        );
        let desired = compute(&svc, &[&a, &b, &c, &d], no_zone);
        let by_ports: BTreeMap<Vec<i32>, Vec<String>> = desired
            .groups
            .values()
            .map(|g| {
                let ports = g.ports.iter().map(|p| p.port.unwrap()).collect();
                let names = g
                    .endpoints
                    .values()
                    .map(|e| e.target_ref.clone().unwrap().name.unwrap())
                    .collect();
                (ports, names)
            })
            .collect();
        let want: BTreeMap<Vec<i32>, Vec<String>> = [
            (vec![8080, 9090], vec!["a".to_owned()]),
            (vec![8081, 9090], vec!["b".to_owned()]),
            (vec![9090], vec!["c".to_owned(), "d".to_owned()]),
        ]
        .into();
        assert_eq!(by_ports, want);
    }

    #[test]
    fn a_sidecar_s_named_port_counts() {
        let svc = service(json!({
            "selector": {"app": "web"}, "clusterIP": "10.96.0.10",
            "ports": [{"name": "proxy", "port": 80, "targetPort": "proxy", "protocol": "TCP"}],
        }));
        let mut p = pod("p", "10.0.0.1", true);
        p.spec.as_mut().unwrap().init_containers = serde_json::from_value(json!([
            {"name": "once", "image": "x", "ports": [{"name": "proxy", "containerPort": 1}]},
            {"name": "side", "image": "x", "restartPolicy": "Always",
             "ports": [{"name": "proxy", "containerPort": 15001}]},
        ]))
        .unwrap();
        let d = compute(&svc, &[&p], no_zone);
        let g = d.groups.values().next().unwrap();
        assert_eq!(g.ports[0].port, Some(15001));
    }

    #[test]
    fn ipv6_pods_give_ipv6_slices() {
        let v6 = service(json!({
            "selector": {"app": "web"}, "clusterIP": "fd00::10", "ipFamilies": ["IPv6"],
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        }));
        let p = pod("p", "fd00:10:244::5", true);
        let d = compute(&v6, &[&p], no_zone);
        assert_eq!(d.address_types, BTreeSet::from([Family::V6]));
        assert_eq!(endpoints(&d)[0].addresses, ["fd00:10:244::5"]);

        // Headless without ipFamilies: the pods' addresses decide.
        let headless = service(json!({"selector": {"app": "web"}, "clusterIP": "None"}));
        let d = compute(&headless, &[&p], no_zone);
        assert_eq!(d.address_types, BTreeSet::from([Family::V6]));
        let d = compute(&headless, &[], no_zone);
        assert_eq!(d.address_types, BTreeSet::from([Family::V4]));

        // Dual-stack pods in a single-stack Service: its family only.
        let mut dual = pod("d", "10.0.0.1", true);
        dual.status.as_mut().unwrap().pod_ips =
            serde_json::from_value(json!([{"ip": "10.0.0.1"}, {"ip": "fd00::1"}])).unwrap();
        let d = compute(&v6, &[&dual], no_zone);
        assert_eq!(endpoints(&d)[0].addresses, ["fd00::1"]);
        let d = compute(&web(), &[&dual], no_zone);
        assert_eq!(endpoints(&d)[0].addresses, ["10.0.0.1"]);

        // An IPv4 cluster IP without ipFamilies.
        let plain = service(json!({"selector": {"app": "web"}, "clusterIP": "10.96.0.1"}));
        assert_eq!(
            compute(&plain, &[&p], no_zone).address_types,
            BTreeSet::from([Family::V4])
        );
    }

    #[test]
    fn a_subdomain_pod_publishes_its_hostname() {
        let svc = web();
        let mut p = pod("p", "10.0.0.1", true);
        let spec = p.spec.as_mut().unwrap();
        spec.hostname = Some("p-0".into());
        spec.subdomain = Some("web".into());
        assert_eq!(
            endpoints(&compute(&svc, &[&p], no_zone))[0]
                .hostname
                .as_deref(),
            Some("p-0")
        );
        p.spec.as_mut().unwrap().subdomain = Some("other".into());
        assert_eq!(endpoints(&compute(&svc, &[&p], no_zone))[0].hostname, None);
    }

    #[test]
    fn selectors() {
        let labels: Labels = [("app".into(), "web".into()), ("tier".into(), "1".into())].into();
        let sel: Labels = [("app".into(), "web".into())].into();
        assert!(selects(&sel, Some(&labels)));
        assert!(!selects(&sel, None));
        let other: Labels = [("app".into(), "db".into())].into();
        assert!(!selects(&other, Some(&labels)));
        assert!(selector(&web()).is_some());
        let none = service(json!({"clusterIP": "10.96.0.1"}));
        assert!(selector(&none).is_none());
        let empty = service(json!({"selector": {}}));
        assert!(selector(&empty).is_none());
        let external = service(
            json!({"type": "ExternalName", "externalName": "x.example", "selector": {"app": "web"}}),
        );
        assert!(selector(&external).is_none());
    }

    fn sizes(slices: &[EndpointSlice]) -> Vec<usize> {
        let mut s: Vec<usize> = slices
            .iter()
            .map(|s| s.endpoints.as_ref().map_or(0, Vec::len))
            .collect();
        s.sort();
        s
    }

    #[test]
    fn two_hundred_fifty_pods_make_three_slices() {
        let svc = web();
        let pods: Vec<Pod> = (0..250)
            .map(|i| {
                pod(
                    &format!("p-{i:03}"),
                    &format!("10.0.{}.{}", i / 200, i % 200 + 1),
                    true,
                )
            })
            .collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let d = compute(&svc, &refs, no_zone);
        let p = plan(&svc, &d, &[], 100);
        assert!(p.update.is_empty() && p.delete.is_empty());
        assert_eq!(sizes(&p.create), [50, 100, 100]);
        for s in &p.create {
            assert_eq!(s.address_type, "IPv4");
            assert_eq!(s.metadata.generate_name.as_deref(), Some("web-"));
        }
    }
}
