//! The `Endpoints` object of a Service, for clients that predate slices:
//! upstream's endpoints controller, as a pure function. Ready pods are
//! `addresses`, the others `notReadyAddresses`; terminating pods are left
//! out unless the Service publishes not-ready addresses (then every pod is
//! ready). Addresses are grouped into subsets by the ports they serve, and
//! cut at 1000 with the over-capacity annotation.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::desired::{
    Family, HEADLESS, has_cluster_ip, hostname, pod_ips, pod_ready, target_port, terminal,
    terminating,
};

pub const MAX_ADDRESSES: usize = 1000;
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
/// Endpoints that hold a leader election record, not a Service's addresses.
pub const LEADER: &str = "control-plane.alpha.kubernetes.io/leader";

/// The family of the one address each pod contributes: the Service's first
/// IP family, else its cluster IP's, else (headless) the pod's own.
fn family(svc: &Service, pod: &Pod) -> Option<Family> {
    let spec = svc.spec.as_ref();
    if let Some(first) = spec
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first())
    {
        return Family::parse(first);
    }
    let ip = if has_cluster_ip(svc) {
        spec.and_then(|s| s.cluster_ip.as_deref())
            .and_then(|ip| ip.parse::<IpAddr>().ok())
    } else {
        pod.status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse::<IpAddr>().ok())
    };
    Some(ip.map_or(Family::V4, |ip| Family::of(&ip)))
}

fn address(svc: &Service, pod: &Pod) -> Option<EndpointAddress> {
    let family = family(svc, pod)?;
    let ip = pod_ips(pod)
        .into_iter()
        .find(|ip| Family::of(ip) == family)?;
    Some(EndpointAddress {
        ip: ip.to_string(),
        hostname: hostname(svc, pod),
        node_name: pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
    })
}

type AddressKey = (String, String);

fn address_key(a: &EndpointAddress) -> AddressKey {
    let uid = a.target_ref.as_ref().and_then(|t| t.uid.clone());
    (a.ip.clone(), uid.unwrap_or_default())
}

type PortKey = (String, i32, String, Option<String>);

fn port_key(p: &EndpointPort) -> PortKey {
    (
        p.name.clone().unwrap_or_default(),
        p.port,
        p.protocol.clone().unwrap_or_else(|| "TCP".into()),
        p.app_protocol.clone(),
    )
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// Subsets in one canonical order, so that equal contents compare equal:
/// addresses by IP, ports by name, subsets by their addresses.
pub fn normalize(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
    let mut out: Vec<(Vec<(AddressKey, bool)>, EndpointSubset)> = subsets
        .iter()
        .map(|s| {
            let mut ready = s.addresses.clone().unwrap_or_default();
            let mut not_ready = s.not_ready_addresses.clone().unwrap_or_default();
            let mut ports = s.ports.clone().unwrap_or_default();
            ready.sort_by_key(address_key);
            not_ready.sort_by_key(address_key);
            ports.sort_by_key(port_key);
            let mut key: Vec<(AddressKey, bool)> = ready
                .iter()
                .map(|a| (address_key(a), true))
                .chain(not_ready.iter().map(|a| (address_key(a), false)))
                .collect();
            key.sort();
            let subset = EndpointSubset {
                addresses: non_empty(ready),
                not_ready_addresses: non_empty(not_ready),
                ports: non_empty(ports),
            };
            (key, subset)
        })
        .filter(|(key, _)| !key.is_empty())
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, s)| s).collect()
}

