//! DaemonSets against the real server: hollow nodes (support/nodes.rs),
//! the DaemonSet loop and the scheduler of skiff-control, a test kubelet
//! that runs whatever is bound (support/kubelet.rs), kubectl 1.32 as the
//! user.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use support::kubelet::Kubelet;
use support::observer::{Observer, image, is_ready};
use support::{Kubectl, Server, eventually, kubectl_current, nodes};

/// Hollow nodes send no heartbeats: keep them Ready for the test.
fn server() -> Server {
    Server::start_with(&["--node-monitor-grace-period", "3600"])
}

fn manifest(strategy: Value, node_selector: Value) -> String {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": strategy,
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"nodeSelector": node_selector,
                         "containers": [{"name": "app", "image": "demo:a"}]}}}})
    .to_string()
}

/// Live (not terminating) pods of the DaemonSet by node; pods not yet
/// bound are under "".
async fn placed(client: &Client) -> BTreeMap<String, Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut out: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
    for p in api
        .list(&ListParams::default().labels("app=agent"))
        .await
        .unwrap()
    {
        if p.metadata.deletion_timestamp.is_none() {
            let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
            out.entry(node.unwrap_or_default()).or_default().push(p);
        }
    }
    out
}

/// Waits until exactly `nodes` run one ready pod each (with `image`).
async fn wait_placed(server: &Server, client: &Client, nodes: &[&str], image_: &str) {
    let what = format!("one ready {image_} pod on each of {nodes:?} and nowhere else");
    eventually(server, &what, || async {
        let now = placed(client).await;
        now.keys().map(String::as_str).eq(nodes.iter().copied())
            && now
                .values()
                .all(|pods| pods.len() == 1 && is_ready(&pods[0]) && image(&pods[0]) == image_)
    })
    .await;
}

async fn status(client: &Client) -> Value {
    let ds = Api::<DaemonSet>::namespaced(client.clone(), "default")
        .get("agent")
        .await
        .unwrap();
    serde_json::to_value(ds.status).unwrap()
}

async fn wait_status(server: &Server, client: &Client, want: Value) {
    eventually(server, &format!("DaemonSet status {want}"), || async {
        let st = status(client).await;
        want.as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| st.get(k) == Some(v))
    })
    .await;
}

fn apply(kubectl: &Kubectl, manifest: &str) {
    let file = kubectl.file("ds.json", manifest);
    kubectl.ok(&["apply", "-f", &file]);
}

