//! The life of objects as controllers and kubelets see it, through kube-rs:
//! graceful deletion and finalizers, the status, scale and binding
//! subresources, field selectors, deletecollection, Service address
//! allocation and release, and what the first start creates.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::Server;

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn code(e: kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("not an API error: {other:?}"),
    }
}

#[tokio::test]
async fn finalizers_hold_a_deleted_object_until_removed() {
    let server = Server::start();
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let cm = from(json!({"metadata": {"name": "held", "finalizers": ["example.com/wait"]}}));
    api.create(&PostParams::default(), &cm).await.unwrap();

    api.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = api.get("held").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some(), "{marked:?}");
    // Foreground deletion is recorded for the garbage collector.
    api.delete("held", &DeleteParams::foreground())
        .await
        .unwrap();
    let finalizers = api.get("held").await.unwrap().metadata.finalizers.unwrap();
    assert_eq!(finalizers, ["example.com/wait", "foregroundDeletion"]);

    let clear = json!({"metadata": {"finalizers": null}});
    api.patch("held", &PatchParams::default(), &Patch::Merge(clear))
        .await
        .unwrap();
    assert_eq!(
        code(api.get("held").await.unwrap_err()),
        404,
        "gone with its last finalizer"
    );
}

#[tokio::test]
async fn a_running_pod_is_deleted_gracefully_and_binding_places_it_once() {
    let server = Server::start();
    let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
    let pod = from(
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "demo:1"}]}}),
    );
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"));
    assert_eq!(
        created.spec.unwrap().termination_grace_period_seconds,
        Some(30),
        "defaulted"
    );

    let bind = |uid: &str| {
        let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p", "uid": uid},
                             "target": {"kind": "Node", "name": "node-1"}});
        http::Request::post("/api/v1/namespaces/default/pods/p/binding")
            .header("content-type", "application/json")
            .body(binding.to_string().into_bytes())
            .unwrap()
    };
    let client = server.client().await;
    let stale = client.request_text(bind("another-pod")).await.unwrap_err();
    assert_eq!(code(stale), 409, "a binding for another pod of that name");
    let req = bind("");
    client.request_text(req.clone()).await.unwrap();
    let bound = pods.get("p").await.unwrap();
    assert_eq!(bound.spec.unwrap().node_name.as_deref(), Some("node-1"));
    let scheduled = bound.status.unwrap().conditions.unwrap_or_default();
    assert!(
        scheduled
            .iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True"),
        "{scheduled:?}"
    );
    let again = client.request_text(req).await.unwrap_err();
    assert_eq!(code(again), 409, "a pod is bound once");
    let by_node = pods
        .list(&ListParams::default().fields("spec.nodeName=node-1"))
        .await
        .unwrap();
    assert_eq!(by_node.items.len(), 1);
    let elsewhere = pods
        .list(&ListParams::default().fields("spec.nodeName=node-2"))
        .await
        .unwrap();
    assert!(elsewhere.items.is_empty());

    // The kubelet's status update leaves the spec alone, and a spec update
    // leaves the status alone.
    let status =
        json!({"status": {"phase": "Running", "podIP": "10.244.1.5"}, "spec": {"nodeName": "x"}});
    pods.patch_status("p", &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
    let labelled = json!({"metadata": {"labels": {"a": "b"}}, "status": {"phase": "Failed"}});
    pods.patch("p", &PatchParams::default(), &Patch::Merge(labelled))
        .await
        .unwrap();
    let now = pods.get("p").await.unwrap();
    assert_eq!(now.status.unwrap().phase.as_deref(), Some("Running"));
    assert_eq!(now.spec.unwrap().node_name.as_deref(), Some("node-1"));

    // Bound and running: deletion waits for the kubelet (grace 0 from it).
    pods.delete("p", &DeleteParams::default()).await.unwrap();
    let terminating = pods.get("p").await.unwrap();
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(30));
    pods.delete("p", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert_eq!(code(pods.get("p").await.unwrap_err()), 404);
}

