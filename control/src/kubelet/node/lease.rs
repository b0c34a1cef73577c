//! The node heartbeat: a Lease in `kube-node-lease` renewed every few
//! seconds; the node lifecycle controller marks the node unknown when it
//! stops.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tracing::warn;

const NAMESPACE: &str = "kube-node-lease";
const DURATION_SECONDS: i32 = 40;

pub async fn run(client: Client, node: String, node_uid: String, every: Duration) {
    let api: Api<Lease> = Api::namespaced(client, NAMESPACE);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = renew(&api, &node, &node_uid).await {
            warn!(node, "renewing the node Lease failed (retrying): {e:#}");
        }
    }
}

async fn renew(api: &Api<Lease>, node: &str, node_uid: &str) -> anyhow::Result<()> {
    let now = MicroTime(Timestamp::now());
    match api.get_opt(node).await? {
        Some(mut lease) => {
            let spec = lease.spec.get_or_insert_with(Default::default);
            spec.holder_identity = Some(node.to_owned());
            spec.lease_duration_seconds = Some(DURATION_SECONDS);
            spec.renew_time = Some(now);
            api.replace(node, &PostParams::default(), &lease).await?;
        }
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(node.to_owned()),
                    // Deleting the Node deletes its Lease.
                    owner_references: Some(vec![OwnerReference {
                        api_version: "v1".into(),
                        kind: "Node".into(),
                        name: node.to_owned(),
                        uid: node_uid.to_owned(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(node.to_owned()),
                    lease_duration_seconds: Some(DURATION_SECONDS),
                    renew_time: Some(now),
                    ..Default::default()
                }),
            };
            api.create(&PostParams::default(), &lease).await?;
        }
    }
    Ok(())
}
