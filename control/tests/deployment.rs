//! Deployments and ReplicaSets against the real server: the ReplicaSet and
//! Deployment loops of skiff-control make the pods, a test kubelet
//! (support/kubelet.rs) binds and runs them, kubectl 1.32 drives rollouts.

mod support;

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use support::kubelet::Kubelet;
use support::observer::{Observer, image, is_ready};
use support::{Kubectl, Server, kubectl_current};

const REVISION: &str = "deployment.kubernetes.io/revision";

/// Polls `check` until it answers Ok, for at most `secs` seconds.
async fn eventually<T, F, Fut>(server: &Server, what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(why) => assert!(
                Instant::now() < deadline,
                "{what}: not after {secs} s: {why}\n--- server log ---\n{}",
                server.log()
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn active(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
}

fn deployment(name: &str, replicas: i32, image: &str, strategy: serde_json::Value) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "strategy": strategy,
                 "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image}]}}}}))
    .unwrap()
}

async fn pods(client: &Client, app: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), "default")
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
}

async fn replica_sets(client: &Client, app: &str) -> Vec<ReplicaSet> {
    let mut list = Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items;
    list.sort_by_key(|rs| rs.name_any());
    list
}

/// The ReplicaSet whose template runs `image`.
fn with_image<'a>(rss: &'a [ReplicaSet], image: &str) -> &'a ReplicaSet {
    rss.iter()
        .find(|rs| template_image(rs) == image)
        .unwrap_or_else(|| panic!("no ReplicaSet runs {image}"))
}

fn template_image(rs: &ReplicaSet) -> String {
    rs.spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

fn annotation(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<String> {
    meta.annotations.as_ref()?.get(key).cloned()
}

/// `n` active pods of `app`, all Ready and running `image`.
async fn wait_running(
    server: &Server,
    client: &Client,
    app: &str,
    n: usize,
    image_: &str,
) -> Vec<Pod> {
    eventually(
        server,
        &format!("{n} ready pods of {app} with {image_}"),
        60,
        || async {
            let all: Vec<Pod> = pods(client, app).await.into_iter().filter(active).collect();
            let good = all
                .iter()
                .filter(|p| is_ready(p) && image(p) == image_)
                .count();
            if all.len() == n && good == n {
                Ok(all)
            } else {
                Err(format!("{} active, {good} ready with the image", all.len()))
            }
        },
    )
    .await
}

#[tokio::test]
async fn replicas_follow_scale_and_the_unready_go_first() {
    let server = Server::start();
    let client = server.client().await;
    let kubectl = server.admin(kubectl_current());
    let kubelet = Kubelet::start(client.clone(), "default");
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.create(
        &PostParams::default(),
        &deployment("web", 3, "demo:a", json!({})),
    )
    .await
    .unwrap();
    let first = wait_running(&server, &client, "web", 3, "demo:a").await;
    let rss = replica_sets(&client, "web").await;
    assert_eq!(rss.len(), 1, "one ReplicaSet per template");
    let rs_name = rss[0].name_any();
    assert!(
        first
            .iter()
            .all(|p| p.name_any().starts_with(&format!("{rs_name}-"))),
        "pods are named after their ReplicaSet"
    );

    // Two more, left unready.
    kubelet.set_ready(false);
    kubectl.ok(&["scale", "deployment/web", "--replicas=5"]);
    let extra: Vec<String> = eventually(&server, "5 running pods", 30, || async {
        let all: Vec<Pod> = pods(&client, "web")
            .await
            .into_iter()
            .filter(active)
            .collect();
        let running = all
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        if all.len() == 5 && running == 5 {
            Ok(all
                .iter()
                .filter(|p| !is_ready(p))
                .map(|p| p.name_any())
                .collect())
        } else {
            Err(format!("{} pods, {running} running", all.len()))
        }
    })
    .await;
    assert_eq!(extra.len(), 2, "the new pods are not ready");

    kubectl.ok(&["scale", "deployment/web", "--replicas=2"]);
    let left: Vec<String> = eventually(&server, "2 pods left", 30, || async {
        let all = pods(&client, "web").await;
        let names: Vec<String> = all.iter().map(|p| p.name_any()).collect();
        if all.len() == 2 {
            Ok(names)
        } else {
            Err(format!("{names:?}"))
        }
    })
    .await;
    let originals: HashSet<String> = first.iter().map(|p| p.name_any()).collect();
    assert!(
        left.iter().all(|n| originals.contains(n)),
        "the unready pods {extra:?} go before ready ones: left {left:?}"
    );
    assert_eq!(
        replica_sets(&client, "web").await.len(),
        1,
        "scaling makes no ReplicaSet"
    );
    let d = eventually(&server, "the status counts 2", 30, || async {
        let d = api.get("web").await.unwrap();
        let st = d.status.clone().unwrap_or_default();
        if (st.replicas, st.ready_replicas, st.observed_generation)
            == (Some(2), Some(2), d.metadata.generation)
        {
            Ok(d)
        } else {
            Err(format!("{st:?}"))
        }
    })
    .await;
    assert_eq!(annotation(&d.metadata, REVISION).as_deref(), Some("1"));
}

/// A Deployment of 3 with maxSurge 1 and maxUnavailable 1, rolled from
/// demo:a to demo:b; returns the least number of ready pods seen meanwhile.
async fn roll_to_b(server: &Server, client: &Client, kubectl: &Kubectl) -> usize {
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let strategy =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}});
    api.create(
        &PostParams::default(),
        &deployment("web", 3, "demo:a", strategy),
    )
    .await
    .unwrap();
    wait_running(server, client, "web", 3, "demo:a").await;
    support::rollout_status(server, kubectl, "deployment/web").await;

    let least = Arc::new(Mutex::new(usize::MAX));
    let seen = least.clone();
    let _observer = Observer::start(client.clone(), "app=web", move |pods| {
        let ready = pods.iter().filter(|p| active(p) && is_ready(p)).count();
        let mut least = seen.lock().unwrap();
        *least = (*least).min(ready);
    })
    .await;
    kubectl.ok(&["set", "image", "deployment/web", "app=demo:b"]);
    let said = support::rollout_status(server, kubectl, "deployment/web").await;
    assert!(said.contains("successfully rolled out"), "{said}");
    // Done means done: everything is on demo:b the moment it says so.
    let all: Vec<Pod> = pods(client, "web")
        .await
        .into_iter()
        .filter(active)
        .collect();
    assert!(
        all.len() == 3 && all.iter().all(|p| image(p) == "demo:b" && is_ready(p)),
        "after rollout status: {:?}",
        all.iter()
            .map(|p| (p.name_any(), image(p), is_ready(p)))
            .collect::<Vec<_>>()
    );
    *least.lock().unwrap()
}