#[tokio::test]
async fn one_pod_runs_on_each_eligible_node_as_nodes_change() {
    let server = server();
    let client = server.client().await;
    let kubectl = server.admin(kubectl_current());
    let _kubelet = Kubelet::runner(client.clone(), "default");
    let edge = json!({"role": "edge"});
    nodes::register(&client, "n1", edge.clone(), json!([]), "4").await;
    nodes::register(&client, "n2", edge.clone(), json!([]), "4").await;
    let db = json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]);
    nodes::register(&client, "n3", edge.clone(), db, "4").await;
    nodes::register(&client, "n4", json!({}), json!([]), "4").await;
    // Cordoned nodes still run daemon pods.
    kubectl.ok(&["cordon", "n2"]);

    apply(
        &kubectl,
        &manifest(json!({"type": "RollingUpdate"}), json!({"role": "edge"})),
    );
    wait_placed(&server, &client, &["n1", "n2"], "demo:a").await;
    wait_status(&server, &client, json!({"desiredNumberScheduled": 2, "currentNumberScheduled": 2,
        "numberReady": 2, "numberAvailable": 2, "updatedNumberScheduled": 2, "numberMisscheduled": 0}))
    .await;
    let pod = &placed(&client).await["n1"][0];
    assert_eq!(pod.owner_references()[0].kind, "DaemonSet");
    assert!(
        pod.labels().contains_key("controller-revision-hash"),
        "{:?}",
        pod.labels()
    );
    let created = format!("Created pod: {}", pod.name_any());
    eventually(
        &server,
        "SuccessfulCreate events in kubectl describe",
        || async {
            let described = kubectl.ok(&["describe", "daemonset", "agent"]);
            described.contains("SuccessfulCreate") && described.contains(&created)
        },
    )
    .await;

    // A node that comes to match gets a pod; one that stops matching loses it.
    kubectl.ok(&["label", "node", "n4", "role=edge"]);
    wait_placed(&server, &client, &["n1", "n2", "n4"], "demo:a").await;
    kubectl.ok(&["label", "node", "n1", "role-"]);
    wait_placed(&server, &client, &["n2", "n4"], "demo:a").await;

    // A NoSchedule taint keeps the pod there; a NoExecute one evicts it.
    kubectl.ok(&["taint", "node", "n4", "maintenance=soon:NoSchedule"]);
    kubectl.ok(&["taint", "node", "n2", "maintenance=now:NoExecute"]);
    wait_placed(&server, &client, &["n4"], "demo:a").await;
    // A toleration lets it onto both tainted nodes and the db node.
    let tolerant = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"template": {"spec": {"tolerations": [{"operator": "Exists"}]}}}});
    kubectl.ok(&[
        "patch",
        "daemonset",
        "agent",
        "--type=merge",
        "-p",
        &tolerant.to_string(),
    ]);
    wait_placed(&server, &client, &["n2", "n3", "n4"], "demo:a").await;

    // A deleted pod is replaced; a removed node takes its pod with it.
    let victim = placed(&client).await["n3"][0].name_any();
    kubectl.ok(&["delete", "pod", &victim, "--wait=false"]);
    eventually(&server, "a replacement on n3", || async {
        placed(&client)
            .await
            .get("n3")
            .is_some_and(|p| p.len() == 1 && p[0].name_any() != victim && is_ready(&p[0]))
    })
    .await;
    wait_status(
        &server,
        &client,
        json!({"desiredNumberScheduled": 3, "currentNumberScheduled": 3,
        "numberReady": 3, "numberMisscheduled": 0}),
    )
    .await;

    // Deleting the DaemonSet leaves neither pods nor revisions behind.
    kubectl.ok(&["delete", "daemonset", "agent", "--wait=false"]);
    eventually(&server, "no pods and no revisions left", || async {
        let pods = Api::<Pod>::namespaced(client.clone(), "default")
            .list(&ListParams::default().labels("app=agent"))
            .await
            .unwrap();
        let revisions = Api::<ControllerRevision>::namespaced(client.clone(), "default")
            .list(&ListParams::default())
            .await
            .unwrap();
        pods.items.is_empty() && revisions.items.is_empty()
    })
    .await;
}

/// Rolls `agent` over 4 nodes from demo:a to demo:b; returns the least
/// number of ready live pods and the most live pods seen meanwhile.
async fn roll(
    server: &Server,
    client: &Client,
    kubectl: &Kubectl,
    strategy: Value,
) -> (usize, usize) {
    for n in ["n1", "n2", "n3", "n4"] {
        nodes::register(client, n, json!({}), json!([]), "4").await;
    }
    apply(kubectl, &manifest(strategy, json!({})));
    wait_placed(server, client, &["n1", "n2", "n3", "n4"], "demo:a").await;
    support::rollout_status(server, kubectl, "daemonset/agent").await;

    let seen = Arc::new(Mutex::new((usize::MAX, 0)));
    let record = seen.clone();
    let _observer = Observer::start(client.clone(), "app=agent", move |pods| {
        let live: Vec<_> = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let ready = live.iter().filter(|p| is_ready(p)).count();
        let mut seen = record.lock().unwrap();
        *seen = (seen.0.min(ready), seen.1.max(live.len()));
    })
    .await;
    kubectl.ok(&["set", "image", "daemonset/agent", "app=demo:b"]);
    let said = support::rollout_status(server, kubectl, "daemonset/agent").await;
    assert!(said.contains("successfully rolled out"), "{said}");
    // Done means done: every node runs demo:b the moment it says so.
    let now = placed(client).await;
    assert!(
        now.len() == 4
            && now
                .values()
                .all(|p| p.len() == 1 && image(&p[0]) == "demo:b"),
        "after rollout status: {:?}",
        now.iter()
            .map(|(n, p)| (n.clone(), p.iter().map(image).collect::<Vec<_>>()))
            .collect::<Vec<_>>()
    );
    *seen.lock().unwrap()
}

