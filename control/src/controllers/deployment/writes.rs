//! What a Deployment sync writes: its new ReplicaSet (found or created,
//! with its revision), ReplicaSet sizes, deletions beyond the revision
//! history, its revision annotation and its status.

use k8s_openapi::api::apps::v1::{DeploymentStatus, ReplicaSet};
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use serde_json::json;
use tracing::info;

use super::counts::spec;
use super::fenceposts::{max_surge, replicas};
use super::revision::{
    self, REVISION, max_revision, set_new_rs_annotations, set_replicas_annotations,
};
use super::status::{self, FAILED_RS_CREATE, FOUND_NEW_RS, NEW_RS_CREATED, PROGRESSING};
use super::sync::{Syncer, find_new};
use super::{rolling, template};
use crate::controllers::shared::claim::controller_of;
use crate::controllers::shared::events::Involved;
use crate::controllers::shared::run;

fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

impl Syncer {
    /// The new ReplicaSet and the old ones, with the revisions in order
    /// (upstream's getAllReplicaSetsAndSyncRevision): the new one gets the
    /// next revision (a rollback bumps an old ReplicaSet's so), the
    /// Deployment the new one's. With `create`, a missing new ReplicaSet is
    /// created.
    pub async fn all_replica_sets(
        &mut self,
        mut rs_list: Vec<ReplicaSet>,
        create: bool,
    ) -> anyhow::Result<(Option<ReplicaSet>, Vec<ReplicaSet>)> {
        let existing = find_new(&self.d, &rs_list).map(|i| rs_list.remove(i));
        let old = rs_list;
        let next = max_revision(&old) + 1;
        if let Some(mut rs) = existing {
            let annotated = set_new_rs_annotations(&self.d, &mut rs, next, true);
            if annotated || rs.spec.min_ready_seconds != self.d.spec.min_ready_seconds {
                rs.spec.min_ready_seconds = self.d.spec.min_ready_seconds;
                let rs = self
                    .replicasets
                    .replace(&rs.name_any(), &PostParams::default(), &rs)
                    .await?;
                // Its update brings the Deployment's revision next sync.
                return Ok((Some(rs), old));
            }
            self.set_revision(revision::revision(&rs.metadata)).await?;
            let mut st = self.d.status.clone().unwrap_or_default();
            if status::progress_deadline(&self.d).is_some()
                && status::get(&st, PROGRESSING).is_none()
            {
                let message = format!("Found new replica set {:?}", rs.name_any());
                status::set(
                    &mut st,
                    status::condition(PROGRESSING, "True", FOUND_NEW_RS, message, self.now),
                );
                self.write_status(st).await?;
            }
            return Ok((Some(rs), old));
        }
        if !create {
            return Ok((None, old));
        }
        let collisions = self.d.status.as_ref().and_then(|s| s.collision_count);
        let hash = template::hash(&self.d.spec.template, collisions);
        let mut rs = template::new_replica_set(&self.d, &hash);
        let mut all = old.clone();
        all.push(rs.clone());
        rs.spec.replicas = Some(rolling::new_rs_size(&self.d, &all, &rs));
        set_new_rs_annotations(&self.d, &mut rs, next, false);
        let (rs, created) = match self.replicasets.create(&PostParams::default(), &rs).await {
            Ok(rs) => (rs, true),
            Err(e) if code(&e) == Some(409) => {
                // A stale cache, or a namesake with another template.
                let found = self.replicasets.get(&rs.name_any()).await?;
                let ours = controller_of(&found.metadata)
                    .is_some_and(|r| Some(&r.uid) == self.d.metadata.uid.as_ref());
                let same = found
                    .spec
                    .template
                    .as_ref()
                    .is_some_and(|t| template::equal_ignore_hash(t, &self.d.spec.template));
                if !(ours && same) {
                    let mut st = self.d.status.clone().unwrap_or_default();
                    st.collision_count = Some(collisions.unwrap_or(0) + 1);
                    self.write_status(st).await?;
                    anyhow::bail!(
                        "hash collision: ReplicaSet {} exists with another template",
                        rs.name_any()
                    );
                }
                (found, false)
            }
            Err(e) => {
                let e = anyhow::Error::from(e);
                if status::progress_deadline(&self.d).is_some() {
                    let mut st = self.d.status.clone().unwrap_or_default();
                    let message = format!(
                        "Failed to create new replica set {:?}: {}",
                        rs.name_any(),
                        run::describe(&e)
                    );
                    status::set(
                        &mut st,
                        status::condition(
                            PROGRESSING,
                            "False",
                            FAILED_RS_CREATE,
                            message,
                            self.now,
                        ),
                    );
                    // The creation failure is the error to report.
                    let _ = self.write_status(st).await;
                }
                return Err(e);
            }
        };
        if created {
            info!(deployment = %self.key(), replicaset = %rs.name_any(), replicas = spec(&rs), "created replica set");
            if spec(&rs) > 0 {
                let message = format!(
                    "Scaled up replica set {} from 0 to {}",
                    rs.name_any(),
                    spec(&rs)
                );
                self.record_scaling(&message);
            }
        }
        self.set_revision(next).await?;
        if created && status::progress_deadline(&self.d).is_some() {
            let mut st = self.d.status.clone().unwrap_or_default();
            let message = format!("Created new replica set {:?}", rs.name_any());
            status::set(
                &mut st,
                status::condition(PROGRESSING, "True", NEW_RS_CREATED, message, self.now),
            );
            self.write_status(st).await?;
        }
        Ok((Some(rs), old))
    }

