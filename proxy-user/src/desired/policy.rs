//! Per-service settings that shape the backend list of every frontend.

use k8s_openapi::api::core::v1::Service;

/// Upstream's default ClientIP affinity timeout (3 hours).
const DEFAULT_AFFINITY_TIMEOUT: u32 = 10800;

const ANNOTATION_TOPOLOGY_MODE: &str = "service.kubernetes.io/topology-mode";
const ANNOTATION_TOPOLOGY_AWARE_HINTS: &str = "service.kubernetes.io/topology-aware-hints";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    /// internalTrafficPolicy: Local.
    pub local_only: bool,
    pub affinity_timeout: Option<u32>,
    /// The service asked for topology-aware routing, so hints may be used.
    pub topology_aware: bool,
}

impl Policy {
    pub(crate) fn of(svc: &Service) -> Self {
        let Some(spec) = &svc.spec else {
            return Policy::default();
        };
        let affinity_timeout = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                // The API validates 1..=86400; fall back rather than program 0.
                .and_then(|t| u32::try_from(t).ok().filter(|t| *t > 0))
                .unwrap_or(DEFAULT_AFFINITY_TIMEOUT)
        });
        Policy {
            local_only: spec.internal_traffic_policy.as_deref() == Some("Local"),
            affinity_timeout,
            topology_aware: topology_aware(svc),
        }
    }
}

fn topology_aware(svc: &Service) -> bool {
    let annotation = |key| {
        svc.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    // The newer annotation supersedes the deprecated one when set.
    let mode = annotation(ANNOTATION_TOPOLOGY_MODE)
        .or_else(|| annotation(ANNOTATION_TOPOLOGY_AWARE_HINTS));
    // Exact spellings only: upstream ignores e.g. "aUto".
    let by_annotation = matches!(mode, Some("Auto" | "auto"));
    // PreferSameZone is the newer name of PreferClose; PreferSameNode also
    // publishes zone hints as its fallback.
    let by_distribution = matches!(
        svc.spec
            .as_ref()
            .and_then(|s| s.traffic_distribution.as_deref()),
        Some("PreferClose" | "PreferSameZone" | "PreferSameNode")
    );
    by_annotation || by_distribution
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policy_table() {
        let off = Policy::default();
        let cases = [
            (
                "defaults",
                json!({}),
                json!({"clusterIP": "10.96.0.1"}),
                off.clone(),
            ),
            (
                "ClientIP affinity with default timeout",
                json!({}),
                json!({"sessionAffinity": "ClientIP"}),
                Policy {
                    affinity_timeout: Some(10800),
                    ..off.clone()
                },
            ),
            (
                "ClientIP affinity with explicit timeout",
                json!({}),
                json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}),
                Policy {
                    affinity_timeout: Some(60),
                    ..off.clone()
                },
            ),
            (
                "timeout without ClientIP affinity is ignored",
                json!({}),
                json!({"sessionAffinity": "None", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}),
                off.clone(),
            ),
            (
                "internalTrafficPolicy Local",
                json!({}),
                json!({"internalTrafficPolicy": "Local"}),
                Policy {
                    local_only: true,
                    ..off.clone()
                },
            ),
            (
                "topology-mode Auto",
                json!({ANNOTATION_TOPOLOGY_MODE: "Auto"}),
                json!({}),
                Policy {
                    topology_aware: true,
                    ..off.clone()
                },
            ),
            (
                "deprecated topology-aware-hints auto",
                json!({ANNOTATION_TOPOLOGY_AWARE_HINTS: "auto"}),
                json!({}),
                Policy {
                    topology_aware: true,
                    ..off.clone()
                },
            ),
            (
                "topology-mode supersedes the deprecated annotation",
                json!({ANNOTATION_TOPOLOGY_MODE: "Disabled", ANNOTATION_TOPOLOGY_AWARE_HINTS: "auto"}),
                json!({}),
                off.clone(),
            ),
            (
                "wrong capitalisation",
                json!({ANNOTATION_TOPOLOGY_MODE: "aUto"}),
                json!({}),
                off.clone(),
            ),
            (
                "trafficDistribution PreferClose",
                json!({}),
                json!({"trafficDistribution": "PreferClose"}),
                Policy {
                    topology_aware: true,
                    ..off.clone()
                },
            ),
        ];
        for (case, annotations, spec, want) in cases {
            let svc: Service = serde_json::from_value(
                json!({"metadata": {"annotations": annotations}, "spec": spec}),
            )
            .unwrap();
            assert_eq!(Policy::of(&svc), want, "{case}");
        }
    }
}