#[tokio::test]
async fn a_rolling_update_keeps_availability_and_rollout_status_reports_it() {
    let server = Server::start();
    let client = server.client().await;
    let kubectl = server.admin(kubectl_current());
    let _kubelet = Kubelet::start(client.clone(), "default");
    let least = roll_to_b(&server, &client, &kubectl).await;
    assert!(
        least >= 2,
        "ready pods fell to {least}, below replicas - maxUnavailable = 2"
    );

    let rss = replica_sets(&client, "web").await;
    assert_eq!(rss.len(), 2, "one ReplicaSet per template");
    let (old, new) = (with_image(&rss, "demo:a"), with_image(&rss, "demo:b"));
    assert_eq!(old.spec.replicas, Some(0));
    eventually(
        &server,
        "the old ReplicaSet reports no pods",
        30,
        || async {
            let rs = Api::<ReplicaSet>::namespaced(client.clone(), "default")
                .get(&old.name_any())
                .await
                .unwrap();
            match rs.status.as_ref().map(|s| s.replicas) {
                Some(0) => Ok(()),
                r => Err(format!("{r:?}")),
            }
        },
    )
    .await;
    assert_eq!(annotation(&old.metadata, REVISION).as_deref(), Some("1"));
    assert_eq!(annotation(&new.metadata, REVISION).as_deref(), Some("2"));
    let hash = new.spec.selector.match_labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(new.name_any(), format!("web-{hash}"));
    for p in pods(&client, "web").await {
        assert_eq!(p.labels()["pod-template-hash"], hash, "{}", p.name_any());
    }

    let d = Api::<Deployment>::namespaced(client.clone(), "default")
        .get("web")
        .await
        .unwrap();
    assert_eq!(annotation(&d.metadata, REVISION).as_deref(), Some("2"));
    let st = d.status.unwrap();
    assert_eq!(
        (
            st.replicas,
            st.updated_replicas,
            st.ready_replicas,
            st.available_replicas,
            st.unavailable_replicas
        ),
        (Some(3), Some(3), Some(3), Some(3), None)
    );
    let reason = |t: &str| {
        st.conditions
            .iter()
            .flatten()
            .find(|c| c.type_.as_deref() == Some(t))
            .and_then(|c| c.reason.clone())
    };
    assert_eq!(
        reason("Progressing").as_deref(),
        Some("NewReplicaSetAvailable")
    );
    assert_eq!(
        reason("Available").as_deref(),
        Some("MinimumReplicasAvailable")
    );
    // `kubectl describe` tells the rollout's story.
    let old_name = old.name_any();
    let new_name = new.name_any();
    eventually(
        &server,
        "scaling events in kubectl describe",
        30,
        || async {
            let described = kubectl.ok(&["describe", "deployment", "web"]);
            let up = format!("Scaled up replica set {new_name} from 0 to");
            let down = format!("Scaled down replica set {old_name} from");
            if described.contains("ScalingReplicaSet")
                && described.contains(&up)
                && described.contains(&down)
            {
                Ok(())
            } else {
                Err(described)
            }
        },
    )
    .await;
}