#[tokio::test]
async fn scale_and_deletecollection() {
    let server = Server::start();
    let client = server.client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = from(json!({"metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "demo:1"}]}}}}));
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let scale = deployments.get_scale("web").await.unwrap();
    assert_eq!(
        scale.spec.unwrap().replicas,
        Some(1),
        "replicas default to 1"
    );
    let patch = json!({"spec": {"replicas": 4}});
    deployments
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let d = deployments.get("web").await.unwrap();
    assert_eq!(d.spec.replicas, Some(4));
    assert_eq!(
        d.metadata.generation,
        Some(2),
        "a spec change bumps the generation"
    );

    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    for (name, team) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let cm = from(json!({"metadata": {"name": name, "labels": {"team": team}}}));
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("team=x"),
    )
    .await
    .unwrap();
    let left: Vec<String> = cms
        .list(&ListParams::default().labels("team"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(left, ["c"]);
}

#[tokio::test]
async fn service_addresses_are_allocated_kept_and_released() {
    let server = Server::start_with(&[
        "--service-cluster-ip-range",
        "10.97.0.0/29",
        "--service-node-port-range",
        "30000-30001",
    ]);
    let client = server.client().await;
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc = |name: &str, extra: serde_json::Value| -> Service {
        let mut v = json!({"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}});
        if let serde_json::Value::Object(m) = extra {
            for (k, x) in m {
                v["spec"][k] = x;
            }
        }
        from(v)
    };
    // The first address is the kubernetes Service's; its endpoints are this server.
    let kubernetes = svcs.get("kubernetes").await.unwrap();
    assert_eq!(
        kubernetes.spec.unwrap().cluster_ip.as_deref(),
        Some("10.97.0.1")
    );
    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let subsets = eps.get("kubernetes").await.unwrap().subsets.unwrap();
    assert_eq!(
        subsets[0].ports.as_ref().unwrap()[0].port,
        i32::from(server.port)
    );

    // 10.97.0.0/29: .1 is taken, .2-.6 are left.
    let mut ips = Vec::new();
    for i in 0..5 {
        let s = svcs
            .create(&PostParams::default(), &svc(&format!("s{i}"), json!({})))
            .await
            .unwrap();
        ips.push(s.spec.unwrap().cluster_ip.unwrap());
    }
    ips.sort();
    assert_eq!(
        ips,
        [
            "10.97.0.2",
            "10.97.0.3",
            "10.97.0.4",
            "10.97.0.5",
            "10.97.0.6"
        ]
    );
    let full = svcs
        .create(&PostParams::default(), &svc("full", json!({})))
        .await
        .unwrap_err();
    assert_eq!(code(full), 422, "the range is full");
    svcs.delete("s0", &DeleteParams::default()).await.unwrap();
    let reused = svcs
        .create(&PostParams::default(), &svc("again", json!({})))
        .await
        .unwrap();
    assert!(
        reused.spec.unwrap().cluster_ip.is_some(),
        "a deleted Service's address is free again"
    );

    for name in ["s1", "s2", "s3", "s4", "again"] {
        svcs.delete(name, &DeleteParams::default()).await.unwrap();
    }

    // Node ports: allocated, kept across updates, released on a type change.
    let np = svcs
        .create(
            &PostParams::default(),
            &svc("np", json!({"type": "NodePort"})),
        )
        .await;
    assert!(np.is_ok(), "{np:?}");
    let port = np.unwrap().spec.unwrap().ports.unwrap()[0]
        .node_port
        .unwrap();
    assert!((30000..=30001).contains(&port), "{port}");
    let touched = json!({"metadata": {"labels": {"x": "y"}}});
    let after = svcs
        .patch("np", &PatchParams::default(), &Patch::Merge(touched))
        .await
        .unwrap();
    assert_eq!(
        after.spec.unwrap().ports.unwrap()[0].node_port,
        Some(port),
        "kept"
    );
    let other = svcs
        .create(
            &PostParams::default(),
            &svc("np2", json!({"type": "NodePort"})),
        )
        .await
        .unwrap();
    let port2 = other.spec.unwrap().ports.unwrap()[0].node_port.unwrap();
    assert_ne!(port, port2);
    let third = svcs
        .create(
            &PostParams::default(),
            &svc("np3", json!({"type": "NodePort"})),
        )
        .await;
    assert_eq!(
        code(third.unwrap_err()),
        422,
        "two node ports in this range"
    );
    let back = json!({"spec": {"type": "ClusterIP"}});
    svcs.patch("np", &PatchParams::default(), &Patch::Merge(back))
        .await
        .unwrap();
    let third = svcs
        .create(
            &PostParams::default(),
            &svc("np3", json!({"type": "NodePort"})),
        )
        .await
        .unwrap();
    assert_eq!(
        third.spec.unwrap().ports.unwrap()[0].node_port,
        Some(port),
        "released by the type change"
    );
}

#[tokio::test]
async fn a_deleted_namespace_is_emptied_then_removed() {
    use k8s_openapi::api::core::v1::Namespace;
    let server = Server::start();
    let client = server.client().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "gone"}})),
        )
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "gone");
    cms.create(
        &PostParams::default(),
        &from(json!({"metadata": {"name": "c"}})),
    )
    .await
    .unwrap();
    // A pod a node runs: it goes only when its kubelet (here, the test) says so.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "gone");
    let pod = from(
        json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "demo:1"}]}}),
    );
    pods.create(&PostParams::default(), &pod).await.unwrap();

    namespaces
        .delete("gone", &DeleteParams::default())
        .await
        .unwrap();
    let ns = namespaces.get("gone").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    let refused = cms
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "late"}})),
        )
        .await;
    assert_eq!(
        code(refused.unwrap_err()),
        403,
        "no new content in a terminating namespace"
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let pod = pods.get_opt("p").await.unwrap();
        if pod
            .as_ref()
            .is_some_and(|p| p.metadata.deletion_timestamp.is_some())
        {
            pods.delete("p", &DeleteParams::default().grace_period(0))
                .await
                .unwrap();
        }
        let left = cms.list(&ListParams::default()).await.unwrap().items.len();
        if namespaces.get_opt("gone").await.unwrap().is_none() {
            assert_eq!(left, 0, "emptied before it went");
            assert!(pods.get_opt("p").await.unwrap().is_none());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "namespace still there after 20 s ({left} config maps left)\n{}",
            server.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