    fn key(&self) -> String {
        format!(
            "{}/{}",
            self.d.namespace().unwrap_or_default(),
            self.d.name_any()
        )
    }

    /// Sets a ReplicaSet's size (and the replica annotations with it).
    /// With `annotate`, annotations out of date are written even at the
    /// same size. Returns whether the size changed, and the ReplicaSet.
    pub async fn scale(
        &mut self,
        rs: &ReplicaSet,
        size: i32,
        annotate: bool,
    ) -> anyhow::Result<(bool, ReplicaSet)> {
        let resize = spec(rs) != size;
        let desired = replicas(&self.d);
        let max = desired + max_surge(&self.d);
        let annotations = annotate && revision::replicas_annotations_need_update(rs, desired, max);
        if !resize && !annotations {
            return Ok((false, rs.clone()));
        }
        let mut next = rs.clone();
        next.spec.replicas = Some(size);
        set_replicas_annotations(&mut next, desired, max);
        let written = self
            .replicasets
            .replace(&rs.name_any(), &PostParams::default(), &next)
            .await?;
        if resize {
            let way = if size > spec(rs) { "up" } else { "down" };
            let message = format!(
                "Scaled {way} replica set {} from {} to {size}",
                rs.name_any(),
                spec(rs)
            );
            info!(deployment = %self.key(), "{message}");
            self.record_scaling(&message);
        }
        Ok((resize, written))
    }

    /// The event `kubectl describe deployment` lists for each resize.
    fn record_scaling(&self, message: &str) {
        let involved = Involved::of(&self.d, "deployment-controller");
        self.events
            .record(involved.event("Normal", "ScalingReplicaSet", message));
    }

    /// Deletes old ReplicaSets beyond revisionHistoryLimit.
    pub async fn clean_up(&mut self, old: &[ReplicaSet]) -> anyhow::Result<()> {
        for name in revision::to_clean_up(&self.d, old) {
            match self
                .replicasets
                .delete(&name, &DeleteParams::default())
                .await
            {
                Ok(_) => info!(deployment = %self.key(), "deleted old replica set {name}"),
                Err(e) if code(&e) == Some(404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The revision annotation on the Deployment. It is metadata: written
    /// through the object, as the status subresource keeps metadata.
    async fn set_revision(&mut self, revision: i64) -> anyhow::Result<()> {
        let value = revision.to_string();
        let current = self
            .d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION));
        if current == Some(&value) {
            return Ok(());
        }
        let patch = json!({"metadata": {
            "resourceVersion": self.d.resource_version(),
            "annotations": {REVISION: value},
        }});
        self.d = self
            .deployments
            .patch(
                &self.d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
        Ok(())
    }

    /// Replaces the status; the resourceVersion guards against a stale view.
    pub async fn write_status(&mut self, status: DeploymentStatus) -> anyhow::Result<()> {
        let mut next = self.d.clone();
        next.status = Some(status);
        self.d = self
            .deployments
            .replace_status(&self.d.name_any(), &PostParams::default(), &next)
            .await?;
        Ok(())
    }

    /// The counts and Available, when they changed (scaling, paused,
    /// deleted).
    pub async fn sync_status(
        &mut self,
        all: &[ReplicaSet],
        new: Option<&ReplicaSet>,
    ) -> anyhow::Result<()> {
        let all: Vec<&ReplicaSet> = all.iter().collect();
        let st = status::calculate(&all, new, &self.d, self.now);
        if Some(&st) != self.d.status.as_ref() {
            self.write_status(st).await?;
        }
        Ok(())
    }

    /// The status after a rollout step, with Progressing; looks again by
    /// the progress deadline.
    pub async fn rollout_status(
        &mut self,
        all: &[ReplicaSet],
        new: Option<&ReplicaSet>,
    ) -> anyhow::Result<Action> {
        let all: Vec<&ReplicaSet> = all.iter().collect();
        let (st, requeue) = status::rollout(&all, new, &self.d, self.now);
        if Some(&st) != self.d.status.as_ref() {
            self.write_status(st).await?;
        }
        Ok(requeue.map_or_else(Action::await_change, Action::requeue))
    }
}
