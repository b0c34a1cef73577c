//! Services and EndpointSlices as an API server returns them, written as YAML.

use serde_json::{Value, json};

pub struct Port {
    pub name: &'static str,
    pub port: u16,
    pub target: u16,
    pub protocol: &'static str,
}

pub fn port(name: &'static str, port: u16, target: u16, protocol: &'static str) -> Port {
    Port {
        name,
        port,
        target,
        protocol,
    }
}

pub fn service(
    name: &str,
    cluster_ips: &[&str],
    ports: &[Port],
    affinity_timeout: Option<u32>,
) -> Value {
    let families: Vec<&str> = cluster_ips
        .iter()
        .map(|ip| if ip.contains(':') { "IPv6" } else { "IPv4" })
        .collect();
    let mut spec = json!({
        "type": "ClusterIP",
        "clusterIP": cluster_ips[0],
        "clusterIPs": cluster_ips,
        "ipFamilies": families,
        "ports": ports.iter().map(|p| json!({"name": p.name, "port": p.port, "targetPort": p.target, "protocol": p.protocol})).collect::<Vec<_>>(),
        "selector": {"app": name},
        "sessionAffinity": "None",
    });
    if let Some(t) = affinity_timeout {
        spec["sessionAffinity"] = json!("ClientIP");
        spec["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": t}});
    }
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "resourceVersion": "1"},
        "spec": spec,
    })
}

/// Conditions of one endpoint.
#[derive(Clone, Copy)]
pub struct Cond {
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

pub const READY: Cond = Cond {
    ready: true,
    serving: true,
    terminating: false,
};
pub const TERMINATING_SERVING: Cond = Cond {
    ready: false,
    serving: true,
    terminating: true,
};

pub fn slice(name: &str, service: &str, endpoints: &[(&str, Cond)], ports: &[Port]) -> Value {
    let family = if endpoints.first().is_some_and(|(ip, _)| ip.contains(':')) {
        "IPv6"
    } else {
        "IPv4"
    };
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": "default",
            // Written by the tests as their own manager: a control plane's
            // EndpointSlice loop leaves slices it does not manage alone.
            "labels": {"kubernetes.io/service-name": service, "endpointslice.kubernetes.io/managed-by": "skiff-e2e.example.com"},
        },
        "addressType": family,
        "endpoints": endpoints.iter().map(|(ip, c)| json!({
            "addresses": [ip],
            "conditions": {"ready": c.ready, "serving": c.serving, "terminating": c.terminating},
            "nodeName": "node-1",
        })).collect::<Vec<_>>(),
        "ports": ports.iter().map(|p| json!({"name": p.name, "port": p.target, "protocol": p.protocol})).collect::<Vec<_>>(),
    })
}

/// A multi-document YAML stream.
pub fn yaml(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|o| format!("---\n{}", serde_json::to_string_pretty(o).unwrap()))
        .collect::<Vec<_>>()
        .join("\n")
}
