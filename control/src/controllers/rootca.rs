//! Every namespace has a `kube-root-ca.crt` ConfigMap with the cluster CA
//! (`ca.crt`), put back if deleted or changed: pods' service-account volumes
//! read it to trust the API server.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{reflector::ObjectRef, watcher};
use kube::{Client, ResourceExt as _};
use tracing::{info, warn};

use super::Settings;
use crate::apiserver::serviceaccount::ROOT_CA_CONFIG_MAP;

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct Error(#[from] kube::Error);

struct Ctx {
    client: Client,
    ca: String,
}

fn wanted(ca: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": ROOT_CA_CONFIG_MAP,
            "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."},
        },
        "data": {"ca.crt": ca},
    }))
    .expect("a valid ConfigMap")
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if ns.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns.name_any());
    let want = wanted(&ctx.ca);
    let result = match api.get_opt(ROOT_CA_CONFIG_MAP).await? {
        None => api.create(&PostParams::default(), &want).await,
        Some(have) if have.data != want.data => {
            let mut fixed = have;
            fixed.data = want.data;
            api.replace(ROOT_CA_CONFIG_MAP, &PostParams::default(), &fixed)
                .await
        }
        Some(_) => return Ok(Action::await_change()),
    };
    match result {
        Ok(_) => {}
        // Written meanwhile (the next event looks again), or the namespace
        // is going away.
        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 403 => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Action::await_change())
}

fn error_policy(_ns: Arc<Namespace>, e: &Error, _ctx: Arc<Ctx>) -> Action {
    warn!(error = %e, "publishing the root CA: retrying");
    Action::requeue(Duration::from_secs(2))
}

pub async fn run(client: Client, settings: Settings) -> anyhow::Result<()> {
    if settings.root_ca.is_empty() {
        info!("no cluster CA given: no kube-root-ca.crt ConfigMaps");
        return std::future::pending().await;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let maps: Api<ConfigMap> = Api::all(client.clone());
    let only_ours =
        watcher::Config::default().fields(&format!("metadata.name={ROOT_CA_CONFIG_MAP}"));
    let ctx = Arc::new(Ctx {
        client,
        ca: settings.root_ca,
    });
    Controller::new(namespaces, watcher::Config::default())
        .watches(maps, only_ours, |cm| {
            cm.namespace().map(|ns| ObjectRef::<Namespace>::new(&ns))
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
    Ok(())
}
