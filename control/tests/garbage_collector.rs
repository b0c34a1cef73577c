//! Owner references: dependents of a deleted owner are deleted in the
//! background, first in the foreground, or kept (orphaned) as asked.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use support::{Server, eventually};

/// An owner and two dependents (one blocks its owner's foreground deletion).
async fn family(api: &Api<ConfigMap>, owner: &str) {
    let made = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": owner}})).unwrap(),
        )
        .await
        .unwrap();
    let uid = made.metadata.uid.unwrap();
    for (i, block) in [(1, true), (2, false)] {
        let dep = json!({"metadata": {"name": format!("{owner}-dep{i}"),
            "finalizers": if block { json!(["example.com/slow"]) } else { json!([]) },
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": uid,
                                 "controller": true, "blockOwnerDeletion": block}]}});
        api.create(
            &PostParams::default(),
            &serde_json::from_value(dep).unwrap(),
        )
        .await
        .unwrap();
    }
}

async fn present(api: &Api<ConfigMap>, name: &str) -> bool {
    api.get_opt(name).await.unwrap().is_some()
}

#[tokio::test]
async fn background_foreground_and_orphan_deletion() {
    let server = Server::start();
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let unblock = |name: String| {
        let api = api.clone();
        async move {
            let patch = json!({"metadata": {"finalizers": null}});
            api.patch(&name, &Default::default(), &kube::api::Patch::Merge(patch))
                .await
                .unwrap();
        }
    };

    // Background: the owner goes at once, then its dependents.
    family(&api, "bg").await;
    api.delete("bg", &DeleteParams::background()).await.unwrap();
    assert!(!present(&api, "bg").await);
    eventually(&server, "the free dependent is deleted", || async {
        !present(&api, "bg-dep2").await
    })
    .await;
    eventually(&server, "the slow one is being deleted", || async {
        api.get("bg-dep1")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    })
    .await;
    unblock("bg-dep1".into()).await;

    // Foreground: the owner waits for its blocking dependent.
    family(&api, "fg").await;
    api.delete("fg", &DeleteParams::foreground()).await.unwrap();
    eventually(&server, "dependents are deleted first", || async {
        !present(&api, "fg-dep2").await
            && api
                .get("fg-dep1")
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        present(&api, "fg").await,
        "the owner waits for the dependent that blocks it"
    );
    unblock("fg-dep1".into()).await;
    eventually(&server, "then the owner goes", || async {
        !present(&api, "fg").await
    })
    .await;

    // Orphan: dependents stay, without the reference.
    family(&api, "or").await;
    api.delete("or", &DeleteParams::orphan()).await.unwrap();
    eventually(&server, "the owner goes", || async {
        !present(&api, "or").await
    })
    .await;
    for dep in ["or-dep1", "or-dep2"] {
        let d = api.get(dep).await.unwrap();
        assert!(
            d.metadata.deletion_timestamp.is_none()
                && d.metadata.owner_references.unwrap_or_default().is_empty(),
            "{dep} orphaned"
        );
    }
}
