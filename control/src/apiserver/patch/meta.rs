//! How strategic merge patch treats each field of the served kinds: the
//! `patchStrategy` and `patchMergeKey` struct tags of k8s.io/api and
//! k8s.io/apimachinery (meta/v1), keyed by Go type name so that shared parts
//! (ObjectMeta, PodTemplateSpec, PodSpec, Container) are written once.
//! Fields not listed have no strategy: maps merge and lists are replaced.

/// The Go type a value has, where the table knows it.
pub(super) type Ty = Option<&'static str>;

/// What the tags say of one field.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct FieldMeta {
    /// `patchStrategy` includes "merge": the list merges instead of being replaced.
    pub merge: bool,
    pub merge_key: Option<&'static str>,
    /// The type of the field's value, or of its elements for a list.
    pub ty: Ty,
}

/// The kinds with fields beyond their metadata. Every other kind is an
/// "Object": only its ObjectMeta is known.
const KINDS: &[&str] = &[
    "Pod",
    "Service",
    "Node",
    "Namespace",
    "ServiceAccount",
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
];

/// (type, field, patchStrategy, patchMergeKey, type of the value or elements).
/// Rows without a strategy only lead to a nested type.
#[rustfmt::skip]
const FIELDS: &[(&str, &str, &str, &str, &str)] = &[
    ("Object", "metadata", "", "", "ObjectMeta"),
    ("ObjectMeta", "finalizers", "merge", "", ""),
    ("ObjectMeta", "ownerReferences", "merge", "uid", ""),

    // core/v1
    ("Pod", "metadata", "", "", "ObjectMeta"),
    ("Pod", "spec", "", "", "PodSpec"),
    ("Pod", "status", "", "", "PodStatus"),
    ("PodTemplateSpec", "metadata", "", "", "ObjectMeta"),
    ("PodTemplateSpec", "spec", "", "", "PodSpec"),
    ("PodSpec", "volumes", "merge,retainKeys", "name", ""),
    ("PodSpec", "initContainers", "merge", "name", "Container"),
    ("PodSpec", "containers", "merge", "name", "Container"),
    // EphemeralContainerCommon carries the same tags as Container.
    ("PodSpec", "ephemeralContainers", "merge", "name", "Container"),
    ("PodSpec", "imagePullSecrets", "merge", "name", ""),
    ("PodSpec", "hostAliases", "merge", "ip", ""),
    ("PodSpec", "topologySpreadConstraints", "merge", "topologyKey", ""),
    ("PodSpec", "schedulingGates", "merge", "name", ""),
    ("PodSpec", "resourceClaims", "merge,retainKeys", "name", ""),
    ("PodSpec", "evictionResponders", "merge", "name", ""),
    ("Container", "ports", "merge", "containerPort", ""),
    ("Container", "env", "merge", "name", ""),
    ("Container", "volumeMounts", "merge", "mountPath", ""),
    ("Container", "volumeDevices", "merge", "devicePath", ""),
    ("PodStatus", "conditions", "merge", "type", ""),
    ("PodStatus", "hostIPs", "merge", "ip", ""),
    ("PodStatus", "podIPs", "merge", "ip", ""),
    ("PodStatus", "resourceClaimStatuses", "merge,retainKeys", "name", ""),
    ("PodStatus", "nodeAllocatableResourceClaimStatuses", "merge", "resourceClaimName", "NodeAllocatableResourceClaimStatus"),
    ("NodeAllocatableResourceClaimStatus", "mapping", "merge", "name", ""),
    ("NodeAllocatableResourceClaimStatus", "overhead", "merge", "name", ""),

    ("Service", "metadata", "", "", "ObjectMeta"),
    ("Service", "spec", "", "", "ServiceSpec"),
    ("Service", "status", "", "", "ServiceStatus"),
    ("ServiceSpec", "ports", "merge", "port", ""),
    ("ServiceStatus", "conditions", "merge", "type", ""),

    ("Node", "metadata", "", "", "ObjectMeta"),
    ("Node", "spec", "", "", "NodeSpec"),
    ("Node", "status", "", "", "NodeStatus"),
    ("NodeSpec", "podCIDRs", "merge", "", ""),
    ("NodeStatus", "conditions", "merge", "type", ""),
    ("NodeStatus", "addresses", "merge", "type", ""),

    ("Namespace", "metadata", "", "", "ObjectMeta"),
    ("Namespace", "status", "", "", "NamespaceStatus"),
    ("NamespaceStatus", "conditions", "merge", "type", ""),

    ("ServiceAccount", "metadata", "", "", "ObjectMeta"),
    ("ServiceAccount", "secrets", "merge", "name", ""),

    // apps/v1
    ("Deployment", "metadata", "", "", "ObjectMeta"),
    ("Deployment", "spec", "", "", "DeploymentSpec"),
    ("Deployment", "status", "", "", "DeploymentStatus"),
    ("DeploymentSpec", "template", "", "", "PodTemplateSpec"),
    ("DeploymentSpec", "strategy", "retainKeys", "", ""),
    ("DeploymentStatus", "conditions", "merge", "type", ""),

    ("ReplicaSet", "metadata", "", "", "ObjectMeta"),
    ("ReplicaSet", "spec", "", "", "ReplicaSetSpec"),
    ("ReplicaSet", "status", "", "", "ReplicaSetStatus"),
    ("ReplicaSetSpec", "template", "", "", "PodTemplateSpec"),
    ("ReplicaSetStatus", "conditions", "merge", "type", ""),

    ("DaemonSet", "metadata", "", "", "ObjectMeta"),
    ("DaemonSet", "spec", "", "", "DaemonSetSpec"),
    ("DaemonSet", "status", "", "", "DaemonSetStatus"),
    ("DaemonSetSpec", "template", "", "", "PodTemplateSpec"),
    ("DaemonSetStatus", "conditions", "merge", "type", ""),
];

