//! Cluster IPs and node ports for Services. Each address or port in use is a
//! claim key in the store, created before the Service that holds it and
//! deleted after it lets go, so two Services never share one, even across
//! API servers on etcd. A crash between the two writes leaves a claim
//! without a holder; [`Allocator::repair`] frees those at start.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;

use ipnetwork::IpNetwork;
use serde_json::{Value, json};

use super::validation::FieldError;
use crate::store::{Error as StoreError, ListOptions, Store};

/// Both kinds of claims live under this prefix, so one list reads them all.
const CLAIMS: &str = "/registry/ranges/";
const IPS: &str = "/registry/ranges/serviceips/";
const PORTS: &str = "/registry/ranges/servicenodeports/";
const SERVICES: &str = "/registry/core/services/";

#[derive(Clone)]
pub struct Allocator {
    store: Arc<dyn Store>,
    pub cidr: IpNetwork,
    pub node_ports: RangeInclusive<u16>,
    ips: Arc<Pool>,
    ports: Arc<Pool>,
}

/// What a Service holds: its cluster IP (if any) and node ports.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Held {
    pub ip: Option<IpAddr>,
    pub ports: Vec<u16>,
}

impl Held {
    pub fn of(svc: &Value) -> Held {
        let spec = &svc["spec"];
        Held {
            ip: spec["clusterIP"].as_str().and_then(|ip| ip.parse().ok()),
            ports: spec["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["nodePort"].as_u64())
                .filter_map(|p| u16::try_from(p).ok())
                .collect(),
        }
    }

    fn keys(&self) -> Vec<String> {
        let ip = self.ip.iter().map(|ip| format!("{IPS}{ip}"));
        let ports = self.ports.iter().map(|p| format!("{PORTS}{p}"));
        ip.chain(ports).collect()
    }
}

fn owner(svc: &Value) -> String {
    let meta = &svc["metadata"];
    format!(
        "{}/{}",
        meta["namespace"].as_str().unwrap_or_default(),
        meta["name"].as_str().unwrap_or_default()
    )
}

fn internal(e: StoreError) -> FieldError {
    FieldError::forbidden("spec", format!("cannot allocate: {e}"))
}

fn needs_ip(spec: &Value) -> bool {
    spec["type"] != "ExternalName" && spec["clusterIP"] != "None"
}

fn needs_node_ports(spec: &Value) -> bool {
    match spec["type"].as_str() {
        Some("NodePort") => true,
        Some("LoadBalancer") => spec["allocateLoadBalancerNodePorts"] != false,
        _ => false,
    }
}

/// The free and taken values of one range, cached: the store holds the
/// truth (a claim key per value), the cache only spares a scan of every claim
/// per allocation and hands concurrent requests different candidates.
struct Pool {
    prefix: &'static str,
    size: usize,
    /// Where dynamic allocation starts: above a small band at the bottom
    /// left for values chosen by hand.
    first_dynamic: usize,
    state: tokio::sync::Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    taken: Option<HashSet<String>>,
    cursor: usize,
}

impl Allocator {
    pub fn new(store: Arc<dyn Store>, cidr: IpNetwork, node_ports: RangeInclusive<u16>) -> Self {
        let ip_count = match cidr {
            // Neither the network nor the broadcast address.
            IpNetwork::V4(n) => (1usize << (32 - n.prefix())).saturating_sub(2),
            IpNetwork::V6(n) => 1usize << (128 - n.prefix()).min(20),
        };
        let port_count = usize::from(*node_ports.end() - *node_ports.start()) + 1;
        let pool = |prefix, size: usize| {
            Arc::new(Pool {
                prefix,
                size,
                first_dynamic: if size > 64 { 16 } else { 0 },
                state: Default::default(),
            })
        };
        Self {
            store,
            cidr,
            ips: pool(IPS, ip_count),
            ports: pool(PORTS, port_count),
            node_ports,
        }
    }

    /// The `n`th usable address of the range.
    fn nth_ip(&self, n: usize) -> IpAddr {
        match self.cidr {
            IpNetwork::V4(net) => {
                std::net::Ipv4Addr::from(u32::from(net.network()) + 1 + n as u32).into()
            }
            IpNetwork::V6(net) => {
                std::net::Ipv6Addr::from(u128::from(net.network()) + 1 + n as u128).into()
            }
        }
    }

