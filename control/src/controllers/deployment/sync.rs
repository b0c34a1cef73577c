//! One sync of a Deployment (upstream's syncDeployment): claim its
//! ReplicaSets, then either only report (being deleted), scale (paused, or
//! its size changed), or take a rollout step with its strategy.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::counts::{self, actual};
use super::fenceposts::{is_rolling, replicas};
use super::status::{self, PAUSED, PROGRESSING, RESUMED, TIMED_OUT};
use super::template::equal_ignore_hash;
use super::{Ctx, proportional, rolling};
use crate::controllers::replicaset;
use crate::controllers::shared::claim::controller_of;
use crate::controllers::shared::events::Events;
use crate::controllers::shared::{claim, selector, time};

/// A sync in progress: the Deployment as last written, and the APIs.
pub struct Syncer {
    pub d: Deployment,
    pub deployments: Api<Deployment>,
    pub replicasets: Api<ReplicaSet>,
    pub now: Timestamp,
    pub events: Events,
}

pub async fn reconcile(d: Arc<Deployment>, ctx: Arc<Ctx>) -> anyhow::Result<Action> {
    // Caches that have not listed yet would show no ReplicaSets at all.
    ctx.replicasets.wait_until_ready().await?;
    ctx.pods.wait_until_ready().await?;
    let ns = d.namespace().unwrap_or_default();
    let mut s = Syncer {
        d: (*d).clone(),
        deployments: Api::namespaced(ctx.client.clone(), &ns),
        replicasets: Api::namespaced(ctx.client.clone(), &ns),
        now: time::now(),
        events: ctx.events.clone(),
    };
    if selector::is_empty(&s.d.spec.selector) {
        // Selecting every pod is refused; the spec counts as seen, so that
        // clients waiting for it do not wait forever.
        let st = s.d.status.clone().unwrap_or_default();
        if st.observed_generation < s.d.metadata.generation {
            let mut st = st;
            st.observed_generation = s.d.metadata.generation;
            s.write_status(st).await?;
        }
        return Ok(Action::await_change());
    }
    let in_namespace: Vec<Arc<ReplicaSet>> = ctx
        .replicasets
        .state()
        .into_iter()
        .filter(|rs| rs.namespace().as_deref() == Some(ns.as_str()))
        .collect();
    let rs_list: Vec<ReplicaSet> = claim::claim(
        &s.d,
        &s.deployments,
        in_namespace,
        &s.d.spec.selector,
        &s.replicasets,
    )
    .await?
    .into_iter()
    .map(|rs| (*rs).clone())
    .collect();

    if s.d.metadata.deletion_timestamp.is_some() {
        return s.status_only(rs_list).await;
    }
    s.check_paused_conditions().await?;
    if s.d.spec.paused == Some(true) {
        return s.sync(rs_list).await;
    }
    if proportional::is_scaling_event(&s.d, &rs_list) {
        return s.sync(rs_list).await;
    }
    if is_rolling(&s.d) {
        s.rolling(rs_list).await
    } else {
        let pods = pods_by_owner(&ctx, &s.d, &rs_list);
        s.recreate(rs_list, pods).await
    }
}

/// The Deployment's pods, by the uid of the ReplicaSet controlling them.
fn pods_by_owner(
    ctx: &Ctx,
    d: &Deployment,
    rs_list: &[ReplicaSet],
) -> HashMap<String, Vec<Arc<Pod>>> {
    let mut map: HashMap<String, Vec<Arc<Pod>>> = HashMap::new();
    for pod in ctx.pods.state() {
        if pod.namespace() != d.namespace()
            || !selector::matches(&d.spec.selector, pod.metadata.labels.as_ref())
        {
            continue;
        }
        let Some(owner) = controller_of(pod.meta()) else {
            continue;
        };
        if rs_list
            .iter()
            .any(|rs| rs.uid().as_deref() == Some(owner.uid.as_str()))
        {
            map.entry(owner.uid.clone()).or_default().push(pod);
        }
    }
    map
}