/// The type of a whole object of `kind`.
pub(super) fn root(kind: &str) -> Ty {
    Some(
        KINDS
            .iter()
            .copied()
            .find(|k| *k == kind)
            .unwrap_or("Object"),
    )
}

pub(super) fn field(ty: Ty, name: &str) -> FieldMeta {
    let Some(ty) = ty else {
        return FieldMeta::default();
    };
    let row = FIELDS.iter().find(|(t, f, ..)| *t == ty && *f == name);
    let Some(&(_, _, strategy, key, inner)) = row else {
        return FieldMeta::default();
    };
    FieldMeta {
        merge: strategy.split(',').any(|s| s == "merge"),
        merge_key: (!key.is_empty()).then_some(key),
        ty: (!inner.is_empty()).then_some(inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(kind: &str, fields: &[&str]) -> FieldMeta {
        let mut meta = FieldMeta {
            ty: root(kind),
            ..FieldMeta::default()
        };
        for f in fields {
            meta = field(meta.ty, f);
        }
        meta
    }

    #[test]
    fn pod_templates_share_pod_spec() {
        for kind in ["Deployment", "ReplicaSet", "DaemonSet"] {
            let env = path(kind, &["spec", "template", "spec", "containers", "env"]);
            assert_eq!((env.merge, env.merge_key), (true, Some("name")), "{kind}");
        }
        let mounts = path("Pod", &["spec", "initContainers", "volumeMounts"]);
        assert_eq!(mounts.merge_key, Some("mountPath"));
    }

    #[test]
    fn every_kind_has_object_meta() {
        for kind in ["ConfigMap", "Lease", "Pod", "Deployment", "Whatever"] {
            let finalizers = path(kind, &["metadata", "finalizers"]);
            assert_eq!(
                (finalizers.merge, finalizers.merge_key),
                (true, None),
                "{kind}"
            );
        }
    }

    #[test]
    fn untagged_fields_have_no_strategy() {
        assert_eq!(path("Pod", &["spec", "tolerations"]), FieldMeta::default());
        assert_eq!(path("Endpoints", &["subsets"]), FieldMeta::default());
        assert!(!path("Deployment", &["spec", "strategy"]).merge);
    }
}