/// The subsets for `pods` (those `svc` selects), untruncated.
pub fn subsets(svc: &Service, pods: &[&Pod]) -> Vec<EndpointSubset> {
    let spec = svc.spec.as_ref();
    let publish = spec
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let service_ports = spec.and_then(|s| s.ports.clone()).unwrap_or_default();
    // Per port (None: a headless Service without ports), each address and
    // whether it is ready there.
    type Addresses = BTreeMap<AddressKey, (EndpointAddress, bool)>;
    let mut by_port: BTreeMap<Option<PortKey>, (Option<EndpointPort>, Addresses)> = BTreeMap::new();
    for pod in pods {
        if terminal(pod) || (terminating(pod) && !publish) {
            continue;
        }
        let Some(addr) = address(svc, pod) else {
            continue;
        };
        let ready = publish || pod_ready(pod);
        let mut ports: Vec<Option<EndpointPort>> = Vec::new();
        if service_ports.is_empty() {
            if !has_cluster_ip(svc) {
                ports.push(None);
            }
        } else {
            for sp in &service_ports {
                let Some(port) = target_port(pod, sp) else {
                    continue;
                };
                ports.push(Some(EndpointPort {
                    name: sp.name.clone().filter(|n| !n.is_empty()),
                    port,
                    protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: sp.app_protocol.clone(),
                }));
            }
        }
        for port in ports {
            let key = port.as_ref().map(port_key);
            let (_, addrs) = by_port.entry(key).or_insert((port, BTreeMap::new()));
            // Ready anywhere wins over not ready, as upstream repacks.
            let entry = addrs
                .entry(address_key(&addr))
                .or_insert((addr.clone(), ready));
            entry.1 |= ready;
        }
    }
    // Ports that reach the same addresses (in the same states) share a subset.
    type Members = Vec<(AddressKey, bool)>;
    let mut by_addresses: BTreeMap<Members, (Addresses, Vec<EndpointPort>)> = BTreeMap::new();
    for (port, addrs) in by_port.into_values() {
        let members = addrs.iter().map(|(k, (_, r))| (k.clone(), *r)).collect();
        let (_, ports) = by_addresses
            .entry(members)
            .or_insert_with(|| (addrs, Vec::new()));
        ports.extend(port);
    }
    let subsets: Vec<EndpointSubset> = by_addresses
        .into_values()
        .map(|(addrs, ports)| {
            let (ready, not_ready): (Vec<_>, Vec<_>) = addrs.into_values().partition(|(_, r)| *r);
            EndpointSubset {
                addresses: non_empty(ready.into_iter().map(|(a, _)| a).collect()),
                not_ready_addresses: non_empty(not_ready.into_iter().map(|(a, _)| a).collect()),
                ports: non_empty(ports),
            }
        })
        .collect();
    normalize(&subsets)
}

/// Cuts `subsets` to `MAX_ADDRESSES`, ready addresses first, each subset
/// keeping its share (rounded up), as upstream does. Whether it cut.
pub fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let count = |v: &Option<Vec<EndpointAddress>>| v.as_ref().map_or(0, Vec::len);
    let ready: usize = subsets.iter().map(|s| count(&s.addresses)).sum();
    let not_ready: usize = subsets.iter().map(|s| count(&s.not_ready_addresses)).sum();
    if ready + not_ready <= MAX_ADDRESSES {
        return false;
    }
    let cut_ready = ready > MAX_ADDRESSES;
    let (room, total) = if cut_ready {
        (MAX_ADDRESSES, ready)
    } else {
        (MAX_ADDRESSES - ready, not_ready)
    };
    let mut left = room;
    for s in subsets.iter_mut() {
        let list = if cut_ready {
            s.not_ready_addresses = None;
            &mut s.addresses
        } else {
            &mut s.not_ready_addresses
        };
        let here = count(list);
        let share = (here * room).div_ceil(total).min(left);
        if let Some(v) = list.as_mut() {
            v.truncate(share);
        }
        left -= count(list);
        if list.as_ref().is_some_and(Vec::is_empty) {
            *list = None;
        }
    }
    true
}

