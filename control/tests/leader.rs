//! Two control plane processes on one etcd: one holds the leader Lease and
//! runs the loops; killed, it is replaced by the other within 15 s.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use support::Server;
use support::etcd::EtcdServer;

async fn holder(server: &Server) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(server.client().await, "kube-system");
    let lease = leases.get_opt("skiff-control").await.ok()??;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

async fn wait_for(
    server: &Server,
    what: &str,
    ok: impl Fn(&Option<String>) -> bool,
) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = holder(server).await;
        if ok(&h) {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: holder {h:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_killed_leader_is_replaced_within_15_s() {
    let etcd = EtcdServer::start().await;
    let mut servers = [
        Server::start_with(&["--etcd-endpoints", &etcd.url]),
        Server::start_with(&["--etcd-endpoints", &etcd.url]),
    ];
    let first = wait_for(&servers[0], "a leader is elected", Option::is_some)
        .await
        .unwrap();
    let leads = |s: &Server, id: &str| {
        s.log()
            .contains(&format!("became the leader identity={id}"))
    };
    let leader = servers
        .iter()
        .position(|s| leads(s, &first))
        .expect("one process says it leads");
    let other = 1 - leader;
    assert!(!leads(&servers[other], &first));
    // The follower stays a follower while the leader renews.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        holder(&servers[other]).await.as_deref(),
        Some(first.as_str())
    );

    servers[leader].kill();
    let killed = Instant::now();
    let next = wait_for(&servers[other], "the other takes over", |h| {
        h.as_ref().is_some_and(|h| *h != first)
    })
    .await
    .unwrap();
    let took = killed.elapsed();
    assert!(took <= Duration::from_secs(15), "took over after {took:?}");
    assert!(leads(&servers[other], &next), "{}", servers[other].log());
}

/// A ReplicaSet across a leader change: the new leader takes over the
/// reconciliation without redoing the old one's work.
#[tokio::test]
async fn a_new_leader_does_not_redo_the_old_ones_work() {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{ListParams, Patch, PatchParams, PostParams};

    let etcd = EtcdServer::start().await;
    let mut servers = [
        Server::start_with(&["--etcd-endpoints", &etcd.url]),
        Server::start_with(&["--etcd-endpoints", &etcd.url]),
    ];
    let first = wait_for(&servers[0], "a leader is elected", Option::is_some)
        .await
        .unwrap();
    let leads = |s: &Server, id: &str| {
        s.log()
            .contains(&format!("became the leader identity={id}"))
    };
    let leader = servers
        .iter()
        .position(|s| leads(s, &first))
        .expect("one process says it leads");
    let other = 1 - leader;
    let client = servers[other].client().await;
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rs: ReplicaSet = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "demo:1"}]}}}}))
    .unwrap();
    sets.create(&PostParams::default(), &rs).await.unwrap();
    let count = || async {
        pods.list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .len()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while count().await != 5 {
        assert!(
            Instant::now() < deadline,
            "5 pods\n{}",
            servers[leader].log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    servers[leader].kill();
    wait_for(&servers[other], "the other takes over", |h| {
        h.as_ref().is_some_and(|h| *h != first)
    })
    .await;
    // The new leader starts from what is there: still exactly five.
    for _ in 0..20 {
        assert_eq!(count().await, 5, "no pod made twice");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And it does reconcile.
    let patch = serde_json::json!({"spec": {"replicas": 7}});
    sets.patch("web", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count().await != 7 {
        assert!(
            Instant::now() < deadline,
            "7 pods under the new leader\n{}",
            servers[other].log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
