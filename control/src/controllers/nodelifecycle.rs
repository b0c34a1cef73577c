//! Node lifecycle: a node whose heartbeats (its Lease in `kube-node-lease`,
//! or its Ready condition's heartbeat) stop for the grace period is marked
//! Unknown and tainted `node.kubernetes.io/unreachable`; a node that reports
//! itself not ready is tainted `node.kubernetes.io/not-ready`. Pods on a
//! node with a NoExecute taint are evicted once they stop tolerating it:
//! at once without a matching toleration, after its tolerationSeconds
//! otherwise. Heartbeats are timed by the local clock from the moment they
//! were seen to change, as leader election does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt as _};
use serde_json::{Value, json};
use tracing::{info, warn};

use super::Settings;

pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// How often nodes are looked at (upstream's node-monitor-period).
const MONITOR_EVERY: Duration = Duration::from_secs(1);

/// The last heartbeat seen of one node, and when it was seen to change.
struct Heartbeat {
    seen: String,
    at: Instant,
}

fn now_rfc3339() -> Value {
    crate::apiserver::resources::now()
}

/// The node's Ready condition status: "True", "False", "Unknown" or "".
fn ready(node: &Node) -> String {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

/// The taints this controller owns that the node should carry.
fn wanted(healthy: bool, ready: &str) -> Vec<&'static str> {
    match (healthy, ready) {
        (false, _) | (_, "Unknown") => vec![UNREACHABLE],
        (true, "False") => vec![NOT_READY],
        _ => vec![],
    }
}

