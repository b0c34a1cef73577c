//! The writes that bring a Service's slices to the desired endpoints, with as
//! few of them as upstream's reconciler makes: an endpoint stays in the
//! slice it is in, a slice is rewritten only when one of its endpoints or its
//! labels changed, new endpoints fill slices that are being written anyway
//! (fullest first), then the unchanged slice they fit best, and only then
//! new slices. A slice left empty is deleted, or reused for a slice that
//! would otherwise be created. Pure: slices in, writes out.

use std::collections::{BTreeMap, VecDeque};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::desired::{
    CONTROLLER, Desired, Family, Group, HEADLESS, MANAGED_BY, PortsKey, SERVICE_NAME,
    has_cluster_ip, identity, ports_key,
};

#[derive(Debug, Default)]
pub struct Plan {
    /// New slices (generateName), their endpoints in place.
    pub create: Vec<EndpointSlice>,
    /// Existing slices as they should be, resourceVersion kept.
    pub update: Vec<EndpointSlice>,
    pub delete: Vec<EndpointSlice>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

const RESERVED: [&str; 3] = [SERVICE_NAME, MANAGED_BY, HEADLESS];

/// The Service's labels, less the keys this controller sets itself.
pub fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = svc
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !has_cluster_ip(svc) {
        labels.insert(HEADLESS.into(), String::new());
    }
    labels.insert(
        SERVICE_NAME.into(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(MANAGED_BY.into(), CONTROLLER.into());
    labels
}

pub fn owner(svc: &Service) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: svc.metadata.name.clone().unwrap_or_default(),
        uid: svc.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether the slice belongs to this Service, not to an earlier one of the
/// same name.
pub fn owned_by(slice: &EndpointSlice, svc: &Service) -> bool {
    let uid = svc.metadata.uid.as_deref().unwrap_or_default();
    slice
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid && o.kind == "Service" && o.api_version == "v1")
}

fn new_slice(
    svc: &Service,
    labels: &BTreeMap<String, String>,
    family: Family,
    ports: Vec<EndpointPort>,
) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!(
                "{}-",
                svc.metadata.name.as_deref().unwrap_or_default()
            )),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner(svc)]),
            ..Default::default()
        },
        address_type: family.address_type().into(),
        ports: Some(ports),
        endpoints: Some(Vec::new()),
    }
}

fn len(slice: &EndpointSlice) -> usize {
    slice.endpoints.as_ref().map_or(0, Vec::len)
}

fn endpoints(slice: &EndpointSlice) -> &[Endpoint] {
    slice.endpoints.as_deref().unwrap_or_default()
}

/// The same endpoint in the same state: field by field, addresses as a set.
fn same(want: &Endpoint, have: &Endpoint) -> bool {
    let mut have = have.clone();
    have.addresses.sort();
    *want == have
}

/// Whether an existing slice is already the placeholder a Service with no
/// endpoints of this address type keeps.
fn is_placeholder(have: &EndpointSlice, want: &EndpointSlice) -> bool {
    have.address_type == want.address_type
        && have.metadata.labels == want.metadata.labels
        && have.metadata.owner_references == want.metadata.owner_references
        && have.ports.as_ref().is_none_or(Vec::is_empty)
        && len(have) == 0
}

/// The writes for `existing`, the slices this controller manages for `svc`
/// (any address type), to hold `desired` with at most `max` endpoints each.
pub fn plan(svc: &Service, desired: &Desired, existing: &[&EndpointSlice], max: usize) -> Plan {
    let max = max.max(1);
    let labels = slice_labels(svc);
    let mut out = Plan::default();
    let mut sorted: Vec<&EndpointSlice> = existing
        .iter()
        .copied()
        // Already going: neither kept nor reused.
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut by_family: BTreeMap<Family, Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in sorted {
        match Family::parse(&slice.address_type).filter(|f| desired.address_types.contains(f)) {
            Some(f) => by_family.entry(f).or_default().push(slice),
            None => out.delete.push(slice.clone()),
        }
    }
    for family in &desired.address_types {
        let slices = by_family.remove(family).unwrap_or_default();
        let mut part = Plan::default();
        let mut by_ports: BTreeMap<PortsKey, Vec<&EndpointSlice>> = BTreeMap::new();
        for slice in &slices {
            if owned_by(slice, svc) {
                let key = ports_key(slice.ports.as_deref().unwrap_or_default());
                by_ports.entry(key).or_default().push(slice);
            } else {
                part.delete.push((*slice).clone());
            }
        }
        for ((f, key), group) in &desired.groups {
            if f == family {
                let have = by_ports.remove(key).unwrap_or_default();
                fill(&mut part, svc, &labels, *family, group, &have, max);
            }
        }
        // Port sets no pod resolves any more.
        part.delete
            .extend(by_ports.into_values().flatten().map(|s| (*s).clone()));
        // A Service with no endpoints of this type still has one (empty)
        // slice, so its consumers see it as known and empty.
        if slices.len() == part.delete.len() && part.create.is_empty() {
            let placeholder = new_slice(svc, &labels, *family, Vec::new());
            if part.delete.len() == 1 && is_placeholder(&part.delete[0], &placeholder) {
                part.delete.clear();
            } else {
                part.create.push(placeholder);
            }
        }
        reuse_deleted(&mut part, svc);
        out.create.extend(part.create);
        out.update.extend(part.update);
        out.delete.extend(part.delete);
    }
    out
}

