//! The small loops: every namespace gets a `default` ServiceAccount, and
//! pods of a deleted node are removed.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use support::{Server, eventually};

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn every_namespace_has_a_default_service_account() {
    let server = Server::start();
    let client = server.client().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "team"}})),
        )
        .await
        .unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "team");
    eventually(&server, "the default account", || async {
        accounts.get_opt("default").await.unwrap().is_some()
    })
    .await;
    let system: Api<ServiceAccount> = Api::namespaced(client.clone(), "kube-system");
    eventually(&server, "one in kube-system too", || async {
        system.get_opt("default").await.unwrap().is_some()
    })
    .await;
    accounts
        .delete("default", &DeleteParams::default())
        .await
        .unwrap();
    eventually(&server, "a deleted default account comes back", || async {
        accounts.get_opt("default").await.unwrap().is_some()
    })
    .await;
}

#[tokio::test]
async fn pods_of_a_deleted_node_are_removed() {
    let server = Server::start_with(&["--pod-gc-period", "1", "--pod-gc-quarantine", "1"]);
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    for n in ["n1", "n2"] {
        nodes
            .create(
                &PostParams::default(),
                &from(json!({"metadata": {"name": n}})),
            )
            .await
            .unwrap();
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (p, n) in [("on-n1", "n1"), ("on-n2", "n2")] {
        let pod = from(
            json!({"metadata": {"name": p}, "spec": {"nodeName": n, "containers": [{"name": "c", "image": "demo:1"}]}}),
        );
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    nodes.delete("n1", &DeleteParams::default()).await.unwrap();
    eventually(&server, "the pod of the deleted node is gone", || async {
        pods.get_opt("on-n1").await.unwrap().is_none()
    })
    .await;
    assert!(
        pods.get_opt("on-n2").await.unwrap().is_some(),
        "the other node's pod stays"
    );
}

#[tokio::test]
async fn nodes_get_pod_cidrs_and_a_deleted_nodes_range_is_reused() {
    let server = Server::start_with(&[
        "--cluster-cidr",
        "10.250.0.0/22",
        "--node-cidr-mask-size",
        "24",
    ]);
    let nodes: Api<Node> = Api::all(server.client().await);
    let cidr = |n: Node| n.spec.and_then(|s| s.pod_cidr);
    for n in ["a", "b"] {
        nodes
            .create(
                &PostParams::default(),
                &from(json!({"metadata": {"name": n}})),
            )
            .await
            .unwrap();
    }
    eventually(&server, "both nodes have a pod CIDR", || async {
        cidr(nodes.get("a").await.unwrap()).is_some()
            && cidr(nodes.get("b").await.unwrap()).is_some()
    })
    .await;
    let mut got = vec![
        cidr(nodes.get("a").await.unwrap()).unwrap(),
        cidr(nodes.get("b").await.unwrap()).unwrap(),
    ];
    got.sort();
    assert_eq!(got, ["10.250.0.0/24", "10.250.1.0/24"]);
    let freed = cidr(nodes.get("a").await.unwrap()).unwrap();
    nodes.delete("a", &DeleteParams::default()).await.unwrap();
    nodes
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "c"}})),
        )
        .await
        .unwrap();
    eventually(&server, "the new node reuses the freed range", || async {
        cidr(nodes.get("c").await.unwrap()).as_deref() == Some(freed.as_str())
    })
    .await;
}

#[tokio::test]
async fn a_silent_node_is_tainted_and_its_pods_evicted_after_their_toleration() {
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::api::{Patch, PatchParams};
    let server = Server::start_with(&[
        "--node-monitor-grace-period",
        "2",
        "--default-unreachable-toleration-seconds",
        "2",
    ]);
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node = from(json!({"metadata": {"name": "n1"},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}));
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = from(
        json!({"metadata": {"name": "n1"}, "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}}),
    );
    leases.create(&PostParams::default(), &lease).await.unwrap();
    let renewing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let renewer = tokio::spawn({
        let (leases, renewing) = (leases.clone(), renewing.clone());
        async move {
            for i in 0.. {
                if renewing.load(std::sync::atomic::Ordering::Relaxed) {
                    let t = format!("2026-01-01T00:{:02}:{:02}.000000Z", (i / 60) % 60, i % 60);
                    let patch = json!({"spec": {"renewTime": t}});
                    leases
                        .patch("n1", &PatchParams::default(), &Patch::Merge(patch))
                        .await
                        .unwrap();
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    });
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = |name: &str, tolerations: serde_json::Value| -> Pod {
        from(
            json!({"metadata": {"name": name}, "spec": {"nodeName": "n1", "tolerations": tolerations,
                    "containers": [{"name": "c", "image": "demo:1"}]}}),
        )
    };
    pods.create(&PostParams::default(), &pod("evicted", json!([])))
        .await
        .unwrap();
    pods.create(
        &PostParams::default(),
        &pod("stays", json!([{"operator": "Exists"}])),
    )
    .await
    .unwrap();
    let taints = |n: Node| -> Vec<String> {
        n.spec
            .and_then(|s| s.taints)
            .unwrap_or_default()
            .into_iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect()
    };

    // A heartbeating node is left alone.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        taints(nodes.get("n1").await.unwrap()).is_empty(),
        "{}",
        server.log()
    );

    renewing.store(false, std::sync::atomic::Ordering::Relaxed);
    let silent = Instant::now();
    eventually(
        &server,
        "the silent node is Unknown and tainted unreachable",
        || async {
            let n = nodes.get("n1").await.unwrap();
            let ready = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
                .map(|c| c.status.clone());
            ready.as_deref() == Some("Unknown")
                && taints(n).contains(&"node.kubernetes.io/unreachable:NoExecute".to_owned())
        },
    )
    .await;
    eventually(
        &server,
        "its pod is evicted after the 2 s default toleration",
        || async {
            pods.get("evicted")
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .is_some()
        },
    )
    .await;
    assert!(
        silent.elapsed() >= Duration::from_secs(3),
        "not before grace + toleration: {:?}",
        silent.elapsed()
    );
    assert!(
        pods.get("stays")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none(),
        "a pod tolerating everything stays"
    );

    // Back: heartbeats and a Ready status clear the taint.
    renewing.store(true, std::sync::atomic::Ordering::Relaxed);
    let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}});
    nodes
        .patch_status("n1", &PatchParams::default(), &Patch::Merge(ready))
        .await
        .unwrap();
    eventually(&server, "the taint is gone", || async {
        taints(nodes.get("n1").await.unwrap()).is_empty()
    })
    .await;
    renewer.abort();
}