#[tokio::test]
async fn a_rolling_update_stays_within_max_unavailable_and_undo_goes_back() {
    let server = server();
    let client = server.client().await;
    let kubectl = server.admin(kubectl_current());
    let _kubelet = Kubelet::runner(client.clone(), "default");
    let strategy = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}});
    let (least_ready, most) = roll(&server, &client, &kubectl, strategy).await;
    assert!(
        least_ready >= 3,
        "ready pods fell to {least_ready}, below 4 nodes - maxUnavailable 1"
    );
    assert!(most <= 4, "{most} pods at once: no surge was allowed");

    let history = kubectl.ok(&["rollout", "history", "daemonset/agent"]);
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");

    kubectl.ok(&["rollout", "undo", "daemonset/agent"]);
    wait_placed(&server, &client, &["n1", "n2", "n3", "n4"], "demo:a").await;
    support::rollout_status(&server, &kubectl, "daemonset/agent").await;
    // The first template came back: its revision is the newest now.
    eventually(&server, "revisions 2 (demo:b) and 3 (demo:a)", || async {
        let crs = Api::<ControllerRevision>::namespaced(client.clone(), "default")
            .list(&ListParams::default())
            .await
            .unwrap();
        let mut got: Vec<(i64, String)> = crs
            .items
            .iter()
            .map(|cr| {
                let image = cr.data.0["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (cr.revision.unwrap_or(0), image)
            })
            .collect();
        got.sort();
        got == [(2, "demo:b".to_owned()), (3, "demo:a".to_owned())]
    })
    .await;
    let table = kubectl.ok(&["get", "controllerrevisions"]);
    assert!(table.contains("daemonset.apps/agent"), "{table}");
}

#[tokio::test]
async fn a_surge_update_starts_each_new_pod_before_the_old_one_goes() {
    let server = server();
    let client = server.client().await;
    let kubectl = server.admin(kubectl_current());
    let _kubelet = Kubelet::runner(client.clone(), "default");
    let strategy =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}});
    let (least_ready, most) = roll(&server, &client, &kubectl, strategy).await;
    assert!(
        least_ready >= 4,
        "ready pods fell to {least_ready} with maxUnavailable 0"
    );
    assert_eq!(
        most, 5,
        "one node at a time runs both revisions (maxSurge 1)"
    );
}

#[tokio::test]
async fn on_delete_replaces_a_pod_only_when_it_is_deleted() {
    let server = server();
    let client = server.client().await;
    let kubectl = server.admin(kubectl_current());
    let _kubelet = Kubelet::runner(client.clone(), "default");
    for n in ["n1", "n2"] {
        nodes::register(&client, n, json!({}), json!([]), "4").await;
    }
    apply(&kubectl, &manifest(json!({"type": "OnDelete"}), json!({})));
    wait_placed(&server, &client, &["n1", "n2"], "demo:a").await;
    kubectl.ok(&["set", "image", "daemonset/agent", "app=demo:b"]);
    wait_status(
        &server,
        &client,
        json!({"observedGeneration": 2, "updatedNumberScheduled": 0}),
    )
    .await;
    let old = placed(&client).await["n1"][0].name_any();
    kubectl.ok(&["delete", "pod", &old, "--wait=false"]);
    eventually(&server, "n1 runs demo:b, n2 still demo:a", || async {
        let now = placed(&client).await;
        let one = |n: &str| now.get(n).filter(|p| p.len() == 1).map(|p| image(&p[0]));
        one("n1").as_deref() == Some("demo:b") && one("n2").as_deref() == Some("demo:a")
    })
    .await;
    wait_status(
        &server,
        &client,
        json!({"updatedNumberScheduled": 1, "desiredNumberScheduled": 2}),
    )
    .await;
}
