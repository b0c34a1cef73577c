//! `kill -9` of the API server in the middle of a burst of concurrent
//! writes, on the embedded store and on etcd: every write that was answered
//! 2xx is there after the restart, and the server goes on serving.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use support::Server;
use support::etcd::EtcdServer;

const WRITERS: usize = 8;

/// name -> the generation of its data the server acknowledged last.
type Acked = Arc<Mutex<BTreeMap<String, u32>>>;

fn cm(name: &str, generation: u32) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "data": {"generation": generation.to_string()},
    }))
    .unwrap()
}

fn generation(cm: &ConfigMap) -> u32 {
    cm.data.as_ref().unwrap()["generation"].parse().unwrap()
}

/// Creates ConfigMaps as fast as it can, updating every other one, until
/// `stop` is set or a request fails (the server is gone).
async fn writer(api: Api<ConfigMap>, task: usize, stop: Arc<AtomicBool>, acked: Acked) {
    let pp = PostParams::default();
    for i in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let name = format!("w{task}-{i:05}");
        let Ok(mut created) = api.create(&pp, &cm(&name, 1)).await else {
            return;
        };
        acked.lock().unwrap().insert(name.clone(), 1);
        if i % 2 == 1 {
            created.data = cm(&name, 2).data;
            if api.replace(&name, &pp, &created).await.is_err() {
                return;
            }
            acked.lock().unwrap().insert(name, 2);
        }
    }
}

/// Writes from several tasks, kills the server after a second of it,
/// restarts it and checks what it kept.
async fn burst_then_kill(server: &mut Server) {
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Acked::default();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|task| tokio::spawn(writer(api.clone(), task, stop.clone(), acked.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Writes in flight now may or may not be answered; none start after.
    stop.store(true, Ordering::SeqCst);
    tokio::task::block_in_place(|| server.kill_and_restart());
    for task in tasks {
        task.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 20,
        "only {} writes acknowledged before the kill",
        acked.len()
    );

    // A new client: the old one's connections died with the process.
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let listed = api.list(&ListParams::default()).await.unwrap();
    assert!(listed.metadata.resource_version.is_some());
    let stored: BTreeMap<String, ConfigMap> = listed
        .items
        .into_iter()
        .map(|c| (c.metadata.name.clone().unwrap(), c))
        .collect();
    for (name, acknowledged) in &acked {
        let Some(found) = stored.get(name) else {
            panic!(
                "{name} was acknowledged ({} of {} writes) but is gone after the restart",
                acked.len(),
                stored.len()
            );
        };
        // An update in flight at the kill may have landed unanswered.
        assert!(
            generation(found) >= *acknowledged,
            "{name}: generation {acknowledged} was acknowledged, {} is stored",
            generation(found)
        );
    }
    let count = stored.len();

    // The server goes on: a new object, and an update of an old one.
    let pp = PostParams::default();
    api.create(&pp, &cm("after", 1)).await.unwrap();
    let (name, mut old) = stored.into_iter().next().unwrap();
    old.data = cm(&name, 9).data;
    let replaced = api.replace(&name, &pp, &old).await.unwrap();
    assert_eq!(generation(&replaced), 9);
    let k = server.admin(support::kubectl_current());
    let names = tokio::task::block_in_place(|| k.ok(&["get", "configmaps", "-o", "name"]));
    assert_eq!(names.lines().count(), count + 1, "{names}");
    assert!(names.contains("configmap/after"), "{names}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_keeps_every_acknowledged_write() {
    let mut server = Server::start();
    burst_then_kill(&mut server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_keeps_every_acknowledged_write() {
    let etcd = EtcdServer::start().await;
    let mut server = Server::start_with(&["--etcd-endpoints", &etcd.url]);
    burst_then_kill(&mut server).await;
}