/// Every condition Unknown, as upstream marks a silent node.
fn unknown_conditions(node: &Node) -> Value {
    let conditions: Vec<Value> = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            json!({"type": c.type_, "status": "Unknown", "reason": "NodeStatusUnknown",
                   "message": "Kubelet stopped posting node status.",
                   "lastHeartbeatTime": c.last_heartbeat_time, "lastTransitionTime": now_rfc3339()})
        })
        .collect();
    let conditions = if conditions.iter().any(|c| c["type"] == "Ready") {
        conditions
    } else {
        let mut c = conditions;
        c.push(json!({"type": "Ready", "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                      "message": "Kubelet never posted node status.", "lastTransitionTime": now_rfc3339()}));
        c
    };
    json!({"status": {"conditions": conditions}})
}

/// The node's taints with this controller's set replaced by `want`; None if
/// nothing changes.
fn retaint(node: &Node, want: &[&str]) -> Option<Vec<Value>> {
    let current: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let ours = |t: &Taint| t.key == UNREACHABLE || t.key == NOT_READY;
    let have: Vec<&str> = current
        .iter()
        .filter(|t| ours(t) && t.effect == "NoExecute")
        .map(|t| t.key.as_str())
        .collect();
    if have.len() == want.len() && want.iter().all(|w| have.contains(w)) {
        return None;
    }
    let mut out: Vec<Value> = current
        .iter()
        .filter(|t| !ours(t) || want.contains(&t.key.as_str()))
        .map(|t| serde_json::to_value(t).expect("a taint serializes"))
        .collect();
    for key in want.iter().filter(|k| !have.contains(k)) {
        out.push(json!({"key": key, "effect": "NoExecute", "timeAdded": now_rfc3339()}));
        out.push(json!({"key": key, "effect": "NoSchedule"}));
    }
    out.dedup();
    Some(out)
}

/// Seconds `pod` tolerates `taint`: None forever, Some(0) not at all.
fn tolerates(pod: &Pod, taint: &Taint) -> Option<i64> {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let matching = tolerations.iter().filter(|t| {
        let key = match t.operator.as_deref() {
            Some("Exists") => t
                .key
                .as_deref()
                .is_none_or(|k| k.is_empty() || k == taint.key),
            _ => {
                t.key.as_deref() == Some(taint.key.as_str())
                    && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
            }
        };
        key && t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect)
    });
    let mut best: Option<Option<i64>> = None;
    for t in matching {
        let secs = t.toleration_seconds;
        best = Some(match (best, secs) {
            (None, s) => s,
            (Some(None), _) | (_, None) => None,
            (Some(Some(a)), Some(b)) => Some(a.max(b)),
        });
    }
    best.unwrap_or(Some(0))
}

async fn evict(client: &Client, node: &Node) -> kube::Result<()> {
    let taints: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.effect == "NoExecute")
        .collect();
    if taints.is_empty() {
        return Ok(());
    }
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={}", node.name_any())))
        .await?;
    let now = k8s_openapi::jiff::Timestamp::from_second(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    )
    .expect("the clock is in range");
    for pod in pods
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        let due = taints.iter().any(|t| match tolerates(pod, t) {
            None => false,
            Some(secs) => {
                let added = t.time_added.as_ref().map_or(now, |a| a.0);
                now.as_second() >= added.as_second() + secs
            }
        });
        if !due {
            continue;
        }
        let ns = pod.namespace().unwrap_or_default();
        match Api::<Pod>::namespaced(client.clone(), &ns)
            .delete(&pod.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => {
                info!(pod = %format!("{ns}/{}", pod.name_any()), node = %node.name_any(), "evicted from a tainted node")
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn pass(
    client: &Client,
    settings: &Settings,
    beats: &mut HashMap<String, Heartbeat>,
) -> kube::Result<()> {
    let nodes_api: Api<Node> = Api::all(client.clone());
    let nodes = nodes_api.list(&ListParams::default()).await?.items;
    let leases = Api::<Lease>::namespaced(client.clone(), "kube-node-lease")
        .list(&ListParams::default())
        .await?
        .items;
    let renewals: HashMap<String, String> = leases
        .iter()
        .map(|l| {
            (
                l.name_any(),
                serde_json::to_string(&l.spec.as_ref().and_then(|s| s.renew_time.clone()))
                    .unwrap_or_default(),
            )
        })
        .collect();
    beats.retain(|name, _| nodes.iter().any(|n| n.name_any() == *name));
    for node in &nodes {
        let name = node.name_any();
        let status_beat = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| serde_json::to_string(&c.last_heartbeat_time).unwrap_or_default())
            .unwrap_or_default();
        let seen = format!(
            "{}|{status_beat}",
            renewals.get(&name).cloned().unwrap_or_default()
        );
        let beat = beats.entry(name.clone()).or_insert_with(|| Heartbeat {
            seen: seen.clone(),
            at: Instant::now(),
        });
        if beat.seen != seen {
            *beat = Heartbeat {
                seen,
                at: Instant::now(),
            };
        }
        let healthy = beat.at.elapsed() < settings.node_monitor_grace;
        let mut state = ready(node);
        if !healthy && state != "Unknown" {
            let params = PatchParams::default();
            nodes_api
                .patch_status(&name, &params, &Patch::Merge(unknown_conditions(node)))
                .await?;
            warn!(node = %name, "node stopped posting status; marked Unknown");
            state = "Unknown".into();
        }
        let node = match retaint(node, &wanted(healthy, &state)) {
            Some(taints) => {
                let patch = json!({"spec": {"taints": taints}});
                nodes_api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await?
            }
            None => node.clone(),
        };
        evict(client, &node).await?;
    }
    Ok(())
}

pub async fn run(client: Client, settings: Settings) -> anyhow::Result<()> {
    let mut beats = HashMap::new();
    loop {
        if let Err(e) = pass(&client, &settings, &mut beats).await {
            warn!(error = %e, "node lifecycle: retrying");
        }
        tokio::time::sleep(MONITOR_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(tolerations: Value) -> Pod {
        serde_json::from_value(json!({"spec": {"containers": [], "tolerations": tolerations}}))
            .unwrap()
    }

    fn taint(key: &str) -> Taint {
        serde_json::from_value(json!({"key": key, "effect": "NoExecute"})).unwrap()
    }

    #[test]
    fn tolerations_decide_when_a_pod_goes() {
        let t = taint(UNREACHABLE);
        assert_eq!(
            tolerates(&pod(json!([])), &t),
            Some(0),
            "no toleration: at once"
        );
        let timed = json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]);
        assert_eq!(tolerates(&pod(timed), &t), Some(30));
        assert_eq!(
            tolerates(&pod(json!([{"operator": "Exists"}])), &t),
            None,
            "tolerates everything"
        );
        let other = json!([{"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]);
        assert_eq!(tolerates(&pod(other), &t), Some(0));
    }

    #[test]
    fn taints_follow_health() {
        assert_eq!(wanted(false, "True"), [UNREACHABLE]);
        assert_eq!(wanted(true, "False"), [NOT_READY]);
        assert!(wanted(true, "True").is_empty());
        let node: Node = serde_json::from_value(json!({"spec": {"taints": [
            {"key": "dedicated", "value": "db", "effect": "NoSchedule"},
            {"key": UNREACHABLE, "effect": "NoExecute"}]}}))
        .unwrap();
        let cleared = retaint(&node, &[]).unwrap();
        assert_eq!(
            cleared.len(),
            1,
            "only this controller's taints go: {cleared:?}"
        );
        assert!(
            retaint(&node, &[UNREACHABLE]).is_none(),
            "nothing to change"
        );
    }
}
