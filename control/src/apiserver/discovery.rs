//! Legacy discovery, as kubectl and kube-rs read it first: `/api` (the core
//! versions), `/apis` (the named groups) and one `APIResourceList` per group
//! version, with each subresource listed as `<plural>/<sub>`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
};

use super::registry::{RESOURCES, ResourceInfo, group_versions};

const OBJECT_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn subresource_verbs(sub: &str) -> &'static [&'static str] {
    match sub {
        "status" | "scale" => &["get", "patch", "update"],
        "log" => &["get"],
        "exec" => &["create", "get"],
        "binding" | "eviction" | "token" => &["create"],
        "finalize" => &["update"],
        _ => &[],
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn resources(r: &ResourceInfo) -> Vec<APIResource> {
    let main = APIResource {
        name: r.plural.to_owned(),
        singular_name: r.singular(),
        namespaced: r.namespaced,
        kind: r.kind.to_owned(),
        verbs: strings(OBJECT_VERBS),
        short_names: (!r.short_names.is_empty()).then(|| strings(r.short_names)),
        categories: (!r.categories.is_empty()).then(|| strings(r.categories)),
        ..Default::default()
    };
    let subs = r.subresources.iter().map(|sub| {
        // A subresource's kind is its parent's, except the few with their own.
        let kind = match *sub {
            "scale" => "Scale",
            "binding" => "Binding",
            "eviction" => "Eviction",
            "token" => "TokenRequest",
            "exec" => "PodExecOptions",
            _ => r.kind,
        };
        APIResource {
            name: format!("{}/{sub}", r.plural),
            singular_name: String::new(),
            namespaced: r.namespaced,
            kind: kind.to_owned(),
            group: (*sub == "scale").then(|| "autoscaling".to_owned()),
            version: (*sub == "scale").then(|| "v1".to_owned()),
            verbs: strings(subresource_verbs(sub)),
            ..Default::default()
        }
    });
    std::iter::once(main).chain(subs).collect()
}

/// `/api`.
pub fn core_versions() -> APIVersions {
    APIVersions {
        versions: vec!["v1".into()],
        server_address_by_client_cidrs: vec![],
    }
}

/// `/apis`: every named group with its (single, preferred) version.
pub fn groups() -> APIGroupList {
    let groups = group_versions()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(group, version)| {
            let gv = GroupVersionForDiscovery {
                group_version: format!("{group}/{version}"),
                version: version.into(),
            };
            APIGroup {
                name: group.into(),
                preferred_version: Some(gv.clone()),
                versions: vec![gv],
                server_address_by_client_cidrs: None,
            }
        })
        .collect();
    APIGroupList { groups }
}

/// `/api/v1` or `/apis/<group>/<version>`; None for a group version not served.
pub fn resource_list(group: &str, version: &str) -> Option<APIResourceList> {
    let served: Vec<&ResourceInfo> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    let first = served.first()?;
    Some(APIResourceList {
        group_version: first.group_version(),
        resources: served.iter().flat_map(|r| resources(r)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed"))
    }

    #[test]
    fn core_resource_list_as_kubectl_reads_it() {
        let list = serde_json::to_value(resource_list("", "v1").unwrap()).unwrap();
        assert_eq!(list["kind"], "APIResourceList");
        assert_eq!(list["groupVersion"], "v1");
        let svc = find(&list, "services");
        assert_eq!(svc["kind"], "Service");
        assert_eq!(svc["namespaced"], true);
        assert_eq!(svc["shortNames"], json!(["svc"]));
        assert_eq!(svc["categories"], json!(["all"]));
        assert!(svc["verbs"].as_array().unwrap().contains(&json!("watch")));
        let status = find(&list, "pods/status");
        assert_eq!(status["verbs"], json!(["get", "patch", "update"]));
        assert_eq!(find(&list, "pods/binding")["kind"], "Binding");
        assert_eq!(find(&list, "nodes")["namespaced"], false);
    }

    #[test]
    fn groups_and_their_lists() {
        let groups = serde_json::to_value(groups()).unwrap();
        assert_eq!(groups["kind"], "APIGroupList");
        let names: Vec<&str> = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["apps", "discovery.k8s.io", "coordination.k8s.io"]);
        let apps = serde_json::to_value(resource_list("apps", "v1").unwrap()).unwrap();
        let scale = find(&apps, "deployments/scale");
        assert_eq!(
            (
                scale["group"].as_str(),
                scale["version"].as_str(),
                scale["kind"].as_str()
            ),
            (Some("autoscaling"), Some("v1"), Some("Scale"))
        );
        assert!(resource_list("apps", "v2").is_none());
        assert_eq!(
            serde_json::to_value(core_versions()).unwrap()["versions"],
            json!(["v1"])
        );
    }
}
