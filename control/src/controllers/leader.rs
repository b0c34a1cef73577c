//! Leader election over a `coordination.k8s.io` Lease, as client-go's
//! leaderelection does it: several control plane processes run side by side,
//! one holds the Lease and runs the loops, the others wait for it to expire.
//! A leader that cannot renew within the renew deadline stops its loops
//! before the Lease can expire, so two sets of loops never run at once.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams};
use serde_json::json;
use tracing::{info, warn};

#[derive(Clone, Debug)]
pub struct Timing {
    /// How long others wait after the last renewal before taking over.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up.
    pub renew_deadline: Duration,
    /// How often candidates try and the leader renews.
    pub retry_period: Duration,
}

impl Default for Timing {
    /// A crashed leader is replaced within lease_duration + retry_period.
    fn default() -> Self {
        Timing {
            lease_duration: Duration::from_secs(10),
            renew_deadline: Duration::from_secs(7),
            retry_period: Duration::from_secs(2),
        }
    }
}

pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: Timing,
}

fn now() -> MicroTime {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    // Lease times are microseconds.
    let ts = k8s_openapi::jiff::Timestamp::from_nanosecond(nanos / 1000 * 1000)
        .expect("the clock is in range");
    MicroTime(ts)
}

/// What this candidate last saw of the Lease, and when it saw it change:
/// expiry is judged by the local clock since that moment, not by the
/// holder's timestamps, so clock skew between machines does not matter.
struct Observed {
    holder: String,
    renew: Option<MicroTime>,
    at: Instant,
}

impl Elector {
    pub fn new(api: Api<Lease>, name: &str, identity: &str, timing: Timing) -> Self {
        Elector {
            api,
            name: name.to_owned(),
            identity: identity.to_owned(),
            timing,
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Takes or renews the Lease; Ok(true) when this process holds it.
    async fn try_acquire_or_renew(&self, seen: &mut Option<Observed>) -> kube::Result<bool> {
        let lease = match self.api.get_opt(&self.name).await? {
            Some(lease) => lease,
            None => {
                let lease: Lease = serde_json::from_value(json!({
                    "metadata": {"name": self.name},
                    "spec": {"holderIdentity": self.identity,
                             "leaseDurationSeconds": self.timing.lease_duration.as_secs(),
                             "acquireTime": now(), "renewTime": now(), "leaseTransitions": 0},
                }))
                .expect("a valid Lease");
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                    Err(e) => Err(e),
                };
            }
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let changed = seen
            .as_ref()
            .is_none_or(|s| s.holder != holder || s.renew != spec.renew_time);
        if changed {
            *seen = Some(Observed {
                holder: holder.clone(),
                renew: spec.renew_time.clone(),
                at: Instant::now(),
            });
        }
        let ours = holder == self.identity;
        let duration = spec
            .lease_duration_seconds
            .map_or(self.timing.lease_duration, |s| {
                Duration::from_secs(s.max(0) as u64)
            });
        let expired = seen.as_ref().is_some_and(|s| s.at.elapsed() > duration);
        if !ours && !holder.is_empty() && !expired {
            return Ok(false);
        }
        let mut next = lease.clone();
        let mut spec = spec;
        if !ours {
            spec.acquire_time = Some(now());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(self.timing.lease_duration.as_secs() as i32);
        spec.renew_time = Some(now());
        next.spec = Some(spec);
        // The resourceVersion makes this a compare-and-swap: of two
        // candidates that both saw the Lease expire, one wins.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &next)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Runs `work` whenever this process leads; stops it when leadership is
    /// lost, then stands again. Returns only if `work` fails.
    pub async fn run<F, Fut>(&self, work: F) -> anyhow::Result<()>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let mut seen = None;
        loop {
            // Candidate: try every retry period until the Lease is ours.
            loop {
                match self.try_acquire_or_renew(&mut seen).await {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => warn!(error = %e, "leader election: cannot read or write the Lease"),
                }
                tokio::time::sleep(self.timing.retry_period).await;
            }
            info!(identity = %self.identity, lease = %self.name, "became the leader");
            let lost = async {
                let mut renewed = Instant::now();
                loop {
                    tokio::time::sleep(self.timing.retry_period).await;
                    match self.try_acquire_or_renew(&mut seen).await {
                        Ok(true) => renewed = Instant::now(),
                        Ok(false) => return "another process holds the Lease",
                        Err(e) => warn!(error = %e, "leader election: renewal failed"),
                    }
                    if renewed.elapsed() > self.timing.renew_deadline {
                        return "the Lease could not be renewed in time";
                    }
                }
            };
            tokio::select! {
                why = lost => warn!(reason = why, "lost leadership; stopping the loops"),
                result = work() => return result,
            }
        }
    }

    /// Gives the Lease up, so another process takes over at once.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        if let Err(e) = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            warn!(error = %e, "could not release the Lease; it expires on its own");
        }
    }
}
