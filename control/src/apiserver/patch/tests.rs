use serde_json::{Value, json};

use super::{PatchError, PatchType, apply};

fn patch(
    kind: &str,
    patch_type: PatchType,
    current: &Value,
    body: Value,
) -> Result<Value, PatchError> {
    apply(kind, patch_type, current, body.to_string().as_bytes())
}

fn smp(kind: &str, current: &Value, body: Value) -> Value {
    patch(kind, PatchType::Strategic, current, body).expect("the patch applies")
}

fn names(list: &Value, key: &str) -> Vec<Value> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|v| v[key].clone())
        .collect()
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "0b7c",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.25",
                            "args": ["-g", "daemon off;"],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "terminationMessagePath": "/dev/termination-log"
                        },
                        {"name": "sidecar", "image": "busybox"}
                    ],
                    "tolerations": [{"key": "a", "operator": "Exists"}],
                    "restartPolicy": "Always"
                }
            }
        },
        "status": {"replicas": 2}
    })
}

#[test]
fn content_types() {
    use PatchType::*;
    let cases = [
        ("application/json-patch+json", Some(Json)),
        ("application/merge-patch+json", Some(Merge)),
        ("application/strategic-merge-patch+json", Some(Strategic)),
        (
            "application/strategic-merge-patch+json; charset=utf-8",
            Some(Strategic),
        ),
        ("Application/Merge-Patch+JSON", Some(Merge)),
        ("application/apply-patch+yaml", None),
        ("application/json", None),
        ("", None),
    ];
    for (content_type, want) in cases {
        assert_eq!(
            PatchType::from_content_type(content_type),
            want,
            "{content_type}"
        );
    }
}

/// What `kubectl apply` sends after the manifest changed the image, dropped
/// env B and the label "tier", and set 3 replicas. "sidecar" was added by
/// someone else and stays.
#[test]
fn kubectl_apply_of_an_edited_deployment() {
    let body = json!({
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"new\":1}"},
            "labels": {"tier": null}
        },
        "spec": {
            "replicas": 3,
            "template": {"spec": {
                "$setElementOrder/containers": [{"name": "web"}],
                "containers": [{
                    "$setElementOrder/env": [{"name": "A"}],
                    "env": [{"$patch": "delete", "name": "B"}],
                    "image": "nginx:1.26",
                    "name": "web"
                }]
            }}
        }
    });
    let mut want = deployment();
    want["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        json!("{\"new\":1}");
    want["metadata"]["labels"] = json!({"app": "web"});
    want["spec"]["replicas"] = json!(3);
    let web = &mut want["spec"]["template"]["spec"]["containers"][0];
    web["image"] = json!("nginx:1.26");
    web["env"] = json!([{"name": "A", "value": "1"}]);
    assert_eq!(smp("Deployment", &deployment(), body), want);
}

#[test]
fn set_element_order_reorders() {
    let body = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}]
    }}}});
    let got = smp("Deployment", &deployment(), body);
    assert_eq!(
        names(&got["spec"]["template"]["spec"]["containers"], "name"),
        ["sidecar", "web"]
    );

    // Elements the order does not name keep their place relative to the
    // named ones (upstream's "server-only items 2" case).
    let current = json!({"spec": {"containers": [
        {"name": "1", "image": "a"}, {"name": "2"}, {"name": "9"}, {"name": "3"}, {"name": "4"}
    ]}});
    let body = json!({"spec": {
        "$setElementOrder/containers": [{"name": "2"}, {"name": "1"}, {"name": "4"}, {"name": "3"}]
    }});
    let got = smp("Pod", &current, body);
    assert_eq!(
        names(&got["spec"]["containers"], "name"),
        ["2", "1", "9", "4", "3"]
    );
    assert_eq!(got["spec"]["containers"][1]["image"], "a");
}

#[test]
fn set_element_order_must_agree_with_the_patch_list() {
    let current = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
    let body = json!({"spec": {
        "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
        "containers": [{"name": "b", "image": "x"}, {"name": "a", "image": "y"}]
    }});
    let err = patch("Pod", PatchType::Strategic, &current, body).unwrap_err();
    assert!(
        matches!(&err, PatchError::Invalid(m) if m.contains("doesn't match")),
        "{err:?}"
    );
}