/// The oldest ReplicaSet whose template is the Deployment's.
pub fn find_new(d: &Deployment, rs_list: &[ReplicaSet]) -> Option<usize> {
    let mut matching: Vec<usize> = (0..rs_list.len())
        .filter(|i| {
            rs_list[*i]
                .spec
                .template
                .as_ref()
                .is_some_and(|t| equal_ignore_hash(t, &d.spec.template))
        })
        .collect();
    matching.sort_by(|a, b| {
        let key = |i: &usize| {
            (
                &rs_list[*i].metadata.creation_timestamp,
                &rs_list[*i].metadata.name,
            )
        };
        key(a).cmp(&key(b))
    });
    matching.first().copied()
}

fn with(all: &[ReplicaSet], new: Option<&ReplicaSet>) -> Vec<ReplicaSet> {
    all.iter().cloned().chain(new.cloned()).collect()
}

fn replace_in(list: &mut [ReplicaSet], rs: ReplicaSet) {
    if let Some(slot) = list
        .iter_mut()
        .find(|r| r.metadata.name == rs.metadata.name)
    {
        *slot = rs;
    }
}

impl Syncer {
    /// Only the status: for a Deployment being deleted.
    async fn status_only(&mut self, rs_list: Vec<ReplicaSet>) -> anyhow::Result<Action> {
        let (new, old) = self.all_replica_sets(rs_list, false).await?;
        self.sync_status(&with(&old, new.as_ref()), new.as_ref())
            .await?;
        Ok(Action::await_change())
    }

    /// Scaling without a rollout: paused, or the size changed.
    async fn sync(&mut self, rs_list: Vec<ReplicaSet>) -> anyhow::Result<Action> {
        let (mut new, mut old) = self.all_replica_sets(rs_list, false).await?;
        let plan = proportional::scale(&self.d, new.as_ref(), &old);
        for (name, size) in plan.sizes {
            if let Some(rs) = new
                .as_ref()
                .filter(|n| n.metadata.name.as_deref() == Some(&name))
            {
                let (_, rs) = self.scale(rs, size, plan.annotate_all).await?;
                new = Some(rs);
            } else if let Some(rs) = old
                .iter()
                .find(|o| o.metadata.name.as_deref() == Some(&name))
            {
                let (_, rs) = self.scale(rs, size, plan.annotate_all).await?;
                replace_in(&mut old, rs);
            }
        }
        if self.d.spec.paused == Some(true) {
            self.clean_up(&old).await?;
        }
        self.sync_status(&with(&old, new.as_ref()), new.as_ref())
            .await?;
        Ok(Action::await_change())
    }

    /// Pausing and resuming show in Progressing, so that time spent paused
    /// never counts toward the progress deadline.
    async fn check_paused_conditions(&mut self) -> anyhow::Result<()> {
        if status::progress_deadline(&self.d).is_none() {
            return Ok(());
        }
        let mut st = self.d.status.clone().unwrap_or_default();
        let reason = status::get(&st, PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(TIMED_OUT) {
            return Ok(());
        }
        let paused = self.d.spec.paused == Some(true);
        let shown = reason.as_deref() == Some(PAUSED);
        let (why, message) = match (paused, shown) {
            (true, false) => (PAUSED, "Deployment is paused"),
            (false, true) => (RESUMED, "Deployment is resumed"),
            _ => return Ok(()),
        };
        status::set(
            &mut st,
            status::condition(PROGRESSING, "Unknown", why, message.into(), self.now),
        );
        self.write_status(st).await
    }

    /// One step of a rolling update: up if it can, else down if it can,
    /// else clean up; then the status.
    async fn rolling(&mut self, rs_list: Vec<ReplicaSet>) -> anyhow::Result<Action> {
        let (new, mut old) = self.all_replica_sets(rs_list, true).await?;
        let Some(mut new) = new else {
            anyhow::bail!("no new ReplicaSet for the rollout");
        };
        if let Some(size) = rolling::scale_new(&self.d, &with(&old, Some(&new)), &new) {
            let (scaled, rs) = self.scale(&new, size, false).await?;
            new = rs;
            if scaled {
                return self
                    .rollout_status(&with(&old, Some(&new)), Some(&new))
                    .await;
            }
        }
        let plan = rolling::scale_down_old(&self.d, &old, &new);
        if !plan.is_empty() {
            for (name, size) in plan {
                if let Some(rs) = old
                    .iter()
                    .find(|o| o.metadata.name.as_deref() == Some(&name))
                {
                    let (_, rs) = self.scale(rs, size, false).await?;
                    replace_in(&mut old, rs);
                }
            }
            return self
                .rollout_status(&with(&old, Some(&new)), Some(&new))
                .await;
        }
        if status::complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.clean_up(&old).await?;
        }
        self.rollout_status(&with(&old, Some(&new)), Some(&new))
            .await
    }

