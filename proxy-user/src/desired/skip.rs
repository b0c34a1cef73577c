//! Which services this proxy leaves alone, as upstream kube-proxy does.

use k8s_openapi::api::core::v1::Service;

/// Delegates the service to another proxy implementation (kube-proxy's
/// informer selects `!service.kubernetes.io/service-proxy-name`).
const LABEL_SERVICE_PROXY_NAME: &str = "service.kubernetes.io/service-proxy-name";
/// Set by controllers that want a headless service without `clusterIP: None`.
const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";

pub(crate) fn is_proxied(svc: &Service) -> bool {
    // Label presence alone counts: the upstream selector is `!key`.
    if let Some(labels) = &svc.metadata.labels
        && (labels.contains_key(LABEL_SERVICE_PROXY_NAME) || labels.contains_key(LABEL_HEADLESS))
    {
        return false;
    }
    let Some(spec) = &svc.spec else {
        return false;
    };
    // ExternalName is a DNS CNAME; any clusterIP it carries is not served.
    if spec.type_.as_deref() == Some("ExternalName") {
        return false;
    }
    // The primary cluster IP decides headlessness (clusterIPs[0] == clusterIP).
    let primary = spec
        .cluster_ips
        .as_ref()
        .and_then(|ips| ips.first())
        .or(spec.cluster_ip.as_ref())
        .map(String::as_str);
    !matches!(primary, None | Some("") | Some("None"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn is_proxied_table() {
        let cases = [
            (
                "plain ClusterIP",
                json!({"spec": {"clusterIP": "10.96.0.1"}}),
                true,
            ),
            (
                "NodePort and LoadBalancer also have a cluster IP",
                json!({"spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.1"}}),
                true,
            ),
            (
                "headless",
                json!({"spec": {"clusterIP": "None", "clusterIPs": ["None"]}}),
                false,
            ),
            (
                "no cluster IP",
                json!({"spec": {"ports": [{"port": 80}]}}),
                false,
            ),
            (
                "empty cluster IP",
                json!({"spec": {"clusterIP": ""}}),
                false,
            ),
            ("no spec", json!({}), false),
            (
                "ExternalName",
                json!({"spec": {"type": "ExternalName", "externalName": "x.example", "clusterIP": "10.96.0.1"}}),
                false,
            ),
            (
                "service-proxy-name, any value",
                json!({"metadata": {"labels": {LABEL_SERVICE_PROXY_NAME: ""}}, "spec": {"clusterIP": "10.96.0.1"}}),
                false,
            ),
            (
                "headless label",
                json!({"metadata": {"labels": {LABEL_HEADLESS: "true"}}, "spec": {"clusterIP": "10.96.0.1"}}),
                false,
            ),
            (
                "unrelated label",
                json!({"metadata": {"labels": {"app": "x"}}, "spec": {"clusterIP": "10.96.0.1"}}),
                true,
            ),
        ];
        for (case, svc, want) in cases {
            let svc: Service = serde_json::from_value(svc).unwrap();
            assert_eq!(is_proxied(&svc), want, "{case}");
        }
    }
}