/// `kubectl patch` adding a container: upstream puts new elements first.
#[test]
fn new_list_elements_come_first() {
    let body = json!({"spec": {"template": {"spec": {"containers": [{"name": "log", "image": "fluentd"}]}}}});
    let got = smp("Deployment", &deployment(), body);
    let containers = &got["spec"]["template"]["spec"]["containers"];
    assert_eq!(names(containers, "name"), ["log", "web", "sidecar"]);
    assert_eq!(containers[1]["image"], "nginx:1.25");
}

#[test]
fn nested_lists_merge_by_their_keys() {
    let body = json!({"spec": {"template": {"spec": {"containers": [{
        "name": "web",
        "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
        "ports": [{"containerPort": 443}]
    }]}}}});
    let got = smp("Deployment", &deployment(), body);
    let web = &got["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        web["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
    );
    assert_eq!(names(&web["ports"], "containerPort"), [443, 80]);
}

#[test]
fn service_ports_merge_by_port() {
    let current = json!({"spec": {"ports": [
        {"name": "http", "port": 80, "targetPort": 8080},
        {"name": "https", "port": 443},
        {"name": "old", "port": 9000}
    ]}});
    let body = json!({"spec": {"ports": [
        {"port": 80, "targetPort": 9090},
        {"name": "alt", "port": 8443},
        {"$patch": "delete", "port": 9000}
    ]}});
    let got = smp("Service", &current, body);
    assert_eq!(
        got["spec"]["ports"],
        json!([
            {"name": "http", "port": 80, "targetPort": 9090},
            {"name": "alt", "port": 8443},
            {"name": "https", "port": 443}
        ])
    );
}

#[test]
fn finalizers_union_and_delete() {
    let current = json!({"metadata": {"name": "x", "finalizers": ["a", "b"]}});
    let got = smp(
        "ConfigMap",
        &current,
        json!({"metadata": {"finalizers": ["c", "a"]}}),
    );
    assert_eq!(got["metadata"]["finalizers"], json!(["c", "a", "b"]));

    let got = smp(
        "ConfigMap",
        &current,
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
    );
    assert_eq!(got["metadata"]["finalizers"], json!(["b"]));

    // Deleting from a list that is not there does not create it.
    let got = smp(
        "ConfigMap",
        &json!({"metadata": {}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
    );
    assert_eq!(got, json!({"metadata": {}}));

    // What `kubectl apply` sends when the manifest drops one finalizer.
    let body = json!({"metadata": {"$setElementOrder/finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]}});
    assert_eq!(
        smp("ConfigMap", &current, body)["metadata"]["finalizers"],
        json!(["b"])
    );
}

#[test]
fn owner_references_merge_by_uid() {
    let current =
        json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a", "kind": "ReplicaSet"}]}});
    let body =
        json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b", "kind": "ReplicaSet"}]}});
    assert_eq!(
        names(
            &smp("Pod", &current, body)["metadata"]["ownerReferences"],
            "uid"
        ),
        ["2", "1"]
    );
}

#[test]
fn retain_keys_switches_deployment_strategy() {
    let body = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}});
    let got = smp("Deployment", &deployment(), body);
    assert_eq!(got["spec"]["strategy"], json!({"type": "Recreate"}));

    // The patch may set only the fields it retains.
    let body = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {}}}});
    let err = patch("Deployment", PatchType::Strategic, &deployment(), body).unwrap_err();
    assert_eq!(
        err,
        PatchError::Malformed("invalid patch format of retainKeys".into())
    );
}

#[test]
fn retain_keys_in_volumes() {
    let current = json!({"spec": {"volumes": [{"name": "data", "emptyDir": {}}]}});
    let body = json!({"spec": {"volumes": [
        {"$retainKeys": ["name", "hostPath"], "name": "data", "hostPath": {"path": "/srv"}},
        {"$retainKeys": ["name", "configMap"], "name": "conf", "configMap": {"name": "c"}}
    ]}});
    let got = smp("Pod", &current, body);
    assert_eq!(
        got["spec"]["volumes"],
        json!([{"name": "data", "hostPath": {"path": "/srv"}}, {"name": "conf", "configMap": {"name": "c"}}])
    );
}

