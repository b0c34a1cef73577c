//! Dual-stack: upstream runs one proxier per IP family, so each cluster IP
//! only ever sees endpoints of its own family.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    V4,
    V6,
}

impl Family {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// `None` for FQDN slices (and anything unknown): they carry no addresses
    /// a socket can connect to.
    pub(crate) fn of_address_type(address_type: &str) -> Option<Self> {
        match address_type {
            "IPv4" => Some(Family::V4),
            "IPv6" => Some(Family::V6),
            _ => None,
        }
    }
}

/// The service's cluster IPs, at most one per family (the first valid one, as
/// upstream's per-family proxier picks). `spec.clusterIPs` supersedes
/// `spec.clusterIP`, which older API servers set alone.
pub(crate) fn cluster_ips(svc: &Service) -> Vec<IpAddr> {
    let Some(spec) = &svc.spec else {
        return Vec::new();
    };
    let listed: Vec<&str> = match &spec.cluster_ips {
        Some(ips) if !ips.is_empty() => ips.iter().map(String::as_str).collect(),
        _ => spec.cluster_ip.as_deref().into_iter().collect(),
    };
    let mut out: Vec<IpAddr> = Vec::new();
    for ip in listed.iter().filter_map(|s| s.parse::<IpAddr>().ok()) {
        if !out.iter().any(|seen| Family::of(*seen) == Family::of(ip)) {
            out.push(ip);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cluster_ips_table() {
        let cases: &[(&str, serde_json::Value, &[&str])] = &[
            (
                "clusterIPs wins over clusterIP",
                json!({"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1", "fd00::1"]}),
                &["10.96.0.1", "fd00::1"],
            ),
            (
                "fallback to clusterIP",
                json!({"clusterIP": "10.96.0.2"}),
                &["10.96.0.2"],
            ),
            (
                "invalid strings ignored",
                json!({"clusterIPs": ["not-an-ip", "10.96.0.3", "300.1.1.1"]}),
                &["10.96.0.3"],
            ),
            (
                "one per family",
                json!({"clusterIPs": ["fd00::1", "10.96.0.4", "10.96.0.5", "fd00::2"]}),
                &["fd00::1", "10.96.0.4"],
            ),
            ("None", json!({"clusterIP": "None"}), &[]),
            ("nothing", json!({}), &[]),
        ];
        for (name, spec, want) in cases {
            let svc: Service = serde_json::from_value(json!({"spec": spec})).unwrap();
            let got: Vec<String> = cluster_ips(&svc).iter().map(|i| i.to_string()).collect();
            assert_eq!(&got, want, "{name}");
        }
    }
}