/// The Endpoints object `svc` should have, given the one it has; None when
/// the current one is already right (no write).
pub fn next(svc: &Service, pods: &[&Pod], current: Option<&Endpoints>) -> Option<Endpoints> {
    let mut subsets = subsets(svc, pods);
    let truncated = truncate(&mut subsets);
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    if has_cluster_ip(svc) {
        labels.remove(HEADLESS);
    } else {
        labels.insert(HEADLESS.into(), String::new());
    }
    let mut annotations = current
        .and_then(|c| c.metadata.annotations.clone())
        .unwrap_or_default();
    if truncated {
        annotations.insert(OVER_CAPACITY.into(), "truncated".into());
    } else {
        annotations.remove(OVER_CAPACITY);
    }
    if let Some(current) = current {
        let have = normalize(current.subsets.as_deref().unwrap_or_default());
        let same = have == subsets
            && current.metadata.labels.clone().unwrap_or_default() == labels
            && current.metadata.annotations.clone().unwrap_or_default() == annotations;
        if same {
            return None;
        }
    }
    let mut next = current.cloned().unwrap_or_else(|| Endpoints {
        metadata: ObjectMeta {
            name: svc.metadata.name.clone(),
            namespace: svc.metadata.namespace.clone(),
            ..Default::default()
        },
        ..Default::default()
    });
    next.metadata.labels = non_empty_map(labels);
    next.metadata.annotations = non_empty_map(annotations);
    next.subsets = non_empty(subsets);
    Some(next)
}

