//! The resources the server serves. Each entry is derived from its k8s-openapi
//! type (group, version, kind, plural path segment, scope), so the server and
//! its clients agree by construction; only what the type does not say (short
//! names, subresources, categories) is written here.

use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::api::{apps::v1 as apps, coordination::v1 as coordination, core::v1 as core};
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, Resource};

/// Whether a scope type means "namespaced".
pub trait Scope {
    const NAMESPACED: bool;
}
impl Scope for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl Scope for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

/// Checks that a JSON object is a value of the resource's type. Ok holds the
/// paths of fields the type does not know (for `fieldValidation`) and the
/// object as the type writes it back: without those fields, nulls or
/// anything else the type does not keep, as upstream stores what decodes
/// into its Go types. The error names the field where decoding stopped.
pub type Validate = fn(&serde_json::Value) -> Result<(Vec<String>, serde_json::Value), String>;

fn validate_as<K: serde::de::DeserializeOwned + serde::Serialize>(
    v: &serde_json::Value,
) -> Result<(Vec<String>, serde_json::Value), String> {
    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path| unknown.push(field_path(&path));
    let de = serde_ignored::Deserializer::new(v, &mut record);
    match serde_path_to_error::deserialize::<_, K>(de) {
        Ok(typed) => {
            let normal = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
            Ok((unknown, normal))
        }
        Err(e) if e.path().iter().next().is_none() => Err(e.inner().to_string()),
        Err(e) => Err(format!("{}: {}", e.path(), e.inner())),
    }
}

/// `spec.containers[0].foo`, as upstream names fields.
fn field_path(path: &serde_ignored::Path) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => match field_path(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path(parent),
    }
}

#[derive(Clone, Copy)]
pub struct ResourceInfo {
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The plural name in URLs, e.g. "endpointslices".
    pub plural: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub subresources: &'static [&'static str],
    /// kubectl's `get all` lists the "all" category.
    pub categories: &'static [&'static str],
    pub validate: Validate,
}

impl std::fmt::Debug for ResourceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.group_version(), self.plural)
    }
}

impl PartialEq for ResourceInfo {
    fn eq(&self, other: &Self) -> bool {
        (self.group, self.version, self.plural) == (other.group, other.version, other.plural)
    }
}

impl ResourceInfo {
    const fn of<K>(
        short_names: &'static [&'static str],
        subresources: &'static [&'static str],
        categories: &'static [&'static str],
    ) -> Self
    where
        K: Resource + serde::de::DeserializeOwned + serde::Serialize,
        K::Scope: Scope,
    {
        ResourceInfo {
            group: K::GROUP,
            version: K::VERSION,
            kind: K::KIND,
            plural: K::URL_PATH_SEGMENT,
            namespaced: <K::Scope as Scope>::NAMESPACED,
            short_names,
            subresources,
            categories,
            validate: validate_as::<K>,
        }
    }

    /// `v1` or `apps/v1`.
    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The lowercase kind, which kubectl accepts as a singular name.
    pub fn singular(&self) -> String {
        self.kind.to_ascii_lowercase()
    }

    /// Where an object lives in the store: `/registry/<group>/<plural>/<ns>/<name>`
    /// (`core` for the core group; no namespace segment for cluster-scoped
    /// kinds). With `name` None, the prefix that lists them.
    pub fn key(&self, namespace: Option<&str>, name: Option<&str>) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        let mut key = format!("/registry/{group}/{}/", self.plural);
        if self.namespaced
            && let Some(ns) = namespace
        {
            key.push_str(ns);
            key.push('/');
        }
        if let Some(name) = name {
            key.push_str(name);
        }
        key
    }
}

const ALL: &[&str] = &["all"];

pub static RESOURCES: &[ResourceInfo] = &[
    ResourceInfo::of::<core::Namespace>(&["ns"], &["status", "finalize"], &[]),
    ResourceInfo::of::<core::Pod>(
        &["po"],
        &[
            "status",
            "binding",
            "log",
            "exec",
            "attach",
            "portforward",
            "eviction",
        ],
        ALL,
    ),
    ResourceInfo::of::<core::Service>(&["svc"], &["status"], ALL),
    ResourceInfo::of::<core::Endpoints>(&["ep"], &[], &[]),
    ResourceInfo::of::<core::Node>(&["no"], &["status"], &[]),
    ResourceInfo::of::<core::ConfigMap>(&["cm"], &[], &[]),
    ResourceInfo::of::<core::Secret>(&[], &[], &[]),
    ResourceInfo::of::<core::ServiceAccount>(&["sa"], &["token"], &[]),
    ResourceInfo::of::<core::Event>(&["ev"], &[], &[]),
    ResourceInfo::of::<apps::Deployment>(&["deploy"], &["status", "scale"], ALL),
    ResourceInfo::of::<apps::ReplicaSet>(&["rs"], &["status", "scale"], ALL),
    ResourceInfo::of::<apps::DaemonSet>(&["ds"], &["status"], ALL),
    ResourceInfo::of::<apps::ControllerRevision>(&[], &[], &[]),
    ResourceInfo::of::<discovery::EndpointSlice>(&[], &[], &[]),
    ResourceInfo::of::<coordination::Lease>(&[], &[], &[]),
];

/// The resource at `/<prefix>/<group>/<version>/.../<plural>`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Group versions served, core first, each once.
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_follow_their_types() {
        let svc = find("", "v1", "services").unwrap();
        assert_eq!(
            (svc.kind, svc.namespaced, svc.group_version()),
            ("Service", true, "v1".into())
        );
        let slice = find("discovery.k8s.io", "v1", "endpointslices").unwrap();
        assert_eq!(slice.group_version(), "discovery.k8s.io/v1");
        assert!(!find("", "v1", "nodes").unwrap().namespaced);
        assert!(!find("", "v1", "namespaces").unwrap().namespaced);
        assert_eq!(
            find("apps", "v1", "deployments").unwrap().kind,
            "Deployment"
        );
        assert!(find("apps", "v1", "services").is_none());
    }

    #[test]
    fn names_are_unique_within_a_group_version() {
        for (g, v) in group_versions() {
            let mut names: Vec<&str> = RESOURCES
                .iter()
                .filter(|r| r.group == g && r.version == v)
                .flat_map(|r| std::iter::once(r.plural).chain(r.short_names.iter().copied()))
                .collect();
            let n = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), n, "duplicate name in {g}/{v}");
        }
    }

    #[test]
    fn store_keys() {
        let svc = find("", "v1", "services").unwrap();
        assert_eq!(
            svc.key(Some("default"), Some("web")),
            "/registry/core/services/default/web"
        );
        assert_eq!(
            svc.key(Some("default"), None),
            "/registry/core/services/default/"
        );
        assert_eq!(svc.key(None, None), "/registry/core/services/");
        let node = find("", "v1", "nodes").unwrap();
        assert_eq!(
            node.key(Some("ignored"), Some("n1")),
            "/registry/core/nodes/n1"
        );
        let lease = find("coordination.k8s.io", "v1", "leases").unwrap();
        assert_eq!(
            lease.key(Some("kube-node-lease"), Some("n1")),
            "/registry/coordination.k8s.io/leases/kube-node-lease/n1"
        );
    }
}