    fn ip_index(&self, ip: IpAddr) -> Option<usize> {
        let n = match (self.cidr, ip) {
            (IpNetwork::V4(net), IpAddr::V4(ip)) if net.contains(ip) => {
                u128::from(u32::from(ip).checked_sub(u32::from(net.network()) + 1)?)
            }
            (IpNetwork::V6(net), IpAddr::V6(ip)) if net.contains(ip) => {
                u128::from(ip).checked_sub(u128::from(net.network()) + 1)?
            }
            _ => return None,
        };
        usize::try_from(n).ok().filter(|n| *n < self.ips.size)
    }

    /// The first usable address, kept for the `kubernetes` Service.
    pub fn first_ip(&self) -> IpAddr {
        self.nth_ip(0)
    }

    async fn load(&self, pool: &Pool) -> Result<HashSet<String>, StoreError> {
        let list = self.store.list(pool.prefix, ListOptions::default()).await?;
        Ok(list
            .items
            .into_iter()
            .map(|kv| kv.key[pool.prefix.len()..].to_owned())
            .collect())
    }

    /// Claims `value` for `who`; false if someone holds it.
    async fn claim(&self, pool: &Pool, value: &str, who: &str) -> Result<bool, StoreError> {
        let key = format!("{}{value}", pool.prefix);
        let claimed = match self.store.create(&key, who.as_bytes().to_vec()).await {
            Ok(_) => true,
            Err(StoreError::AlreadyExists) => false,
            Err(e) => return Err(e),
        };
        if let Some(taken) = pool.state.lock().await.taken.as_mut() {
            taken.insert(value.to_owned());
        }
        Ok(claimed)
    }

    /// A free value of `pool`, claimed for `who`, or None when it is full.
    async fn next_free(
        &self,
        pool: &Pool,
        who: &str,
        nth: impl Fn(usize) -> String,
    ) -> Result<Option<String>, StoreError> {
        let mut reloaded = false;
        loop {
            let candidate = {
                let mut state = pool.state.lock().await;
                if state.taken.is_none()
                    || !reloaded && state.taken.as_ref().is_some_and(|t| t.len() >= pool.size)
                {
                    state.taken = Some(self.load(pool).await?);
                    reloaded = true;
                }
                let start = state.cursor.max(pool.first_dynamic);
                let taken = state.taken.as_ref().expect("loaded above");
                let found = (0..pool.size)
                    .map(|i| (start + i) % pool.size)
                    .map(|i| (i, nth(i)))
                    .find(|(_, v)| !taken.contains(v));
                match found {
                    Some((i, v)) => {
                        state.cursor = i + 1;
                        state.taken.as_mut().expect("loaded").insert(v.clone());
                        v
                    }
                    // Other API servers may have freed some since the cache
                    // was filled.
                    None if !reloaded => {
                        state.taken = None;
                        reloaded = true;
                        continue;
                    }
                    None => return Ok(None),
                }
            };
            match self.claim(pool, &candidate, who).await {
                Ok(true) => return Ok(Some(candidate)),
                Ok(false) => continue,
                Err(e) => {
                    if let Some(t) = pool.state.lock().await.taken.as_mut() {
                        t.remove(&candidate);
                    }
                    return Err(e);
                }
            }
        }
    }

    async fn allocate_ip(
        &self,
        requested: Option<IpAddr>,
        who: &str,
    ) -> Result<IpAddr, FieldError> {
        if let Some(ip) = requested {
            let list = json!([ip.to_string()]);
            if self.ip_index(ip).is_none() {
                return Err(FieldError::invalid(
                    "spec.clusterIPs",
                    list,
                    format!(
                        "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                        self.cidr
                    ),
                ));
            }
            return match self.claim(&self.ips, &ip.to_string(), who).await {
                Ok(true) => Ok(ip),
                Ok(false) => Err(FieldError::invalid(
                    "spec.clusterIPs",
                    list,
                    format!("failed to allocate IP {ip}: provided IP is already allocated"),
                )),
                Err(e) => Err(internal(e)),
            };
        }
        let found = self
            .next_free(&self.ips, who, |i| self.nth_ip(i).to_string())
            .await
            .map_err(internal)?;
        match found.and_then(|ip| ip.parse().ok()) {
            Some(ip) => Ok(ip),
            None => Err(FieldError::forbidden(
                "spec.clusterIPs",
                format!(
                    "failed to allocate a serviceIP: range {} is full",
                    self.cidr
                ),
            )),
        }
    }

