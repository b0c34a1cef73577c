//! The scheduler inside the real skiff-control: nodes registered as
//! kubemark's hollow nodes register (labels, capacity and allocatable, a
//! Ready condition, some tainted), pods placed through the binding
//! subresource, and a pod that fits nowhere reported as upstream reports it
//! until a node it fits arrives; replicas of a ReplicaSet spread one per
//! node by the system's default constraints.

mod support;

use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use support::{Server, nodes};

const ZONE: &str = "topology.kubernetes.io/zone";
const CONTROL_PLANE: &str = "node-role.kubernetes.io/control-plane";

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

/// A hollow node in `zone` with `cpu` cores, optionally a control plane
/// node (tainted NoSchedule).
async fn register(client: &kube::Client, name: &str, zone: &str, cpu: &str, tainted: bool) {
    let taints = tainted.then(|| json!([{"key": CONTROL_PLANE, "effect": "NoSchedule"}]));
    nodes::register(
        client,
        name,
        json!({ZONE: zone}),
        taints.unwrap_or(json!([])),
        cpu,
    )
    .await;
}

/// A pod asking for `cpu`, with `extra` merged into its spec.
async fn create_pod(pods: &Api<Pod>, name: &str, app: &str, cpu: &str, extra: Value) {
    let mut spec = json!({"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
        "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]});
    for (k, v) in extra.as_object().into_iter().flatten() {
        spec[k] = v.clone();
    }
    let pod = json!({"metadata": {"name": name, "labels": {"app": app}}, "spec": spec});
    pods.create(&PostParams::default(), &from(pod))
        .await
        .unwrap();
}

/// Polls `check` until it gives a value, for at most 30 s.
async fn wait_for<T>(server: &Server, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within 30 s\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn node_of(server: &Server, pods: &Api<Pod>, name: &str) -> String {
    wait_for(server, &format!("{name} is bound"), async || {
        pods.get(name).await.ok()?.spec?.node_name
    })
    .await
}

fn condition(pod: &Pod, type_: &str) -> Option<(String, String, String)> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)?;
    Some((
        c.status.clone(),
        c.reason.clone().unwrap_or_default(),
        c.message.clone().unwrap_or_default(),
    ))
}

async fn events_of(client: &kube::Client, pod: &str) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let selector = format!("involvedObject.name={pod}");
    events
        .list(&ListParams::default().fields(&selector))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn pods_land_where_the_filters_allow_and_anti_affinity_spreads_replicas() {
    let server = Server::start();
    let client = server.client().await;
    register(&client, "n1", "zone-a", "4", false).await;
    register(&client, "n2", "zone-b", "4", false).await;
    register(&client, "n3", "zone-a", "4", true).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let tolerate = json!([{"key": CONTROL_PLANE, "operator": "Exists", "effect": "NoSchedule"}]);

    create_pod(&pods, "plain", "plain", "500m", json!({})).await;
    let plain = node_of(&server, &pods, "plain").await;
    assert!(
        ["n1", "n2"].contains(&plain.as_str()),
        "kept off the tainted n3: {plain}"
    );

    create_pod(
        &pods,
        "in-b",
        "b",
        "500m",
        json!({"nodeSelector": {ZONE: "zone-b"}}),
    )
    .await;
    assert_eq!(node_of(&server, &pods, "in-b").await, "n2");

    let on_cp = json!({"tolerations": tolerate, "nodeSelector": {"kubernetes.io/hostname": "n3"}});
    create_pod(&pods, "on-cp", "cp", "500m", on_cp).await;
    assert_eq!(node_of(&server, &pods, "on-cp").await, "n3");

    let spread = json!({"tolerations": tolerate, "affinity": {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"app": "web"}},
            "topologyKey": "kubernetes.io/hostname"}]}}});
    for i in 0..3 {
        create_pod(&pods, &format!("web-{i}"), "web", "100m", spread.clone()).await;
    }
    let mut placed = Vec::new();
    for i in 0..3 {
        placed.push(node_of(&server, &pods, &format!("web-{i}")).await);
    }
    placed.sort();
    assert_eq!(placed, ["n1", "n2", "n3"], "one replica per node");

    // The binding made it PodScheduled, and the scheduler said so.
    let bound = pods.get("in-b").await.unwrap();
    assert_eq!(
        condition(&bound, "PodScheduled").map(|c| c.0).as_deref(),
        Some("True")
    );
    let scheduled = wait_for(&server, "a Scheduled event", async || {
        events_of(&client, "in-b")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("Scheduled"))
    })
    .await;
    assert_eq!(
        scheduled.message.as_deref(),
        Some("Successfully assigned default/in-b to n2")
    );
    assert_eq!(scheduled.type_.as_deref(), Some("Normal"));
}

