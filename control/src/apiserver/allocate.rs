//! Cluster IPs and node ports for Services. Each address or port in use is a
//! claim key in the store, created before the Service that holds it and
//! deleted after it lets go, so two Services never share one, even across
//! API servers on etcd. A crash between the two writes leaves a claim
//! without a holder; [`Allocator::repair`] frees those at start.

use std::collections::HashSet;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;

use ipnetwork::IpNetwork;
use serde_json::{Value, json};

use super::validation::FieldError;
use crate::store::{Error as StoreError, ListOptions, Store};

const IPS: &str = "/registry/ranges/serviceips/";
const PORTS: &str = "/registry/ranges/servicenodeports/";

#[derive(Clone)]
pub struct Allocator {
    store: Arc<dyn Store>,
    pub cidr: IpNetwork,
    pub node_ports: RangeInclusive<u16>,
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
    matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer"))
}

impl Allocator {
    pub fn new(store: Arc<dyn Store>, cidr: IpNetwork, node_ports: RangeInclusive<u16>) -> Self {
        Self {
            store,
            cidr,
            node_ports,
        }
    }

    async fn taken(&self, prefix: &str) -> Result<HashSet<String>, StoreError> {
        let list = self.store.list(prefix, ListOptions::default()).await?;
        Ok(list
            .items
            .into_iter()
            .map(|kv| kv.key[prefix.len()..].to_owned())
            .collect())
    }

    /// Claims `key` for `who`; false if someone holds it.
    async fn claim(&self, key: String, who: &str) -> Result<bool, StoreError> {
        match self.store.create(&key, who.as_bytes().to_vec()).await {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The usable addresses: neither the network address nor, for IPv4, the
    /// broadcast one. The first is the `kubernetes` Service's.
    fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let first = self.cidr.network();
        let last = self.cidr.broadcast();
        self.cidr
            .iter()
            .filter(move |ip| *ip != first && !(ip.is_ipv4() && *ip == last))
    }

    /// The first usable address, kept for the `kubernetes` Service.
    pub fn first_ip(&self) -> IpAddr {
        self.addresses().next().expect("a service CIDR with room")
    }

    async fn allocate_ip(
        &self,
        requested: Option<IpAddr>,
        who: &str,
    ) -> Result<IpAddr, FieldError> {
        if let Some(ip) = requested {
            let list = json!([ip.to_string()]);
            if !self.cidr.contains(ip) || !self.addresses().any(|a| a == ip) {
                return Err(FieldError::invalid(
                    "spec.clusterIPs",
                    list,
                    format!(
                        "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                        self.cidr
                    ),
                ));
            }
            return match self.claim(format!("{IPS}{ip}"), who).await {
                Ok(true) => Ok(ip),
                Ok(false) => Err(FieldError::invalid(
                    "spec.clusterIPs",
                    list,
                    format!("failed to allocate IP {ip}: provided IP is already allocated"),
                )),
                Err(e) => Err(internal(e)),
            };
        }
        loop {
            let taken = self.taken(IPS).await.map_err(internal)?;
            // Dynamic addresses come from above a small band at the bottom
            // that is left for addresses chosen by hand, then from the band.
            let band = 16usize;
            let all: Vec<IpAddr> = self.addresses().take(taken.len() + band + 1).collect();
            let free = all
                .iter()
                .skip(band)
                .chain(all.iter().take(band))
                .find(|ip| !taken.contains(&ip.to_string()))
                .copied();
            let Some(ip) = free else {
                return Err(FieldError::forbidden(
                    "spec.clusterIPs",
                    format!(
                        "failed to allocate a serviceIP: range {} is full",
                        self.cidr
                    ),
                ));
            };
            if self
                .claim(format!("{IPS}{ip}"), who)
                .await
                .map_err(internal)?
            {
                return Ok(ip);
            }
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
            return match self.claim(format!("{PORTS}{port}"), who).await {
                Ok(true) => Ok(port),
                Ok(false) => Err(FieldError::invalid(
                    field,
                    json!(port),
                    "provided port is already allocated",
                )),
                Err(e) => Err(internal(e)),
            };
        }
        loop {
            let taken = self.taken(PORTS).await.map_err(internal)?;
            let free = self
                .node_ports
                .clone()
                .find(|p| !taken.contains(&p.to_string()));
            let Some(port) = free else {
                return Err(FieldError::forbidden(field, "range is full"));
            };
            if self
                .claim(format!("{PORTS}{port}"), who)
                .await
                .map_err(internal)?
            {
                return Ok(port);
            }
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
            let mut used: HashSet<u16> = HashSet::new();
            let n = spec["ports"].as_array().map_or(0, Vec::len);
            for i in 0..n {
                let field = format!("spec.ports[{i}].nodePort");
                let requested = spec["ports"][i]["nodePort"]
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok());
                let port = match requested {
                    Some(p) if held.ports.contains(&p) && used.insert(p) => p,
                    Some(p) if used.contains(&p) => {
                        return Err(FieldError::duplicate(field, json!(p)));
                    }
                    r => {
                        let p = self.allocate_port(field, r, &who).await?;
                        claimed.ports.push(p);
                        used.insert(p);
                        p
                    }
                };
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
        for key in held.keys() {
            if let Err(e) = self.store.delete(&key, None).await
                && !matches!(e, StoreError::NotFound)
            {
                tracing::warn!(%key, error = %e, "could not release; the next start repairs it");
            }
        }
    }

    /// Frees claims no Service holds: what a crash between a claim and its
    /// Service's write leaves behind.
    pub async fn repair(&self, services: &[Value]) -> Result<usize, StoreError> {
        let held: HashSet<String> = services.iter().flat_map(|s| Held::of(s).keys()).collect();
        let mut freed = 0;
        for prefix in [IPS, PORTS] {
            for kv in self.store.list(prefix, ListOptions::default()).await?.items {
                if !held.contains(&kv.key) {
                    self.store.delete(&kv.key, Some(kv.mod_revision)).await.ok();
                    freed += 1;
                }
            }
        }
        Ok(freed)
    }
}