#[test]
fn lists_without_strategy_are_replaced() {
    let body = json!({"spec": {"template": {"spec": {
        "tolerations": [{"key": "b", "operator": "Exists"}],
        "containers": [{"name": "web", "args": ["-v"]}]
    }}}});
    let got = smp("Deployment", &deployment(), body);
    let spec = &got["spec"]["template"]["spec"];
    assert_eq!(
        spec["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
    assert_eq!(spec["containers"][0]["args"], json!(["-v"]));

    // Kinds without a table entry merge maps only.
    let current = json!({"metadata": {"finalizers": ["a"]}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]});
    let body = json!({"metadata": {"finalizers": ["b"]}, "subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]});
    let got = smp("Endpoints", &current, body.clone());
    assert_eq!(got["subsets"], body["subsets"]);
    assert_eq!(got["metadata"]["finalizers"], json!(["b", "a"]));
}

#[test]
fn status_conditions_merge_by_type() {
    let current = json!({"status": {"conditions": [
        {"type": "Ready", "status": "False"},
        {"type": "PodScheduled", "status": "True"}
    ]}});
    let body = json!({"status": {
        "$setElementOrder/conditions": [{"type": "PodScheduled"}, {"type": "Ready"}],
        "conditions": [{"type": "Ready", "status": "True"}]
    }});
    let got = smp("Pod", &current, body);
    assert_eq!(
        got["status"]["conditions"],
        json!([{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}])
    );
    let node = json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}});
    let body = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}});
    assert_eq!(
        names(&smp("Node", &node, body)["status"]["addresses"], "type"),
        ["Hostname", "InternalIP"]
    );
}

#[test]
fn patch_directives_on_maps_and_lists() {
    // replace: the list is the patch's.
    let body = json!({"spec": {"template": {"spec": {"containers": [{"name": "only"}, {"$patch": "replace"}]}}}});
    let got = smp("Deployment", &deployment(), body);
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"],
        json!([{"name": "only"}])
    );

    // replace: the map is the patch's.
    let body = json!({"spec": {"selector": {"$patch": "replace", "matchExpressions": []}}});
    assert_eq!(
        smp("Deployment", &deployment(), body)["spec"]["selector"],
        json!({"matchExpressions": []})
    );

    // delete: upstream leaves an empty map.
    let body = json!({"spec": {"strategy": {"$patch": "delete"}}});
    assert_eq!(
        smp("Deployment", &deployment(), body)["spec"]["strategy"],
        json!({})
    );

    let body = json!({"spec": {"strategy": {"$patch": "bogus"}}});
    let err = patch("Deployment", PatchType::Strategic, &deployment(), body).unwrap_err();
    assert!(
        matches!(&err, PatchError::Invalid(m) if m.starts_with("unknown patch type")),
        "{err:?}"
    );
}

#[test]
fn new_values_lose_nulls_and_directives() {
    let current = json!({"metadata": {"name": "p"}, "spec": {}});
    let body = json!({
        "metadata": {"labels": {"a": "1", "b": null}},
        "spec": {"volumes": [{"$retainKeys": ["name", "emptyDir"], "name": "v", "emptyDir": {}}],
                 "securityContext": {"$patch": "delete"}}
    });
    let got = smp("Pod", &current, body);
    assert_eq!(
        got,
        json!({"metadata": {"name": "p", "labels": {"a": "1"}}, "spec": {"volumes": [{"name": "v", "emptyDir": {}}]}})
    );
}

#[test]
fn strategic_errors() {
    let current = deployment();
    let cases = [
        (json!([]), true),
        (json!({"spec": {"strategy": {"$retainKeys": "type"}}}), true),
        (json!({"metadata": {"$setElementOrder": ["a"]}}), true),
        (
            json!({"metadata": {"$setElementOrder/finalizers": "a"}}),
            true,
        ),
        (
            json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}),
            true,
        ),
        (
            json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
            false,
        ),
        (
            json!({"spec": {"template": {"spec": {"containers": [["x"]]}}}}),
            false,
        ),
        (
            json!({"spec": {"template": {"spec": {"containers": [{"name": "x"}, {"$patch": "merge"}]}}}}),
            false,
        ),
    ];
    for (body, malformed) in cases {
        let err = patch("Deployment", PatchType::Strategic, &current, body.clone()).unwrap_err();
        assert_eq!(
            err.code(),
            if malformed { 400 } else { 422 },
            "{body}: {err}"
        );
    }
    let err = apply("Deployment", PatchType::Strategic, &current, b"{not json").unwrap_err();
    assert_eq!(err, PatchError::Malformed("invalid JSON patch".into()));
}

