//! Namespace deletion: a deleted namespace is emptied of every namespaced
//! object the server serves, then its `kubernetes` finalizer is removed
//! through `namespaces/<name>/finalize`, and the server lets it go. Objects
//! that take time to go (running pods, finalizers) are waited for.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt as _};
use tracing::{info, warn};

use super::Settings;
use crate::apiserver::registry::RESOURCES;

const FINALIZER: &str = "kubernetes";
const RECHECK: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct Error(#[from] kube::Error);

async fn reconcile(ns: Arc<Namespace>, client: Arc<Client>) -> Result<Action, Error> {
    let finalizers = ns.spec.as_ref().and_then(|s| s.finalizers.as_ref());
    if ns.metadata.deletion_timestamp.is_none()
        || !finalizers.is_some_and(|f| f.iter().any(|f| f == FINALIZER))
    {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let mut remaining = 0;
    for r in RESOURCES.iter().filter(|r| r.namespaced) {
        let resource = ApiResource {
            group: r.group.into(),
            version: r.version.into(),
            api_version: r.group_version(),
            kind: r.kind.into(),
            plural: r.plural.into(),
        };
        let api: Api<DynamicObject> = Api::namespaced_with((*client).clone(), &name, &resource);
        let list = api.list(&ListParams::default()).await?;
        for obj in list
            .items
            .iter()
            .filter(|o| o.metadata.deletion_timestamp.is_none())
        {
            match api
                .delete(&obj.name_any(), &DeleteParams::background())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        remaining += list.items.len();
    }
    if remaining > 0 {
        return Ok(Action::requeue(RECHECK));
    }
    let mut done = (*ns).clone();
    if let Some(spec) = done.spec.as_mut() {
        spec.finalizers = Some(
            finalizers
                .into_iter()
                .flatten()
                .filter(|f| *f != FINALIZER)
                .cloned()
                .collect(),
        );
    }
    let api: Api<Namespace> = Api::all((*client).clone());
    api.replace_subresource("finalize", &name, &PostParams::default(), &done)
        .await?;
    info!(namespace = %name, "namespace emptied and finalized");
    Ok(Action::await_change())
}

fn error_policy(_ns: Arc<Namespace>, e: &Error, _client: Arc<Client>) -> Action {
    warn!(error = %e, "namespace deletion: retrying");
    Action::requeue(RECHECK)
}

pub async fn run(client: Client, _settings: Settings) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    Controller::new(api, watcher::Config::default())
        .run(reconcile, error_policy, Arc::new(client))
        .for_each(|_| async {})
        .await;
    Ok(())
}