/// One address type and port set: keeps endpoints in their slices, then
/// places the new ones.
fn fill(
    out: &mut Plan,
    svc: &Service,
    labels: &BTreeMap<String, String>,
    family: Family,
    group: &Group,
    existing: &[&EndpointSlice],
    max: usize,
) {
    let mut wanted = group.endpoints.clone();
    let mut changed: Vec<EndpointSlice> = Vec::new();
    let mut unchanged: Vec<EndpointSlice> = Vec::new();
    for slice in existing {
        let mut kept = Vec::new();
        let mut rewritten = false;
        for have in endpoints(slice) {
            if let Some(want) = wanted.remove(&identity(have)) {
                rewritten |= !same(&want, have);
                kept.push(want);
            }
        }
        let relabel = slice.metadata.labels.as_ref() != Some(labels);
        if rewritten || kept.len() != len(slice) {
            if kept.is_empty() {
                out.delete.push((*slice).clone());
                continue;
            }
            let mut next = (*slice).clone();
            next.endpoints = Some(kept);
            next.metadata.labels = Some(labels.clone());
            changed.push(next);
        } else if relabel {
            let mut next = (*slice).clone();
            next.metadata.labels = Some(labels.clone());
            changed.push(next);
        } else {
            unchanged.push((*slice).clone());
        }
    }

    let mut rest: VecDeque<Endpoint> = wanted.into_values().collect();
    let top_up = |slice: &mut EndpointSlice, rest: &mut VecDeque<Endpoint>| {
        let eps = slice.endpoints.get_or_insert_with(Vec::new);
        while eps.len() < max {
            let Some(ep) = rest.pop_front() else { break };
            eps.push(ep);
        }
    };
    // Slices written anyway take new endpoints first, fullest first.
    changed.sort_by_key(|s| std::cmp::Reverse(len(s)));
    for slice in &mut changed {
        top_up(slice, &mut rest);
    }
    while !rest.is_empty() {
        // What is left fits in one unchanged slice: the one it fills best.
        let best = (rest.len() < max)
            .then(|| {
                unchanged
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| len(s) + rest.len() <= max)
                    .max_by_key(|(i, s)| (len(s), std::cmp::Reverse(*i)))
                    .map(|(i, _)| i)
            })
            .flatten();
        match best {
            Some(i) => {
                let mut slice = unchanged.remove(i);
                top_up(&mut slice, &mut rest);
                changed.push(slice);
            }
            None => {
                let mut slice = new_slice(svc, labels, family, group.ports.clone());
                top_up(&mut slice, &mut rest);
                out.create.push(slice);
            }
        }
    }
    out.update.extend(changed);
}

