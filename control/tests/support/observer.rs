//! Watching pods through every state the server passes them through, and
//! reading them as a user does.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

/// Runs `f` on the pods a selector matches after every watch event, so it
/// sees every state the server went through.
pub struct Observer {
    task: tokio::task::JoinHandle<()>,
}

impl Observer {
    pub async fn start(
        client: Client,
        selector: &str,
        mut f: impl FnMut(&[Arc<Pod>]) + Send + 'static,
    ) -> Observer {
        let api: Api<Pod> = Api::namespaced(client, "default");
        let (store, writer): (Store<Pod>, _) = reflector::store();
        let events = reflector::reflector(
            writer,
            watcher::watcher(api, watcher::Config::default().labels(selector)).default_backoff(),
        );
        let ready = store.clone();
        let task = tokio::spawn(async move {
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                // The cache holds the list from InitDone on.
                if let Ok(
                    watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone,
                ) = event
                {
                    f(&store.state());
                }
            }
        });
        ready.wait_until_ready().await.unwrap();
        Observer { task }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The Ready condition is True.
pub fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The image of the first container.
pub fn image(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}
