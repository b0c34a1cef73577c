//! The small loops: every namespace gets a `default` ServiceAccount and the
//! cluster CA (`kube-root-ca.crt`), pods mount their account's token, and
//! pods of a deleted node are removed.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{Server, eventually};

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

async fn create_namespace(client: &kube::Client, name: &str) {
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": name}})),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn every_namespace_has_a_default_service_account() {
    let server = Server::start();
    let client = server.client().await;
    create_namespace(&client, "team").await;
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
async fn every_namespace_holds_the_cluster_ca_and_pods_mount_their_account() {
    const SA_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
    let server = Server::start();
    let client = server.client().await;
    let ca = std::fs::read_to_string(server.dir.path().join("pki/ca.crt")).unwrap();
    create_namespace(&client, "team").await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    let published = || async {
        let cm = maps.get_opt("kube-root-ca.crt").await.unwrap();
        cm.and_then(|c| c.data)
            .is_some_and(|d| d.get("ca.crt") == Some(&ca))
    };
    eventually(&server, "the CA in the new namespace", published).await;
    maps.patch(
        "kube-root-ca.crt",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"ca.crt": "tampered"}})),
    )
    .await
    .unwrap();
    eventually(&server, "a changed CA put back", published).await;
    maps.delete("kube-root-ca.crt", &DeleteParams::default())
        .await
        .unwrap();
    eventually(&server, "a deleted CA put back", published).await;

    // Admission: the account is named, and its token mounted unless the pod
    // or the account says not to.
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "team");
    accounts
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "quiet"}, "automountServiceAccountToken": false})),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "team");
    let create = |name: &str, spec: serde_json::Value| {
        let pods = pods.clone();
        let mut pod = json!({"metadata": {"name": name}, "spec": spec});
        pod["spec"]["containers"] = json!([{"name": "c", "image": "demo:1"}]);
        async move {
            pods.create(&PostParams::default(), &from(pod))
                .await
                .unwrap()
        }
    };
    let api_access = |p: &Pod| {
        let spec = p.spec.clone().unwrap();
        let volume = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name.starts_with("kube-api-access-"))
            .cloned();
        let mount = spec.containers[0]
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path == SA_PATH)
            .cloned();
        (spec.service_account_name, volume, mount)
    };
    let (account, volume, mount) = api_access(&create("plain", json!({})).await);
    assert_eq!(account.as_deref(), Some("default"));
    let volume = volume.expect("a kube-api-access volume");
    let sources = volume.projected.unwrap().sources.unwrap();
    assert!(sources[0].service_account_token.is_some(), "{sources:?}");
    assert_eq!(
        sources[1].config_map.as_ref().unwrap().name,
        "kube-root-ca.crt"
    );
    let mount = mount.expect("mounted in the container");
    assert_eq!(mount.name, volume.name);
    assert_eq!(mount.read_only, Some(true));
    let quiet = create("quiet", json!({"serviceAccountName": "quiet"})).await;
    assert_eq!(
        api_access(&quiet),
        (Some("quiet".into()), None, None),
        "the account opted out"
    );
    let asks = json!({"serviceAccountName": "quiet", "automountServiceAccountToken": true});
    assert!(
        api_access(&create("asks", asks).await).1.is_some(),
        "the pod's choice wins over its account's"
    );
    let declines = json!({"automountServiceAccountToken": false});
    assert!(api_access(&create("declines", declines).await).1.is_none());
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
