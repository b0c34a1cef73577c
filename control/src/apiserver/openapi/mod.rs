//! `/openapi/v2`: the operations of every served resource, in JSON or in the
//! protobuf form kubectl asks for. kubectl reads it to learn that the server
//! validates fields itself (`fieldValidation` on each write), so `kubectl
//! apply` and `create` run with validation on and the server does the
//! checking. Schema definitions are not published: kubectl then computes
//! strategic merge patches from its own built-in types, which is what it does
//! for every kind this server serves.

mod proto;

use std::sync::LazyLock;

use prost::Message as _;
use serde_json::{Map, Value, json};

use super::registry::{RESOURCES, ResourceInfo};

/// What clients accept: the `@` form is the one kubectl sends, but it is not a
/// valid media type, so responses carry the dotted form.
pub const PROTOBUF_ACCEPTED: [&str; 2] = [
    "com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "com.github.proto-openapi.spec.v2.v1.0+protobuf",
];
pub const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The document, built once.
pub static JSON: LazyLock<Value> = LazyLock::new(document);
pub static PROTO: LazyLock<Vec<u8>> = LazyLock::new(|| to_proto(&JSON).encode_to_vec());

fn param(name: &str, location: &str, kind: &str, description: &str) -> Value {
    json!({"name": name, "in": location, "type": kind, "description": description,
           "required": location == "path", "uniqueItems": true})
}

fn list_params() -> Vec<Value> {
    [
        ("labelSelector", "string", "select objects by their labels"),
        ("fieldSelector", "string", "select objects by their fields"),
        ("limit", "integer", "the most items a page holds"),
        ("continue", "string", "the token of the next page"),
        (
            "resourceVersion",
            "string",
            "list or watch from this version",
        ),
        ("timeoutSeconds", "integer", "how long a watch lasts"),
        ("watch", "boolean", "stream changes"),
        ("allowWatchBookmarks", "boolean", "send BOOKMARK events"),
    ]
    .iter()
    .map(|(n, t, d)| param(n, "query", t, d))
    .collect()
}

fn write_params() -> Vec<Value> {
    vec![
        param("dryRun", "query", "string", "validate without storing"),
        param("fieldManager", "query", "string", "the writer's name"),
        param(
            "fieldValidation",
            "query",
            "string",
            "Ignore, Warn or Strict handling of unknown and duplicate fields",
        ),
    ]
}

/// `CoreV1`, `AppsV1`, `DiscoveryV1`: the group part of operation ids.
fn group_word(r: &ResourceInfo) -> String {
    let group = if r.group.is_empty() {
        "core"
    } else {
        r.group.split('.').next().unwrap_or(r.group)
    };
    let mut word = String::new();
    for part in [group, r.version] {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            word.extend(first.to_uppercase());
            word.push_str(chars.as_str());
        }
    }
    word
}

struct Op<'a> {
    method: &'static str,
    verb: &'static str,
    action: &'static str,
    suffix: &'a str,
    params: Vec<Value>,
}

fn operation(r: &ResourceInfo, gvk: Value, scope: &str, op: Op) -> (String, Value) {
    let id = format!("{}{}{scope}{}{}", op.verb, group_word(r), r.kind, op.suffix);
    let consumes = if op.method == "patch" {
        json!([
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json"
        ])
    } else {
        json!(["*/*"])
    };
    let body = json!({
        "operationId": id,
        "description": format!("{} {}", op.verb, r.kind),
        "consumes": consumes,
        "produces": ["application/json"],
        "parameters": op.params,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": gvk,
    });
    (op.method.to_owned(), body)
}