#[test]
fn kubectl_label_and_annotate() {
    let body = json!({"metadata": {"labels": {"env": "prod", "tier": null}}});
    let got = patch("Deployment", PatchType::Merge, &deployment(), body).unwrap();
    assert_eq!(
        got["metadata"]["labels"],
        json!({"app": "web", "env": "prod"})
    );

    let body = json!({"metadata": {"annotations": {"note": "hi"}}});
    let got = patch("Deployment", PatchType::Merge, &deployment(), body).unwrap();
    assert_eq!(got["metadata"]["annotations"]["note"], "hi");
    assert_eq!(
        got["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "{}"
    );
    assert_eq!(got["spec"], deployment()["spec"]);
}

#[test]
fn kubectl_scale() {
    let got = patch(
        "Deployment",
        PatchType::Merge,
        &deployment(),
        json!({"spec": {"replicas": 5}}),
    )
    .unwrap();
    let mut want = deployment();
    want["spec"]["replicas"] = json!(5);
    assert_eq!(got, want);
}

#[test]
fn merge_patch() {
    // Lists are replaced whole, nulls delete, nested new maps lose their nulls.
    let body = json!({"spec": {
        "strategy": null,
        "template": {"spec": {"containers": [{"name": "x"}], "securityContext": {"runAsUser": 1, "fsGroup": null}}}
    }});
    let got = patch("Deployment", PatchType::Merge, &deployment(), body).unwrap();
    assert!(got["spec"].get("strategy").is_none());
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"],
        json!([{"name": "x"}])
    );
    assert_eq!(
        got["spec"]["template"]["spec"]["securityContext"],
        json!({"runAsUser": 1})
    );

    let err = patch("Deployment", PatchType::Merge, &deployment(), json!("x")).unwrap_err();
    assert_eq!(err, PatchError::Malformed("Invalid JSON Patch".into()));
    let err = patch("Deployment", PatchType::Merge, &deployment(), json!([1])).unwrap_err();
    assert_eq!(err.code(), 422);
}

#[test]
fn json_patch() {
    let body = json!([
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/labels/env", "value": "prod"},
        {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "log"}},
        {"op": "remove", "path": "/metadata/labels/tier"}
    ]);
    let got = patch("Deployment", PatchType::Json, &deployment(), body).unwrap();
    assert_eq!(got["spec"]["replicas"], 4);
    assert_eq!(
        got["metadata"]["labels"],
        json!({"app": "web", "env": "prod"})
    );
    assert_eq!(
        names(&got["spec"]["template"]["spec"]["containers"], "name"),
        ["web", "sidecar", "log"]
    );
}

#[test]
fn json_patch_errors() {
    let test = json!([{"op": "test", "path": "/spec/replicas", "value": 7}]);
    let err = patch("Deployment", PatchType::Json, &deployment(), test).unwrap_err();
    assert_eq!(
        err,
        PatchError::Invalid("testing value /spec/replicas failed: test failed".into())
    );

    let missing = json!([{"op": "remove", "path": "/spec/nothing/here"}]);
    let err = patch("Deployment", PatchType::Json, &deployment(), missing).unwrap_err();
    assert_eq!(err.code(), 422, "{err}");

    let replace_root = json!([{"op": "replace", "path": "", "value": [1]}]);
    let err = patch("Deployment", PatchType::Json, &deployment(), replace_root).unwrap_err();
    assert_eq!(err.code(), 422, "{err}");

    for body in [
        json!({"op": "add"}),
        json!([{"op": "frobnicate", "path": "/a"}]),
        json!([{"path": "/a"}]),
    ] {
        let err = patch("Deployment", PatchType::Json, &deployment(), body.clone()).unwrap_err();
        assert!(
            matches!(&err, PatchError::Malformed(m) if m.starts_with("error decoding patch")),
            "{body}: {err:?}"
        );
    }
    let err = apply("Deployment", PatchType::Json, &deployment(), b"").unwrap_err();
    assert_eq!(err, PatchError::Malformed("invalid JSON patch".into()));
}