#[tokio::test]
async fn rollout_undo_scales_the_old_replica_set_up_again() {
    let server = Server::start();
    let client = server.client().await;
    let kubectl = server.admin(kubectl_current());
    let _kubelet = Kubelet::start(client.clone(), "default");
    roll_to_b(&server, &client, &kubectl).await;
    let before = replica_sets(&client, "web").await;

    kubectl.ok(&["rollout", "undo", "deployment/web"]);
    support::rollout_status(&server, &kubectl, "deployment/web").await;
    wait_running(&server, &client, "web", 3, "demo:a").await;
    let after = replica_sets(&client, "web").await;
    assert_eq!(
        after.iter().map(|rs| rs.name_any()).collect::<Vec<_>>(),
        before.iter().map(|rs| rs.name_any()).collect::<Vec<_>>(),
        "the old ReplicaSet is reused, none is made"
    );
    let (a, b) = (with_image(&after, "demo:a"), with_image(&after, "demo:b"));
    assert_eq!((a.spec.replicas, b.spec.replicas), (Some(3), Some(0)));
    assert_eq!(
        annotation(&a.metadata, REVISION).as_deref(),
        Some("3"),
        "the revision moves up"
    );
    assert_eq!(
        annotation(&a.metadata, "deployment.kubernetes.io/revision-history").as_deref(),
        Some("1")
    );
    let d = Api::<Deployment>::namespaced(client.clone(), "default")
        .get("web")
        .await
        .unwrap();
    assert_eq!(annotation(&d.metadata, REVISION).as_deref(), Some("3"));
    // kubectl reads the history from the ReplicaSets.
    let history = kubectl.ok(&["rollout", "history", "deployment/web"]);
    assert!(
        history.contains("2 ") && history.contains("3 ") && !history.contains("1 "),
        "{history}"
    );
}

#[tokio::test]
async fn recreate_removes_every_old_pod_before_making_new_ones() {
    let server = Server::start();
    let client = server.client().await;
    let kubectl = server.admin(kubectl_current());
    let _kubelet = Kubelet::start(client.clone(), "default");
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.create(
        &PostParams::default(),
        &deployment("db", 3, "demo:a", json!({"type": "Recreate"})),
    )
    .await
    .unwrap();
    wait_running(&server, &client, "db", 3, "demo:a").await;

    let overlaps = Arc::new(Mutex::new(Vec::new()));
    let seen = overlaps.clone();
    let _observer = Observer::start(client.clone(), "app=db", move |pods| {
        let images: HashSet<String> = pods.iter().map(|p| image(p)).collect();
        if images.len() > 1 {
            seen.lock().unwrap().push(
                pods.iter()
                    .map(|p| format!("{} {}", p.name_any(), image(p)))
                    .collect::<Vec<_>>(),
            );
        }
    })
    .await;
    kubectl.ok(&["set", "image", "deployment/db", "app=demo:b"]);
    support::rollout_status(&server, &kubectl, "deployment/db").await;
    wait_running(&server, &client, "db", 3, "demo:b").await;
    let overlaps = overlaps.lock().unwrap();
    assert!(
        overlaps.is_empty(),
        "old and new pods together: {:?}",
        overlaps.first()
    );
}