    async fn allocate_port(
        &self,
        field: String,
        requested: Option<u16>,
        who: &str,
    ) -> Result<u16, FieldError> {
        if let Some(port) = requested {
            if !self.node_ports.contains(&port) {
                return Err(FieldError::invalid(
                    field,
                    json!(port),
                    format!(
                        "provided port is not in the valid range. The range of valid ports is {}-{}",
                        self.node_ports.start(),
                        self.node_ports.end()
                    ),
                ));
            }
            return match self.claim(&self.ports, &port.to_string(), who).await {
                Ok(true) => Ok(port),
                Ok(false) => Err(FieldError::invalid(
                    field,
                    json!(port),
                    "provided port is already allocated",
                )),
                Err(e) => Err(internal(e)),
            };
        }
        let first = *self.node_ports.start() as usize;
        let found = self
            .next_free(&self.ports, who, |i| (first + i).to_string())
            .await
            .map_err(internal)?;
        match found.and_then(|p| p.parse().ok()) {
            Some(port) => Ok(port),
            None => Err(FieldError::forbidden(field, "range is full")),
        }
    }

    /// Gives `svc` what its spec asks for and `old` (the stored Service, on an
    /// update) did not already hold; fills clusterIP(s), ipFamilies and node
    /// ports in. On error everything claimed here is released again.
    pub async fn assign(
        &self,
        svc: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), Vec<FieldError>> {
        let held = old.map(Held::of).unwrap_or_default();
        let mut claimed = Held::default();
        let result = self.assign_inner(svc, &held, &mut claimed).await;
        if let Err(e) = result {
            self.release(&claimed).await;
            return Err(vec![e]);
        }
        Ok(())
    }

    async fn assign_inner(
        &self,
        svc: &mut Value,
        held: &Held,
        claimed: &mut Held,
    ) -> Result<(), FieldError> {
        let who = owner(svc);
        let spec = &mut svc["spec"];
        if needs_ip(spec) {
            let requested: Option<IpAddr> =
                spec["clusterIP"].as_str().and_then(|ip| ip.parse().ok());
            let ip = match (requested, held.ip) {
                (Some(r), Some(h)) if r == h => r,
                (None, Some(h)) => h,
                (r, _) => {
                    let ip = self.allocate_ip(r, &who).await?;
                    claimed.ip = Some(ip);
                    ip
                }
            };
            spec["clusterIP"] = json!(ip.to_string());
            spec["clusterIPs"] = json!([ip.to_string()]);
            spec["ipFamilies"] = json!([if ip.is_ipv4() { "IPv4" } else { "IPv6" }]);
            if spec["ipFamilyPolicy"].is_null() {
                spec["ipFamilyPolicy"] = json!("SingleStack");
            }
        }
        if needs_node_ports(spec) {
            // One node port may serve one port number over several protocols
            // (DNS on TCP and UDP), never twice over one protocol.
            let mut used: HashMap<u16, Vec<String>> = HashMap::new();
            let n = spec["ports"].as_array().map_or(0, Vec::len);
            for i in 0..n {
                let field = format!("spec.ports[{i}].nodePort");
                let requested = spec["ports"][i]["nodePort"]
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok());
                let protocol = spec["ports"][i]["protocol"]
                    .as_str()
                    .unwrap_or("TCP")
                    .to_owned();
                let port = match requested {
                    Some(p) if used.get(&p).is_some_and(|ps| ps.contains(&protocol)) => {
                        return Err(FieldError::duplicate(field, json!(p)));
                    }
                    Some(p) if used.contains_key(&p) || held.ports.contains(&p) => p,
                    r => {
                        let p = self.allocate_port(field, r, &who).await?;
                        claimed.ports.push(p);
                        p
                    }
                };
                used.entry(port).or_default().push(protocol);
                spec["ports"][i]["nodePort"] = json!(port);
            }
        } else if let Some(ports) = spec["ports"].as_array_mut() {
            for p in ports {
                if let Some(p) = p.as_object_mut() {
                    p.remove("nodePort");
                }
            }
        }
        if !needs_ip(spec)
            && spec["clusterIP"] != "None"
            && let Some(map) = spec.as_object_mut()
        {
            map.remove("clusterIP");
            map.remove("clusterIPs");
        }
        Ok(())
    }

    /// Frees what `old` held and `new` (None when deleted) no longer does.
    pub async fn release_unused(&self, old: &Value, new: Option<&Value>) {
        let old = Held::of(old);
        let new = new.map(Held::of).unwrap_or_default();
        let gone = Held {
            ip: old.ip.filter(|ip| new.ip != Some(*ip)),
            ports: old
                .ports
                .into_iter()
                .filter(|p| !new.ports.contains(p))
                .collect(),
        };
        self.release(&gone).await;
    }