fn resource_paths(r: &ResourceInfo, paths: &mut Map<String, Value>) {
    let base = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let (collection, scope, scope_params) = if r.namespaced {
        (
            format!("{base}/namespaces/{{namespace}}/{}", r.plural),
            "Namespaced",
            vec![param(
                "namespace",
                "path",
                "string",
                "object name and auth scope",
            )],
        )
    } else {
        (format!("{base}/{}", r.plural), "", vec![])
    };
    let with = |mut extra: Vec<Value>| {
        let mut p = scope_params.clone();
        p.append(&mut extra);
        p
    };
    let named = |mut extra: Vec<Value>| {
        let mut p = with(vec![param("name", "path", "string", "the object's name")]);
        p.append(&mut extra);
        p
    };
    let mut add = |path: String, ops: Vec<(String, Value)>| {
        paths.insert(path, Value::Object(ops.into_iter().collect()));
    };
    let op = |gvk: &Value, o: Op| operation(r, gvk.clone(), scope, o);
    add(
        collection.clone(),
        vec![
            op(
                &gvk,
                Op {
                    method: "get",
                    verb: "list",
                    action: "list",
                    suffix: "",
                    params: with(list_params()),
                },
            ),
            op(
                &gvk,
                Op {
                    method: "post",
                    verb: "create",
                    action: "post",
                    suffix: "",
                    params: with(write_params()),
                },
            ),
            op(
                &gvk,
                Op {
                    method: "delete",
                    verb: "deletecollection",
                    action: "deletecollection",
                    suffix: "",
                    params: with(list_params()),
                },
            ),
        ],
    );
    add(
        format!("{collection}/{{name}}"),
        vec![
            op(
                &gvk,
                Op {
                    method: "get",
                    verb: "read",
                    action: "get",
                    suffix: "",
                    params: named(vec![]),
                },
            ),
            op(
                &gvk,
                Op {
                    method: "put",
                    verb: "replace",
                    action: "put",
                    suffix: "",
                    params: named(write_params()),
                },
            ),
            op(
                &gvk,
                Op {
                    method: "patch",
                    verb: "patch",
                    action: "patch",
                    suffix: "",
                    params: named(write_params()),
                },
            ),
            op(
                &gvk,
                Op {
                    method: "delete",
                    verb: "delete",
                    action: "delete",
                    suffix: "",
                    params: named(vec![]),
                },
            ),
        ],
    );
    if r.namespaced {
        let all = format!("{base}/{}", r.plural);
        let (m, o) = operation(
            r,
            gvk.clone(),
            "",
            Op {
                method: "get",
                verb: "list",
                action: "list",
                suffix: "ForAllNamespaces",
                params: list_params(),
            },
        );
        paths.insert(all, json!({ m: o }));
    }
    for sub in r.subresources {
        let (sub_gvk, suffix) = match *sub {
            "status" => (gvk.clone(), "Status"),
            "scale" => (
                json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}),
                "Scale",
            ),
            _ => continue,
        };
        let ops: Map<String, Value> = [
            ("get", "read", "get", vec![]),
            ("put", "replace", "put", write_params()),
            ("patch", "patch", "patch", write_params()),
        ]
        .into_iter()
        .map(|(method, verb, action, extra)| {
            operation(
                r,
                sub_gvk.clone(),
                scope,
                Op {
                    method,
                    verb,
                    action,
                    suffix,
                    params: named(extra),
                },
            )
        })
        .collect();
        paths.insert(format!("{collection}/{{name}}/{sub}"), Value::Object(ops));
    }
}

fn document() -> Value {
    let mut paths = Map::new();
    for r in RESOURCES {
        resource_paths(r, &mut paths);
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": concat!("v1.32.0+skiff-", env!("CARGO_PKG_VERSION"))},
        "paths": paths,
    })
}