    /// Recreate: every old pod gone before the new ReplicaSet is created
    /// or scaled up.
    async fn recreate(
        &mut self,
        rs_list: Vec<ReplicaSet>,
        pods: HashMap<String, Vec<Arc<Pod>>>,
    ) -> anyhow::Result<Action> {
        let (mut new, mut old) = self.all_replica_sets(rs_list.clone(), false).await?;
        let mut scaled_down = false;
        let active: Vec<ReplicaSet> = old
            .iter()
            .filter(|rs| counts::is_active(rs))
            .cloned()
            .collect();
        for rs in &active {
            let (scaled, rs) = self.scale(rs, 0, false).await?;
            scaled_down |= scaled;
            replace_in(&mut old, rs);
        }
        if scaled_down || old_pods_running(new.as_ref(), &old, &pods) {
            return self
                .rollout_status(&with(&old, new.as_ref()), new.as_ref())
                .await;
        }
        if new.is_none() {
            (new, old) = self.all_replica_sets(rs_list, true).await?;
        }
        if let Some(rs) = new.clone() {
            let (_, rs) = self.scale(&rs, replicas(&self.d), false).await?;
            new = Some(rs);
        }
        if status::complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.clean_up(&old).await?;
        }
        self.rollout_status(&with(&old, new.as_ref()), new.as_ref())
            .await
    }
}

/// Whether any pod of an old ReplicaSet may still run: counted by their
/// status, or seen in the cache and not finished (a pod being deleted
/// still runs until its kubelet confirms).
fn old_pods_running(
    new: Option<&ReplicaSet>,
    old: &[ReplicaSet],
    pods: &HashMap<String, Vec<Arc<Pod>>>,
) -> bool {
    if counts::sum(old, actual) > 0 {
        return true;
    }
    let new_uid = new.and_then(|rs| rs.uid());
    pods.iter()
        .filter(|(uid, _)| Some(uid.as_str()) != new_uid.as_deref())
        .flat_map(|(_, pods)| pods)
        .any(|p| !matches!(replicaset::phase(p), "Succeeded" | "Failed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn old_pods_keep_a_recreate_waiting() {
        let rs = |uid: &str, replicas: i32| -> ReplicaSet {
            serde_json::from_value(json!({"metadata": {"name": uid, "uid": uid},
                "spec": {"selector": {}}, "status": {"replicas": replicas}}))
            .unwrap()
        };
        let pod = |phase: &str| -> Arc<Pod> {
            Arc::new(serde_json::from_value(json!({"status": {"phase": phase}})).unwrap())
        };
        let new = rs("new", 0);
        let old = [rs("old", 0)];
        let mut pods = HashMap::new();
        assert!(!old_pods_running(Some(&new), &old, &pods));
        assert!(old_pods_running(Some(&new), &[rs("old", 1)], &pods));
        pods.insert("new".to_string(), vec![pod("Running")]);
        assert!(!old_pods_running(Some(&new), &old, &pods));
        pods.insert("old".to_string(), vec![pod("Succeeded")]);
        assert!(!old_pods_running(Some(&new), &old, &pods));
        pods.insert("old".to_string(), vec![pod("Succeeded"), pod("Running")]);
        assert!(old_pods_running(Some(&new), &old, &pods));
    }
}