/// A slice that would be deleted is rewritten instead of creating one: one
/// write instead of two (same address type, and owned by this Service, not
/// by an earlier one of its name).
fn reuse_deleted(part: &mut Plan, svc: &Service) {
    let mut i = 0;
    while i < part.delete.len() {
        let Some(new) = part.create.last() else { break };
        let old = &part.delete[i];
        if old.address_type == new.address_type && owned_by(old, svc) {
            let old = part.delete.remove(i);
            let mut new = part.create.pop().expect("checked above");
            new.metadata.name = old.metadata.name;
            new.metadata.resource_version = old.metadata.resource_version;
            part.update.push(new);
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::endpointslice::desired::compute;
    use crate::controllers::endpointslice::desired::tests::{pod, service, web};
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn pods(n: usize) -> Vec<Pod> {
        (0..n)
            .map(|i| {
                pod(
                    &format!("p-{i:03}"),
                    &format!("10.0.{}.{}", i / 200, i % 200 + 1),
                    true,
                )
            })
            .collect()
    }

    fn desired(svc: &Service, pods: &[Pod]) -> Desired {
        let refs: Vec<&Pod> = pods.iter().collect();
        compute(svc, &refs, |_| None)
    }

    /// The API server's side of a plan: names for new slices, a new
    /// resourceVersion for every write.
    fn apply(existing: &[EndpointSlice], plan: Plan) -> Vec<EndpointSlice> {
        let mut by_name: BTreeMap<String, EndpointSlice> = existing
            .iter()
            .map(|s| (s.metadata.name.clone().unwrap(), s.clone()))
            .collect();
        for s in &plan.delete {
            by_name.remove(s.metadata.name.as_ref().unwrap());
        }
        for mut s in plan.update {
            let name = s.metadata.name.clone().unwrap();
            assert!(by_name.contains_key(&name), "update of a missing slice");
            s.metadata.resource_version = Some("next".into());
            by_name.insert(name, s);
        }
        for (i, mut s) in plan.create.into_iter().enumerate() {
            let name = format!("web-new{}-{i}", by_name.len());
            s.metadata.name = Some(name.clone());
            s.metadata.resource_version = Some("1".into());
            by_name.insert(name, s);
        }
        by_name.into_values().collect()
    }

    fn plan_for(svc: &Service, pods: &[Pod], existing: &[EndpointSlice]) -> Plan {
        let refs: Vec<&EndpointSlice> = existing.iter().collect();
        plan(svc, &desired(svc, pods), &refs, 100)
    }

    fn sizes(slices: &[EndpointSlice]) -> Vec<usize> {
        let mut s: Vec<usize> = slices.iter().map(len).collect();
        s.sort();
        s
    }

    fn names(slices: &[EndpointSlice]) -> Vec<String> {
        slices
            .iter()
            .map(|s| s.metadata.name.clone().unwrap())
            .collect()
    }

    #[test]
    fn nothing_changed_means_no_writes() {
        let svc = web();
        let pods = pods(250);
        let slices = apply(&[], plan_for(&svc, &pods, &[]));
        assert_eq!(sizes(&slices), [50, 100, 100]);
        let again = plan_for(&svc, &pods, &slices);
        assert!(again.is_empty(), "{again:?}");
        // Endpoints and ports in another order are the same slices.
        let mut shuffled = slices.clone();
        for s in &mut shuffled {
            s.endpoints.as_mut().unwrap().reverse();
            for ep in s.endpoints.as_mut().unwrap() {
                ep.addresses.reverse();
            }
        }
        assert!(plan_for(&svc, &pods, &shuffled).is_empty());
    }

    #[test]
    fn a_new_endpoint_fills_the_slice_it_fits_best() {
        let svc = web();
        let mut pods = pods(250);
        let slices = apply(&[], plan_for(&svc, &pods, &[]));
        pods.push(pod("p-new", "10.9.9.9", true));
        let p = plan_for(&svc, &pods, &slices);
        assert!(p.create.is_empty() && p.delete.is_empty(), "{p:?}");
        assert_eq!(p.update.len(), 1);
        assert_eq!(len(&p.update[0]), 51);
        // It kept its endpoints where they were.
        let before = slices
            .iter()
            .find(|s| s.metadata.name == p.update[0].metadata.name)
            .unwrap();
        assert_eq!(endpoints(&p.update[0])[..50], endpoints(before)[..]);
    }

    #[test]
    fn a_changed_slice_takes_new_endpoints_first() {
        let svc = web();
        let mut pods = pods(250);
        let slices = apply(&[], plan_for(&svc, &pods, &[]));
        // p-000 (in a full slice) goes, p-new comes: one slice rewritten.
        pods.remove(0);
        pods.push(pod("p-new", "10.9.9.9", true));
        let p = plan_for(&svc, &pods, &slices);
        assert!(p.create.is_empty() && p.delete.is_empty(), "{p:?}");
        assert_eq!(sizes(&p.update), [100]);
        let after = apply(&slices, p);
        assert_eq!(sizes(&after), [50, 100, 100]);
    }

    #[test]
    fn a_changed_condition_rewrites_only_its_slice() {
        let svc = web();
        let mut pods = pods(250);
        let slices = apply(&[], plan_for(&svc, &pods, &[]));
        pods[120] = pod("p-120", "10.0.0.121", false);
        let p = plan_for(&svc, &pods, &slices);
        assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (0, 1, 0));
        let ep = endpoints(&p.update[0])
            .iter()
            .find(|e| e.target_ref.as_ref().unwrap().name.as_deref() == Some("p-120"))
            .unwrap();
        assert_eq!(ep.conditions.as_ref().unwrap().ready, Some(false));
    }

    #[test]
    fn no_endpoints_leave_one_placeholder() {
        let svc = web();
        let pods = pods(250);
        let slices = apply(&[], plan_for(&svc, &pods, &[]));
        // Every pod gone: two slices deleted, the third becomes the
        // placeholder rather than being deleted and created again.
        let p = plan_for(&svc, &[], &slices);
        assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (0, 1, 2));
        let placeholder = &p.update[0];
        assert_eq!(len(placeholder), 0);
        assert_eq!(placeholder.ports.as_deref(), Some(&[][..]));
        let now = apply(&slices, p);
        assert_eq!(now.len(), 1);
        assert!(
            plan_for(&svc, &[], &now).is_empty(),
            "the placeholder stays"
        );

        // From nothing: the placeholder is created.
        let p = plan_for(&svc, &[], &[]);
        assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (1, 0, 0));
        // The first endpoint reuses it.
        let one = pods[..1].to_vec();
        let p = plan_for(&svc, &one, &now);
        assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (0, 1, 0));
        assert_eq!(names(&p.update), names(&now));
        assert_eq!(len(&p.update[0]), 1);
    }

    #[test]
    fn new_service_labels_relabel_every_slice() {
        let svc = web();
        let pods = pods(150);
        let slices = apply(&[], plan_for(&svc, &pods, &[]));
        let mut relabelled = svc.clone();
        relabelled
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("team".into(), "b".into());
        let p = plan_for(&relabelled, &pods, &slices);
        assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (0, 2, 0));
        for s in &p.update {
            let labels = s.metadata.labels.as_ref().unwrap();
            assert_eq!(labels["team"], "b");
            assert_eq!(labels[SERVICE_NAME], "web");
            assert_eq!(labels[MANAGED_BY], CONTROLLER);
        }
        assert_eq!(sizes(&p.update), [50, 100]);
    }

    #[test]
    fn slices_of_an_earlier_service_or_family_go() {
        let svc = web();
        let pods = pods(3);
        let mut stale = apply(&[], plan_for(&svc, &pods, &[]));
        // Same name, another Service (uid).
        stale[0].metadata.owner_references.as_mut().unwrap()[0].uid = "old".into();
        let p = plan_for(&svc, &pods, &stale);
        assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (1, 0, 1));
        assert_eq!(len(&p.create[0]), 3);

        // The Service became IPv6: the IPv4 slice goes, an IPv6 placeholder
        // comes (no IPv6 pod addresses).
        let ours = apply(&[], plan_for(&svc, &pods, &[]));
        let v6 = service(json!({
            "selector": {"app": "web"}, "clusterIP": "fd00::10", "ipFamilies": ["IPv6"],
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        }));
        let mut v6 = v6;
        v6.metadata.uid = svc.metadata.uid.clone();
        let p = plan_for(&v6, &pods, &ours);
        assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (1, 0, 1));
        assert_eq!(p.create[0].address_type, "IPv6");
        assert_eq!(p.delete[0].address_type, "IPv4");
    }

    #[test]
    fn a_port_set_no_pod_resolves_goes() {
        let svc = web();
        let pods = pods(3);
        let slices = apply(&[], plan_for(&svc, &pods, &[]));
        let mut moved = svc.clone();
        moved.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].target_port =
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(9000));
        // The new port set's slice replaces the old one in place.
        let p = plan_for(&moved, &pods, &slices);
        assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (0, 1, 0));
        assert_eq!(p.update[0].ports.as_ref().unwrap()[0].port, Some(9000));
        assert_eq!(names(&p.update), names(&slices));
    }

    #[test]
    fn slices_hold_at_most_max() {
        let svc = web();
        let pods = pods(25);
        let refs: Vec<&Pod> = pods.iter().collect();
        let p = plan(&svc, &compute(&svc, &refs, |_| None), &[], 10);
        assert_eq!(sizes(&p.create), [5, 10, 10]);
    }
}