fn extensions(op: &Map<String, Value>) -> Vec<proto::NamedAny> {
    op.iter()
        .filter(|(k, _)| k.starts_with("x-"))
        .map(|(k, v)| proto::NamedAny {
            name: k.clone(),
            value: Some(proto::Any {
                yaml: serde_yaml::to_string(v).expect("JSON values are YAML"),
            }),
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

fn to_parameter(p: &Value) -> proto::ParametersItem {
    let sub = proto::SubSchema {
        required: p["required"].as_bool().unwrap_or(false),
        r#in: p["in"].as_str().unwrap_or_default().to_owned(),
        description: p["description"].as_str().unwrap_or_default().to_owned(),
        name: p["name"].as_str().unwrap_or_default().to_owned(),
        r#type: p["type"].as_str().unwrap_or_default().to_owned(),
    };
    let oneof = if p["in"] == "path" {
        proto::NonBody::Path(sub)
    } else {
        proto::NonBody::Query(sub)
    };
    proto::ParametersItem {
        parameter: Some(proto::Parameter {
            non_body_parameter: Some(proto::NonBodyParameter { oneof: Some(oneof) }),
        }),
    }
}

fn to_operation(op: &Value) -> Option<proto::Operation> {
    let map = op.as_object()?;
    Some(proto::Operation {
        tags: vec![],
        description: op["description"].as_str().unwrap_or_default().to_owned(),
        operation_id: op["operationId"].as_str().unwrap_or_default().to_owned(),
        produces: strings(&op["produces"]),
        consumes: strings(&op["consumes"]),
        parameters: op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(to_parameter)
            .collect(),
        responses: Some(proto::Responses {
            response_code: vec![proto::NamedResponseValue {
                name: "200".into(),
                value: Some(proto::ResponseValue {
                    response: Some(proto::Response {
                        description: "OK".into(),
                    }),
                }),
            }],
        }),
        vendor_extension: extensions(map),
    })
}

fn to_proto(doc: &Value) -> proto::Document {
    let path = doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, item)| proto::NamedPathItem {
            name: name.clone(),
            value: Some(proto::PathItem {
                get: to_operation(&item["get"]),
                put: to_operation(&item["put"]),
                post: to_operation(&item["post"]),
                delete: to_operation(&item["delete"]),
                patch: to_operation(&item["patch"]),
            }),
        })
        .collect();
    proto::Document {
        swagger: "2.0".into(),
        info: Some(proto::Info {
            title: doc["info"]["title"].as_str().unwrap_or_default().to_owned(),
            version: doc["info"]["version"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }),
        paths: Some(proto::Paths { path }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_patch_names_its_kind_and_takes_field_validation() {
        let doc = proto::Document::decode(PROTO.as_slice()).unwrap();
        let paths = doc.paths.unwrap().path;
        let patch = paths
            .iter()
            .find(|p| p.name == "/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
            .and_then(|p| p.value.as_ref()?.patch.clone())
            .expect("the deployment patch operation");
        assert_eq!(patch.operation_id, "patchAppsV1NamespacedDeployment");
        let gvk = patch
            .vendor_extension
            .iter()
            .find(|e| e.name == "x-kubernetes-group-version-kind")
            .unwrap();
        let gvk: Value = serde_yaml::from_str(&gvk.value.as_ref().unwrap().yaml).unwrap();
        assert_eq!(
            gvk,
            json!({"group": "apps", "version": "v1", "kind": "Deployment"})
        );
        let names: Vec<&str> = patch
            .parameters
            .iter()
            .filter_map(|p| {
                match p
                    .parameter
                    .as_ref()?
                    .non_body_parameter
                    .as_ref()?
                    .oneof
                    .as_ref()?
                {
                    proto::NonBody::Query(q) => Some(q.name.as_str()),
                    proto::NonBody::Path(_) => None,
                }
            })
            .collect();
        assert!(names.contains(&"fieldValidation"), "{names:?}");
        // One item path with a patch operation per served resource.
        let patches = paths
            .iter()
            .filter(|p| p.name.ends_with("{name}"))
            .filter(|p| p.value.as_ref().is_some_and(|v| v.patch.is_some()))
            .count();
        assert_eq!(patches, RESOURCES.len());
    }

    #[test]
    fn scale_and_cluster_scoped_paths() {
        let paths = JSON["paths"].as_object().unwrap();
        assert_eq!(
            paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]["x-kubernetes-group-version-kind"]
                ["kind"],
            "Scale"
        );
        assert_eq!(
            paths["/api/v1/nodes/{name}"]["get"]["operationId"],
            "readCoreV1Node"
        );
        assert_eq!(
            paths["/api/v1/pods"]["get"]["operationId"],
            "listCoreV1PodForAllNamespaces"
        );
        assert_eq!(
            paths["/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"]["post"]["operationId"],
            "createDiscoveryV1NamespacedEndpointSlice"
        );
    }
}