#[tokio::test]
async fn a_pod_too_big_for_every_node_waits_with_the_reason_until_one_fits() {
    let server = Server::start();
    let client = server.client().await;
    register(&client, "n1", "zone-a", "4", false).await;
    register(&client, "n2", "zone-b", "4", false).await;
    register(&client, "n3", "zone-a", "8", true).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create_pod(&pods, "big", "big", "6", json!({})).await;

    let want = format!(
        "0/3 nodes are available: 1 node(s) had untolerated taint {{{CONTROL_PLANE}: }}, 2 Insufficient cpu."
    );
    let pending = wait_for(&server, "PodScheduled=False", async || {
        let pod = pods.get("big").await.ok()?;
        let c = condition(&pod, "PodScheduled")?;
        (c.0 == "False").then_some((pod, c))
    })
    .await;
    let (pod, (_, reason, message)) = pending;
    assert_eq!(
        (reason.as_str(), message.as_str()),
        ("Unschedulable", want.as_str())
    );
    assert!(pod.spec.unwrap().node_name.is_none());
    assert_eq!(pod.status.unwrap().phase.as_deref(), Some("Pending"));

    let failed = wait_for(&server, "a FailedScheduling event", async || {
        events_of(&client, "big")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
    })
    .await;
    assert_eq!(failed.message.as_deref(), Some(want.as_str()));
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert_eq!(
        failed.source.and_then(|s| s.component).as_deref(),
        Some("default-scheduler")
    );
    assert_eq!(
        failed.reporting_component.as_deref(),
        Some("default-scheduler")
    );
    assert_eq!(failed.involved_object.kind.as_deref(), Some("Pod"));
    assert!(
        failed.metadata.name.unwrap().starts_with("big."),
        "named <pod>.<unique suffix>"
    );

    // A node it fits joins: the pod is placed there.
    register(&client, "n4", "zone-b", "8", false).await;
    assert_eq!(node_of(&server, &pods, "big").await, "n4");
    let bound = pods.get("big").await.unwrap();
    let (status, reason, _) = condition(&bound, "PodScheduled").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", ""));
}

#[tokio::test]
async fn replica_set_pods_spread_evenly_by_the_default_constraints() {
    let server = Server::start();
    let client = server.client().await;
    // No zone labels: hostname spreading must hold without them. Requests
    // this small leave the resource scores equal once a node holds a pod,
    // so only the spreading keeps the replicas even.
    for name in ["n1", "n2", "n3"] {
        nodes::register(&client, name, json!({}), json!([]), "16").await;
    }
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for round in 0..3 {
        let app = format!("web-{round}");
        let rs = json!({"metadata": {"name": app},
            "spec": {"replicas": 9, "selector": {"matchLabels": {"app": app}},
                "template": {"metadata": {"labels": {"app": app}},
                    "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": "10m", "memory": "1Mi"}}}]}}}});
        sets.create(&PostParams::default(), &from(rs))
            .await
            .unwrap();
        let selector = format!("app={app}");
        let per_node = wait_for(&server, &format!("9 pods of {app} bound"), async || {
            let list = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .ok()?;
            let nodes: Vec<String> = list
                .items
                .into_iter()
                .filter_map(|p| p.spec?.node_name)
                .collect();
            (nodes.len() == 9).then(|| {
                nodes.into_iter().fold(BTreeMap::new(), |mut m, n| {
                    *m.entry(n).or_insert(0) += 1;
                    m
                })
            })
        })
        .await;
        let want = BTreeMap::from([("n1".to_string(), 3), ("n2".into(), 3), ("n3".into(), 3)]);
        assert_eq!(per_node, want, "{app}: three replicas per node");
    }
}
