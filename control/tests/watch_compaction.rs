//! A kube-rs watcher against a server that compacts its history every
//! second: a watch that resumes from a compacted resourceVersion gets
//! 410 Expired, the watcher lists again, and what it ends up believing is
//! exactly what the server holds.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher::{self, Event, watcher};
use support::Server;
use support::etcd::EtcdServer;

/// name -> (resourceVersion, data), as the watcher or the server sees it.
type View = BTreeMap<String, (String, BTreeMap<String, String>)>;

fn entry(cm: ConfigMap) -> (String, (String, BTreeMap<String, String>)) {
    (
        cm.metadata.name.unwrap(),
        (
            cm.metadata.resource_version.unwrap(),
            cm.data.unwrap_or_default(),
        ),
    )
}

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "data": {"value": value},
    }))
    .unwrap()
}

/// Creates `cm-<i>` for each round, updates the one before and deletes
/// every third.
async fn churn(api: &Api<ConfigMap>, rounds: std::ops::Range<usize>) {
    let pp = PostParams::default();
    for i in rounds {
        api.create(&pp, &cm(&format!("cm-{i}"), "1")).await.unwrap();
        if i >= 1 {
            let name = format!("cm-{}", i - 1);
            let mut old = api.get(&name).await.unwrap();
            old.data = Some([("value".to_owned(), format!("updated-{i}"))].into());
            api.replace(&name, &pp, &old).await.unwrap();
        }
        if i >= 3 && i % 3 == 0 {
            api.delete(&format!("cm-{}", i - 3), &DeleteParams::default())
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Writes Secrets only, for `period`: the store moves on while a
/// ConfigMap watcher hears nothing.
async fn elsewhere(api: &Api<Secret>, period: Duration) {
    let deadline = tokio::time::Instant::now() + period;
    let mut i = 0;
    while tokio::time::Instant::now() < deadline {
        let secret =
            serde_json::from_value(serde_json::json!({"metadata": {"name": format!("s-{i}")}}));
        api.create(&PostParams::default(), &secret.unwrap())
            .await
            .unwrap();
        i += 1;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_behind_compaction_relists_and_converges() {
    let server = Server::start_with(&["--compaction-interval", "1", "--compaction-keep", "1"]);
    relists_and_converges(&server).await;
}

/// The same on etcd, which the server compacts as kube-apiserver does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_behind_etcd_compaction_relists_and_converges() {
    let etcd = EtcdServer::start().await;
    let server = Server::start_with(&["--etcd-endpoints", &etcd.url, "--compaction-interval", "1"]);
    relists_and_converges(&server).await;
}

async fn relists_and_converges(server: &Server) {
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");

    let (tx, mut rx) = tokio::sync::watch::channel((View::new(), 0usize, 0usize));
    let follower = tokio::spawn({
        let api = api.clone();
        async move {
            let mut stream = watcher(api, watcher::Config::default().timeout(1)).boxed();
            let (mut view, mut relisting) = (View::new(), View::new());
            let (mut inits, mut expired) = (0, 0);
            while let Some(event) = stream.next().await {
                // The watcher recovers from errors by itself: count the 410s.
                let event = match event {
                    Ok(event) => event,
                    Err(watcher::Error::WatchError(status)) if status.code == 410 => {
                        expired += 1;
                        continue;
                    }
                    Err(_) => continue,
                };
                match event {
                    Event::Init => {
                        inits += 1;
                        relisting.clear();
                    }
                    Event::InitApply(o) => {
                        relisting.extend([entry(o)]);
                    }
                    Event::InitDone => view = std::mem::take(&mut relisting),
                    Event::Apply(o) => {
                        view.extend([entry(o)]);
                    }
                    Event::Delete(o) => {
                        view.remove(&entry(o).0);
                    }
                }
                tx.send_replace((view.clone(), inits, expired));
            }
        }
    });

    // The compactor keeps one interval of history, and a watcher that hears
    // events resumes from a fresh revision: it expires only after it heard
    // nothing for more than an interval while other keys changed.
    let secrets: Api<Secret> = Api::namespaced(server.client().await, "default");
    churn(&api, 0..30).await;
    elsewhere(&secrets, Duration::from_secs(4)).await;
    churn(&api, 30..60).await;

    let listed: View = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(entry)
        .collect();
    assert!(listed.len() > 30, "{} objects", listed.len());
    // The watcher gets there on its own, however many relists it takes.
    let converged = tokio::time::timeout(
        Duration::from_secs(15),
        rx.wait_for(|(view, ..)| *view == listed),
    )
    .await
    .is_ok();
    let (view, inits, expired) = rx.borrow().clone();
    follower.abort();
    assert!(
        converged,
        "the watcher's view differs from the server's list:\n{view:?}\n{listed:?}"
    );
    assert!(
        inits > 1 && expired > 0,
        "the watcher never had to list again ({inits} lists, {expired} 410 Expired)"
    );
}
