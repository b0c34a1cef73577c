//! What a resource URL names: `/api/v1/...` or `/apis/<group>/<version>/...`,
//! then an optional `namespaces/<ns>/`, the plural, and an optional name.

use crate::apiserver::registry::{ResourceInfo, find};

#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub resource: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// `status`, `scale`, `binding`: one the resource lists.
    pub subresource: Option<String>,
}

/// None for a path no served resource matches.
pub fn parse(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let target = |plural: &str, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        let resource = find(group, version, plural)?;
        // A namespace segment only goes with namespaced kinds.
        if namespace.is_some() && !resource.namespaced {
            return None;
        }
        if sub.is_some_and(|s| !resource.subresources.contains(&s)) {
            return None;
        }
        Some(Target {
            resource,
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            subresource: sub.map(str::to_owned),
        })
    };
    match rest {
        [plural] => target(plural, None, None, None),
        // `namespaces/<name>/status` (or `finalize`) has the same shape as a
        // namespaced list.
        ["namespaces", ns, plural] => target(plural, Some(ns), None, None)
            .or_else(|| target("namespaces", None, Some(ns), Some(plural))),
        ["namespaces", ns, plural, name] => target(plural, Some(ns), Some(name), None),
        ["namespaces", ns, plural, name, sub] => target(plural, Some(ns), Some(name), Some(sub)),
        [plural, name] => target(plural, None, Some(name), None),
        [plural, name, sub] => target(plural, None, Some(name), Some(sub)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let t = parse("/api/v1/namespaces/default/services/web").unwrap();
        assert_eq!(
            (t.resource.kind, t.namespace.as_deref(), t.name.as_deref()),
            ("Service", Some("default"), Some("web"))
        );
        let t = parse("/api/v1/services").unwrap();
        assert_eq!((t.namespace, t.name), (None, None));
        let t = parse("/api/v1/namespaces/kube-system").unwrap();
        assert_eq!(
            (t.resource.kind, t.name.as_deref()),
            ("Namespace", Some("kube-system"))
        );
        let t = parse("/apis/apps/v1/namespaces/x/deployments").unwrap();
        assert_eq!(
            (t.resource.kind, t.namespace.as_deref()),
            ("Deployment", Some("x"))
        );
        let t = parse("/api/v1/nodes/n1").unwrap();
        assert_eq!((t.resource.kind, t.name.as_deref()), ("Node", Some("n1")));
        assert!(
            parse("/api/v1/namespaces/x/nodes").is_none(),
            "nodes are not namespaced"
        );
        assert!(parse("/api/v1/widgets").is_none());
        assert!(parse("/apis/apps/v1/namespaces/x/deployments/d/status/extra").is_none());
        let t = parse("/apis/apps/v1/namespaces/x/deployments/d/scale").unwrap();
        assert_eq!(t.subresource.as_deref(), Some("scale"));
        let t = parse("/api/v1/nodes/n1/status").unwrap();
        assert_eq!(t.subresource.as_deref(), Some("status"));
        assert!(parse("/api/v1/namespaces/x/configmaps/c/status").is_none());
        let t = parse("/api/v1/namespaces/x/finalize").unwrap();
        assert_eq!(
            (t.resource.kind, t.name.as_deref(), t.subresource.as_deref()),
            ("Namespace", Some("x"), Some("finalize"))
        );
    }
}