#[tokio::test]
async fn a_replica_set_adopts_releases_and_never_over_creates() {
    let server = Server::start();
    let client = server.client().await;
    let kubelet = Kubelet::start(client.clone(), "default");
    kubelet.set_ready(false);
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let orphan: Pod = serde_json::from_value(
        json!({"metadata": {"name": "orphan", "labels": {"app": "burst"}},
        "spec": {"containers": [{"name": "app", "image": "demo:a"}]}}),
    )
    .unwrap();
    pods_api
        .create(&PostParams::default(), &orphan)
        .await
        .unwrap();

    let most = Arc::new(Mutex::new(0usize));
    let seen = most.clone();
    let _observer = Observer::start(client.clone(), "app=burst", move |pods| {
        let mut most = seen.lock().unwrap();
        *most = (*most).max(pods.len());
    })
    .await;
    let rs: ReplicaSet = serde_json::from_value(json!({"metadata": {"name": "burst"},
        "spec": {"replicas": 10, "selector": {"matchLabels": {"app": "burst"}},
                 "template": {"metadata": {"labels": {"app": "burst"}},
                              "spec": {"containers": [{"name": "app", "image": "demo:a"}]}}}}))
    .unwrap();
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs = rs_api.create(&PostParams::default(), &rs).await.unwrap();

    // Every pod's binding and status change wakes the ReplicaSet up while
    // its creations may still be in flight.
    let ready_all = || async {
        let rs = rs_api.get("burst").await.unwrap();
        let st = rs.status.clone().unwrap_or_default();
        let n = pods(&client, "burst").await.len();
        if (st.replicas, st.ready_replicas, n) == (10, Some(10), 10) {
            Ok(())
        } else {
            Err(format!("{n} pods, status {st:?}"))
        }
    };
    eventually(&server, "10 pods", 30, || async {
        let n = pods(&client, "burst").await.len();
        if n == 10 {
            Ok(())
        } else {
            Err(format!("{n} pods"))
        }
    })
    .await;
    kubelet.set_ready(true);
    eventually(&server, "10 ready pods", 30, ready_all).await;
    assert_eq!(*most.lock().unwrap(), 10, "never more than 10 pods");
    let orphan = pods_api.get("orphan").await.unwrap();
    let owner = orphan
        .owner_references()
        .iter()
        .find(|r| r.controller == Some(true))
        .cloned();
    assert_eq!(
        owner.map(|o| (o.kind, o.uid)),
        Some(("ReplicaSet".into(), rs.uid().unwrap()))
    );

    // A pod relabeled away is released and replaced.
    pods_api
        .patch(
            "orphan",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "gone"}}})),
        )
        .await
        .unwrap();
    eventually(&server, "the released pod replaced", 30, || async {
        let released = pods_api.get("orphan").await.unwrap();
        let refs = released.owner_references().len();
        let n = pods(&client, "burst").await.len();
        if refs == 0 && n == 10 {
            Ok(())
        } else {
            Err(format!("{refs} owner references, {n} pods"))
        }
    })
    .await;
    eventually(&server, "10 ready pods again", 30, ready_all).await;
    assert!(*most.lock().unwrap() <= 10, "never more than 10 pods");
}

#[tokio::test]
async fn a_paused_deployment_scales_but_does_not_roll_and_history_is_trimmed() {
    let server = Server::start();
    let client = server.client().await;
    let kubectl = server.admin(kubectl_current());
    let _kubelet = Kubelet::start(client.clone(), "default");
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut d = deployment("web", 3, "demo:a", json!({}));
    d.spec.revision_history_limit = Some(1);
    api.create(&PostParams::default(), &d).await.unwrap();
    wait_running(&server, &client, "web", 3, "demo:a").await;

    kubectl.ok(&["rollout", "pause", "deployment/web"]);
    kubectl.ok(&["set", "image", "deployment/web", "app=demo:b"]);
    eventually(&server, "the paused spec observed", 30, || async {
        let d = api.get("web").await.unwrap();
        let st = d.status.clone().unwrap_or_default();
        let progressing = st
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_.as_deref() == Some("Progressing"))
            .and_then(|c| c.reason.clone());
        if st.observed_generation == d.metadata.generation
            && progressing.as_deref() == Some("DeploymentPaused")
        {
            Ok(())
        } else {
            Err(format!("{st:?}"))
        }
    })
    .await;
    assert_eq!(
        replica_sets(&client, "web").await.len(),
        1,
        "no rollout while paused"
    );
    kubectl.ok(&["scale", "deployment/web", "--replicas=4"]);
    wait_running(&server, &client, "web", 4, "demo:a").await;

    kubectl.ok(&["rollout", "resume", "deployment/web"]);
    support::rollout_status(&server, &kubectl, "deployment/web").await;
    wait_running(&server, &client, "web", 4, "demo:b").await;
    kubectl.ok(&["set", "image", "deployment/web", "app=demo:c"]);
    support::rollout_status(&server, &kubectl, "deployment/web").await;
    // revisionHistoryLimit 1: of the old ReplicaSets only the latest stays.
    eventually(&server, "the oldest ReplicaSet deleted", 30, || async {
        let mut images: Vec<String> = replica_sets(&client, "web")
            .await
            .iter()
            .map(template_image)
            .collect();
        images.sort();
        if images == ["demo:b", "demo:c"] {
            Ok(())
        } else {
            Err(format!("{images:?}"))
        }
    })
    .await;
}