fn non_empty_map(m: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!m.is_empty()).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::endpointslice::desired::tests::{pod, service, web};
    use serde_json::json;

    fn ips(v: &Option<Vec<EndpointAddress>>) -> Vec<String> {
        v.iter().flatten().map(|a| a.ip.clone()).collect()
    }

    fn deleting(mut p: Pod) -> Pod {
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        p
    }

    #[test]
    fn ready_not_ready_and_terminating() {
        let svc = web();
        let a = pod("a", "10.0.0.1", true);
        let b = pod("b", "10.0.0.2", false);
        let c = deleting(pod("c", "10.0.0.3", true));
        let s = subsets(&svc, &[&a, &b, &c]);
        assert_eq!(s.len(), 1);
        assert_eq!(ips(&s[0].addresses), ["10.0.0.1"]);
        assert_eq!(ips(&s[0].not_ready_addresses), ["10.0.0.2"]);
        let port: EndpointPort =
            serde_json::from_value(json!({"name": "http", "port": 8080, "protocol": "TCP"}))
                .unwrap();
        assert_eq!(s[0].ports.as_deref(), Some(&[port][..]));
        let a0 = &s[0].addresses.as_ref().unwrap()[0];
        assert_eq!(a0.node_name.as_deref(), Some("node-1"));
        assert_eq!(
            a0.target_ref.as_ref().unwrap().uid.as_deref(),
            Some("uid-a")
        );

        // publishNotReadyAddresses: everyone is ready, terminating too.
        let mut publish = web();
        publish.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
        let s = subsets(&publish, &[&a, &b, &c]);
        assert_eq!(ips(&s[0].addresses), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
        assert_eq!(s[0].not_ready_addresses, None);
    }

    #[test]
    fn ports_group_addresses_into_subsets() {
        let svc = service(json!({
            "selector": {"app": "web"}, "clusterIP": "10.96.0.10",
            "ports": [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"},
                      {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}],
        }));
        let with = |name: &str, ip: &str, port: i32| -> Pod {
            let mut p = pod(name, ip, true);
            p.spec.as_mut().unwrap().containers[0].ports =
                serde_json::from_value(json!([{"name": "web", "containerPort": port}])).unwrap();
            p
        };
        let a = with("a", "10.0.0.1", 8080);
        let b = with("b", "10.0.0.2", 8080);
        let c = with("c", "10.0.0.3", 8081);
        let s = subsets(&svc, &[&a, &b, &c]);
        let shape: Vec<(Vec<String>, Vec<i32>)> = s
            .iter()
            .map(|s| {
                let ports = s.ports.iter().flatten().map(|p| p.port).collect();
                (ips(&s.addresses), ports)
            })
            .collect();
        // One subset per set of addresses a port reaches.
        let ab = vec!["10.0.0.1".to_owned(), "10.0.0.2".to_owned()];
        let abc = vec!["10.0.0.1".into(), "10.0.0.2".into(), "10.0.0.3".into()];
        assert_eq!(
            shape,
            [
                (ab, vec![8080]),
                (abc, vec![9090]),
                (vec!["10.0.0.3".into()], vec![8081]),
            ]
        );
        // Two ports reaching the same addresses share one subset.
        let d = with("d", "10.0.0.4", 8080);
        let s = subsets(&svc, &[&a, &d]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].ports.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn a_headless_service_without_ports_lists_addresses() {
        let svc = service(json!({"selector": {"app": "web"}, "clusterIP": "None"}));
        let a = pod("a", "10.0.0.1", true);
        let e = next(&svc, &[&a], None).unwrap();
        let s = e.subsets.unwrap();
        assert_eq!(ips(&s[0].addresses), ["10.0.0.1"]);
        assert_eq!(s[0].ports, None);
        assert_eq!(e.metadata.labels.unwrap()[HEADLESS], "");
    }

    #[test]
    fn more_than_1000_addresses_are_cut_and_marked() {
        let svc = web();
        let pods: Vec<Pod> = (0..1200)
            .map(|i| {
                pod(
                    &format!("p{i}"),
                    &format!("10.0.{}.{}", i / 250, i % 250 + 1),
                    i < 1100,
                )
            })
            .collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let e = next(&svc, &refs, None).unwrap();
        let s = e.subsets.as_ref().unwrap();
        let ready: usize = s.iter().map(|s| ips(&s.addresses).len()).sum();
        let not_ready: usize = s.iter().map(|s| ips(&s.not_ready_addresses).len()).sum();
        assert_eq!((ready, not_ready), (1000, 0), "ready ones first");
        assert_eq!(
            e.metadata.annotations.as_ref().unwrap()[OVER_CAPACITY],
            "truncated"
        );
        // Written once, it stays: the truncated object is what is desired.
        assert_eq!(next(&svc, &refs, Some(&e)), None);
        // Under capacity again: the annotation goes.
        let few = &refs[..10];
        let e2 = next(&svc, few, Some(&e)).unwrap();
        assert!(e2.metadata.annotations.is_none());

        // Ready ones all fit: not-ready ones fill the rest.
        let pods: Vec<Pod> = (0..1200)
            .map(|i| {
                pod(
                    &format!("p{i}"),
                    &format!("10.0.{}.{}", i / 250, i % 250 + 1),
                    i < 600,
                )
            })
            .collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let e = next(&svc, &refs, None).unwrap();
        let s = e.subsets.as_ref().unwrap();
        let ready: usize = s.iter().map(|s| ips(&s.addresses).len()).sum();
        let not_ready: usize = s.iter().map(|s| ips(&s.not_ready_addresses).len()).sum();
        assert_eq!((ready, not_ready), (600, 400));
    }

    #[test]
    fn the_same_endpoints_need_no_write() {
        let svc = web();
        let a = pod("a", "10.0.0.1", true);
        let b = pod("b", "10.0.0.2", false);
        let mut current = next(&svc, &[&a, &b], None).unwrap();
        assert_eq!(current.metadata.name.as_deref(), Some("web"));
        assert_eq!(current.metadata.labels.as_ref().unwrap()["team"], "a");
        current.metadata.resource_version = Some("7".into());
        assert_eq!(next(&svc, &[&b, &a], Some(&current)), None);
        // Another annotation is kept; a changed pod rewrites, CAS on the
        // version read.
        current
            .metadata
            .annotations
            .get_or_insert_default()
            .insert("note".into(), "x".into());
        assert_eq!(next(&svc, &[&a, &b], Some(&current)), None);
        let b_ready = pod("b", "10.0.0.2", true);
        let updated = next(&svc, &[&a, &b_ready], Some(&current)).unwrap();
        assert_eq!(updated.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(updated.metadata.annotations.unwrap()["note"], "x");
        let s = updated.subsets.unwrap();
        assert_eq!(ips(&s[0].addresses), ["10.0.0.1", "10.0.0.2"]);
        // No pods: no subsets.
        let empty = next(&svc, &[], None).unwrap();
        assert_eq!(empty.subsets, None);
    }
}
