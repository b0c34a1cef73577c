//! Node IPAM: every node gets a pod CIDR (`spec.podCIDR`, `spec.podCIDRs`)
//! carved from the cluster CIDR. What is taken is read from the nodes
//! themselves at every change, so a deleted node's range is free again and
//! nothing needs to be remembered across restarts.

use std::collections::HashSet;

use futures::StreamExt as _;
use ipnetwork::IpNetwork;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt as _, reflector, watcher};
use kube::{Client, ResourceExt as _};
use serde_json::json;
use tracing::{info, warn};

use super::Settings;

/// The `n`th subnet of `prefix` bits inside `cluster`.
fn nth_subnet(cluster: IpNetwork, prefix: u8, n: u128) -> Option<IpNetwork> {
    let host_bits = match cluster {
        IpNetwork::V4(_) => 32,
        IpNetwork::V6(_) => 128,
    };
    let count = 1u128.checked_shl(u32::from(prefix.checked_sub(cluster.prefix())?))?;
    if n >= count || prefix > host_bits {
        return None;
    }
    let step = 1u128
        .checked_shl(u32::from(host_bits - prefix))
        .unwrap_or(0);
    let net = match cluster {
        IpNetwork::V4(c) => {
            let base = u128::from(u32::from(c.network()));
            let ip = std::net::Ipv4Addr::from(u32::try_from(base + n * step).ok()?);
            IpNetwork::V4(ipnetwork::Ipv4Network::new(ip, prefix).ok()?)
        }
        IpNetwork::V6(c) => {
            let ip = std::net::Ipv6Addr::from(u128::from(c.network()) + n * step);
            IpNetwork::V6(ipnetwork::Ipv6Network::new(ip, prefix).ok()?)
        }
    };
    Some(net)
}

/// Pod CIDRs for the nodes that have none: (node, cidr), lowest free first.
pub fn plan(
    nodes: &[(String, Option<String>)],
    cluster: IpNetwork,
    prefix: u8,
) -> Vec<(String, IpNetwork)> {
    let mut taken: HashSet<IpNetwork> = nodes
        .iter()
        .filter_map(|(_, cidr)| cidr.as_deref()?.parse().ok())
        .collect();
    let mut next = 0u128;
    let mut out = Vec::new();
    for (name, _) in nodes.iter().filter(|(_, c)| c.is_none()) {
        let free = loop {
            match nth_subnet(cluster, prefix, next) {
                Some(net) if taken.contains(&net) => next += 1,
                other => break other,
            }
        };
        let Some(net) = free else {
            warn!(node = %name, %cluster, "no pod CIDR left for the node");
            continue;
        };
        taken.insert(net);
        out.push((name.clone(), net));
    }
    out
}

/// Assigns pod CIDRs to the nodes without one. `assigned` remembers what
/// this loop wrote until the cache shows it, so a cache that lags never
/// hands one range to two nodes.
async fn assign(
    client: &Client,
    nodes: &[std::sync::Arc<Node>],
    settings: &Settings,
    assigned: &mut std::collections::HashMap<String, String>,
) {
    let view: Vec<(String, Option<String>)> = nodes
        .iter()
        .map(|n| {
            let name = n.name_any();
            let seen = n.spec.as_ref().and_then(|s| s.pod_cidr.clone());
            let cidr = seen.or_else(|| assigned.get(&name).cloned());
            (name, cidr)
        })
        .collect();
    assigned.retain(|name, _| {
        nodes.iter().any(|n| {
            n.name_any() == *name && n.spec.as_ref().and_then(|s| s.pod_cidr.as_ref()).is_none()
        })
    });
    let api: Api<Node> = Api::all(client.clone());
    for (name, cidr) in plan(&view, settings.cluster_cidr, settings.node_cidr_mask) {
        let patch = json!({"spec": {"podCIDR": cidr.to_string(), "podCIDRs": [cidr.to_string()]}});
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => {
                info!(node = %name, %cidr, "assigned a pod CIDR");
                assigned.insert(name, cidr.to_string());
            }
            Err(e) => {
                warn!(node = %name, error = %e, "cannot assign a pod CIDR; retrying on the next change")
            }
        }
    }
}

pub async fn run(client: Client, settings: Settings) -> anyhow::Result<()> {
    let (store, writer) = reflector::store::<Node>();
    let mut assigned = std::collections::HashMap::new();
    let mut events = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Apply(_) | watcher::Event::InitDone) => {
                assign(&client, &store.state(), &settings, &mut assigned).await
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "node IPAM: watch failed; retrying"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_free_ranges_go_to_new_nodes() {
        let cluster: IpNetwork = "10.244.0.0/16".parse().unwrap();
        let nodes = vec![
            ("a".to_owned(), Some("10.244.0.0/24".to_owned())),
            ("b".to_owned(), None),
            ("c".to_owned(), Some("10.244.2.0/24".to_owned())),
            ("d".to_owned(), None),
        ];
        let got: Vec<(String, String)> = plan(&nodes, cluster, 24)
            .into_iter()
            .map(|(n, c)| (n, c.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                ("b".into(), "10.244.1.0/24".into()),
                ("d".into(), "10.244.3.0/24".into())
            ]
        );
        let tiny: IpNetwork = "10.0.0.0/23".parse().unwrap();
        let many: Vec<(String, Option<String>)> = (0..3).map(|i| (format!("n{i}"), None)).collect();
        assert_eq!(plan(&many, tiny, 24).len(), 2, "two /24s in a /23");
        let v6: IpNetwork = "fd00:10:244::/56".parse().unwrap();
        assert_eq!(plan(&many, v6, 64)[1].1.to_string(), "fd00:10:244:1::/64");
    }
}