    async fn release(&self, held: &Held) {
        let ips = held.ip.iter().map(|ip| (&self.ips, ip.to_string()));
        let ports = held.ports.iter().map(|p| (&self.ports, p.to_string()));
        for (pool, value) in ips.chain(ports) {
            let key = format!("{}{value}", pool.prefix);
            match self.store.delete(&key, None).await {
                Ok(_) | Err(StoreError::NotFound) => {
                    if let Some(t) = pool.state.lock().await.taken.as_mut() {
                        t.remove(&value);
                    }
                }
                Err(e) => {
                    tracing::warn!(%key, error = %e, "could not release; the next start repairs it")
                }
            }
        }
    }

    /// Brings the claims in line with the Services, read at one revision: a
    /// claim missing for a value a Service holds is written, and a claim no
    /// Service holds is freed when it was already orphaned (unchanged) at the
    /// previous pass, since a fresh claim may belong to a Service being
    /// written right now. `suspects` carries those orphans between passes.
    pub async fn repair(&self, suspects: &mut HashMap<String, i64>) -> Result<(), StoreError> {
        let claims = self.store.list(CLAIMS, ListOptions::default()).await?;
        let at = ListOptions {
            revision: Some(claims.revision),
            ..Default::default()
        };
        let services = self.store.list(SERVICES, at).await?;
        let held: HashSet<String> = services
            .items
            .iter()
            .map(super::resources::served)
            .flat_map(|s| Held::of(&s).keys())
            .collect();
        let present: HashMap<&str, i64> = claims
            .items
            .iter()
            .map(|kv| (kv.key.as_str(), kv.mod_revision))
            .collect();
        let mut changed = false;
        for key in held.iter().filter(|k| !present.contains_key(k.as_str())) {
            let owner = b"restored".to_vec();
            if self.store.create(key, owner).await.is_ok() {
                tracing::warn!(%key, "restored a Service address claim that was missing");
                changed = true;
            }
        }
        let mut orphans = HashMap::new();
        for (key, rev) in present.into_iter().filter(|(k, _)| !held.contains(*k)) {
            if suspects.get(key) == Some(&rev) {
                if self.store.delete(key, Some(rev)).await.is_ok() {
                    tracing::info!(%key, "freed a Service address claim no Service holds");
                    changed = true;
                }
            } else {
                orphans.insert(key.to_owned(), rev);
            }
        }
        *suspects = orphans;
        if changed {
            for pool in [&self.ips, &self.ports] {
                pool.state.lock().await.taken = None;
            }
        }
        Ok(())
    }

    /// Repairs every `every`, for good.
    pub fn spawn_repair(&self, every: std::time::Duration) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut suspects = HashMap::new();
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = this.repair(&mut suspects).await {
                    tracing::warn!(error = %e, "Service address repair failed; retrying later");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EmbeddedStore;

    fn allocator(dir: &std::path::Path) -> Allocator {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir).unwrap());
        Allocator::new(store, "10.96.0.0/24".parse().unwrap(), 30000..=30009)
    }

    #[tokio::test]
    async fn repair_restores_missing_claims_and_frees_orphans_on_the_second_look() {
        let dir = tempfile::tempdir().unwrap();
        let a = allocator(dir.path());
        // A Service whose claim is missing, and a claim without a Service.
        let svc = json!({"metadata": {"name": "web", "namespace": "default"},
                         "spec": {"clusterIP": "10.96.0.20", "type": "NodePort", "ports": [{"port": 80, "nodePort": 30003}]}});
        a.store
            .create(
                "/registry/core/services/default/web",
                svc.to_string().into_bytes(),
            )
            .await
            .unwrap();
        a.store
            .create("/registry/ranges/serviceips/10.96.0.30", b"gone/x".to_vec())
            .await
            .unwrap();

        let mut suspects = HashMap::new();
        a.repair(&mut suspects).await.unwrap();
        for key in [
            "/registry/ranges/serviceips/10.96.0.20",
            "/registry/ranges/servicenodeports/30003",
        ] {
            assert!(a.store.get(key).await.unwrap().is_some(), "{key} restored");
        }
        let orphan = "/registry/ranges/serviceips/10.96.0.30";
        assert!(
            a.store.get(orphan).await.unwrap().is_some(),
            "one look is not enough"
        );
        a.repair(&mut suspects).await.unwrap();
        assert!(
            a.store.get(orphan).await.unwrap().is_none(),
            "freed on the second look"
        );
        // The restored claims keep the values from being handed out again.
        let mut other = json!({"metadata": {"name": "b", "namespace": "default"},
                               "spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 80}]}});
        assert!(a.assign(&mut other, None).await.is_err());
    }
}
