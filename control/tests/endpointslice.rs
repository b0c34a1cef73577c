//! The endpointslice loop against the real server: a Service's
//! EndpointSlices and Endpoints follow its pods through ready, not ready,
//! terminating and gone; 250 pods make three slices that a restart and a
//! new pod leave in place; publishNotReadyAddresses; named target ports.
//! Pods are plain API objects here: a test plays the kubelet by writing
//! their status.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::Server;

const DEADLINE: Duration = Duration::from_secs(60);

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

struct Apis {
    pods: Api<Pod>,
    services: Api<Service>,
    slices: Api<EndpointSlice>,
    endpoints: Api<Endpoints>,
}

impl Apis {
    async fn of(server: &Server) -> Self {
        let client = server.client().await;
        Apis {
            pods: Api::namespaced(client.clone(), "default"),
            services: Api::namespaced(client.clone(), "default"),
            slices: Api::namespaced(client.clone(), "default"),
            endpoints: Api::namespaced(client, "default"),
        }
    }

    async fn service(&self, spec: Value) {
        self.services
            .create(&PostParams::default(), &from(spec))
            .await
            .unwrap();
    }

    /// A pod on node-1 with these container ports, running at `ip` with its
    /// Ready condition as given (what a kubelet reports).
    async fn run_pod(&self, name: &str, app: &str, ports: Value, ip: &str, ready: bool) {
        let pod = json!({
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"nodeName": "node-1",
                     "containers": [{"name": "c", "image": "demo:1", "ports": ports}]},
        });
        self.pods
            .create(&PostParams::default(), &from(pod))
            .await
            .unwrap();
        self.report(name, ip, ready).await;
    }

    async fn report(&self, name: &str, ip: &str, ready: bool) {
        let status = json!({"status": {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
        }});
        self.pods
            .patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await
            .unwrap();
    }

    async fn slices_of(&self, service: &str) -> Vec<EndpointSlice> {
        let by_service =
            ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
        self.slices.list(&by_service).await.unwrap().items
    }
}

/// Polls `probe` until it gives a value; past the deadline, fails with what
/// it last saw and the server's log.
async fn wait_for<T>(
    server: &Server,
    what: &str,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(seen) if Instant::now() > deadline => {
                let log = server.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "{what}: not so after {DEADLINE:?}; last seen: {seen}\nserver log (last lines):\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

type Conditions = (bool, bool, bool);

/// Pod name -> (ready, serving, terminating), over all slices.
fn conditions(slices: &[EndpointSlice]) -> BTreeMap<String, Conditions> {
    slices
        .iter()
        .flat_map(|s| s.endpoints.iter().flatten())
        .map(|e| {
            let c = e.conditions.clone().unwrap_or_default();
            let name = e.target_ref.as_ref().and_then(|t| t.name.clone());
            (
                name.unwrap_or_default(),
                (
                    c.ready.unwrap_or(false),
                    c.serving.unwrap_or(false),
                    c.terminating.unwrap_or(false),
                ),
            )
        })
        .collect()
}

fn ips(v: &Option<Vec<k8s_openapi::api::core::v1::EndpointAddress>>) -> Vec<String> {
    let mut ips: Vec<String> = v.iter().flatten().map(|a| a.ip.clone()).collect();
    ips.sort();
    ips
}

/// (ready addresses, not ready addresses) of the Endpoints object.
async fn mirrored(apis: &Apis, name: &str) -> Result<(Vec<String>, Vec<String>), String> {
    let e = apis
        .endpoints
        .get_opt(name)
        .await
        .unwrap()
        .ok_or("no Endpoints object")?;
    let subsets = e.subsets.unwrap_or_default();
    let mut ready: Vec<String> = subsets.iter().flat_map(|s| ips(&s.addresses)).collect();
    let mut not_ready: Vec<String> = subsets
        .iter()
        .flat_map(|s| ips(&s.not_ready_addresses))
        .collect();
    ready.sort();
    not_ready.sort();
    Ok((ready, not_ready))
}

async fn wait_conditions(
    server: &Server,
    apis: &Apis,
    svc: &str,
    want: &[(&str, Conditions)],
    what: &str,
) {
    let want: BTreeMap<String, Conditions> =
        want.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    wait_for(server, what, async || {
        let got = conditions(&apis.slices_of(svc).await);
        if got == want {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
}

async fn wait_mirror(
    server: &Server,
    apis: &Apis,
    svc: &str,
    ready: &[&str],
    not_ready: &[&str],
    what: &str,
) {
    let want = (
        ready.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        not_ready.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    );
    wait_for(server, what, async || {
        let got = mirrored(apis, svc).await?;
        if got == want {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
}

const READY: Conditions = (true, true, false);
const NOT_READY: Conditions = (false, false, false);

#[tokio::test]
async fn slices_follow_a_pod_from_ready_to_gone() {
    let server = Server::start();
    let apis = Apis::of(&server).await;
    let nodes: Api<Node> = Api::all(server.client().await);
    let node = json!({"metadata": {"name": "node-1", "labels": {"topology.kubernetes.io/zone": "zone-a"}}});
    nodes
        .create(&PostParams::default(), &from(node))
        .await
        .unwrap();
    apis.service(json!({
        "metadata": {"name": "web", "labels": {"team": "a"}},
        "spec": {"selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }))
    .await;
    let svc = apis.services.get("web").await.unwrap();

    // No pods yet: one empty slice, as upstream keeps.
    let placeholder = wait_for(
        &server,
        "an empty slice for a Service without pods",
        async || match apis.slices_of("web").await.as_slice() {
            [one] if one.endpoints.as_ref().is_none_or(Vec::is_empty) => Ok(one.clone()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    let meta = &placeholder.metadata;
    let labels = meta.labels.clone().unwrap();
    assert_eq!(
        labels["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(labels["team"], "a", "the Service's labels are copied");
    assert_eq!(meta.generate_name.as_deref(), Some("web-"));
    assert_eq!(placeholder.address_type, "IPv4");
    let owner = &meta.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("Service", "web", svc.metadata.uid.as_deref().unwrap())
    );
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    wait_mirror(
        &server,
        &apis,
        "web",
        &[],
        &[],
        "an Endpoints object without addresses",
    )
    .await;

    apis.run_pod(
        "p1",
        "web",
        json!([{"name": "http", "containerPort": 8080}]),
        "10.244.1.5",
        true,
    )
    .await;
    wait_conditions(
        &server,
        &apis,
        "web",
        &[("p1", READY)],
        "a ready pod is a ready endpoint",
    )
    .await;
    let slices = apis.slices_of("web").await;
    assert_eq!(slices.len(), 1, "the empty slice took the endpoint");
    let ep = &slices[0].endpoints.as_ref().unwrap()[0];
    assert_eq!(ep.addresses, ["10.244.1.5"]);
    assert_eq!(ep.node_name.as_deref(), Some("node-1"));
    assert_eq!(ep.zone.as_deref(), Some("zone-a"), "from the Node's label");
    let target = ep.target_ref.clone().unwrap();
    let pod = apis.pods.get("p1").await.unwrap();
    assert_eq!(
        (target.kind.as_deref(), target.name.as_deref(), target.uid),
        (Some("Pod"), Some("p1"), pod.metadata.uid)
    );
    let port = &slices[0].ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port, port.protocol.as_deref()),
        (Some("http"), Some(8080), Some("TCP"))
    );
    wait_mirror(
        &server,
        &apis,
        "web",
        &["10.244.1.5"],
        &[],
        "the mirror lists a ready pod",
    )
    .await;

    apis.report("p1", "10.244.1.5", false).await;
    wait_conditions(
        &server,
        &apis,
        "web",
        &[("p1", NOT_READY)],
        "a pod that stops being ready",
    )
    .await;
    wait_mirror(
        &server,
        &apis,
        "web",
        &[],
        &["10.244.1.5"],
        "the mirror lists it not ready",
    )
    .await;

    apis.report("p1", "10.244.1.5", true).await;
    wait_conditions(&server, &apis, "web", &[("p1", READY)], "ready again").await;

    // Bound and running: deleting it makes it terminating, not gone.
    apis.pods
        .delete("p1", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        apis.pods
            .get("p1")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    wait_conditions(
        &server,
        &apis,
        "web",
        &[("p1", (false, true, true))],
        "a terminating pod: serving, not ready",
    )
    .await;
    wait_mirror(
        &server,
        &apis,
        "web",
        &[],
        &[],
        "the mirror leaves terminating pods out",
    )
    .await;
    apis.report("p1", "10.244.1.5", false).await;
    wait_conditions(
        &server,
        &apis,
        "web",
        &[("p1", (false, false, true))],
        "serving follows the terminating pod's Ready condition",
    )
    .await;

    // The kubelet confirms: the pod goes, its endpoint too.
    apis.pods
        .delete("p1", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    wait_for(
        &server,
        "the endpoint goes with its pod, the empty slice stays",
        async || {
            let slices = apis.slices_of("web").await;
            let empty = slices.len() == 1 && conditions(&slices).is_empty();
            if empty {
                Ok(())
            } else {
                Err(format!("{slices:?}"))
            }
        },
    )
    .await;

    apis.services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        &server,
        "a deleted Service's slices and Endpoints go",
        async || {
            let slices = apis.slices_of("web").await;
            let endpoints = apis.endpoints.get_opt("web").await.unwrap();
            if slices.is_empty() && endpoints.is_none() {
                Ok(())
            } else {
                Err(format!("{slices:?} {endpoints:?}"))
            }
        },
    )
    .await;
    // The API server's own endpoints are left to it.
    assert!(
        apis.endpoints
            .get_opt("kubernetes")
            .await
            .unwrap()
            .is_some()
    );
}

fn sizes(slices: &[EndpointSlice]) -> Vec<usize> {
    let mut s: Vec<usize> = slices
        .iter()
        .map(|s| s.endpoints.as_ref().map_or(0, Vec::len))
        .collect();
    s.sort();
    s
}

#[tokio::test]
async fn two_hundred_fifty_pods_make_three_slices_that_stay_put() {
    let mut server = Server::start();
    let apis = Apis::of(&server).await;
    let ip = |i: usize| format!("10.244.{}.{}", i / 200, i % 200 + 1);
    stream::iter(0..250)
        .map(|i| {
            let apis = &apis;
            let ip = ip(i);
            async move {
                apis.run_pod(&format!("p-{i:03}"), "big", json!([]), &ip, true)
                    .await;
                Ok::<_, ()>(())
            }
        })
        .buffer_unordered(8)
        .try_collect::<()>()
        .await
        .unwrap();
    // The Service comes last, so that its first sync sees every pod: the
    // layout of endpoints that arrive one by one depends on their order.
    apis.service(json!({
        "metadata": {"name": "big"},
        "spec": {"selector": {"app": "big"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }))
    .await;
    let slices = wait_for(
        &server,
        "250 endpoints in slices of 100, 100 and 50",
        async || {
            let slices = apis.slices_of("big").await;
            let ready = conditions(&slices)
                .values()
                .filter(|c| **c == READY)
                .count();
            if sizes(&slices) == [50, 100, 100] && ready == 250 {
                Ok(slices)
            } else {
                Err(format!("sizes {:?}, {ready} ready", sizes(&slices)))
            }
        },
    )
    .await;
    wait_for(&server, "the mirror lists all 250", async || {
        let (ready, not_ready) = mirrored(&apis, "big").await?;
        if ready.len() == 250 && not_ready.is_empty() {
            Ok(())
        } else {
            Err(format!("{} ready, {} not", ready.len(), not_ready.len()))
        }
    })
    .await;
    let versions = |slices: &[EndpointSlice]| -> BTreeMap<String, (String, usize)> {
        slices
            .iter()
            .map(|s| {
                let n = s.endpoints.as_ref().map_or(0, Vec::len);
                (
                    s.metadata.name.clone().unwrap(),
                    (s.metadata.resource_version.clone().unwrap(), n),
                )
            })
            .collect()
    };
    let before = versions(&slices);

    // A new process syncs everything again from its own first lists; then
    // one more pod. It joins the slice with room, and the others are not
    // written: nothing else changed.
    server.kill_and_restart();
    let apis = Apis::of(&server).await;
    apis.run_pod("p-new", "big", json!([]), "10.244.9.9", true)
        .await;
    let after = wait_for(&server, "the new pod joins the slice of 50", async || {
        let slices = apis.slices_of("big").await;
        if sizes(&slices) == [51, 100, 100] {
            Ok(versions(&slices))
        } else {
            Err(format!("sizes {:?}", sizes(&slices)))
        }
    })
    .await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "no slice created or deleted"
    );
    for (name, (rv, n)) in &before {
        if *n == 100 {
            assert_eq!(&after[name].0, rv, "the full slice {name} was rewritten");
        }
    }
}

#[tokio::test]
async fn publish_not_ready_addresses_makes_every_pod_ready() {
    let server = Server::start();
    let apis = Apis::of(&server).await;
    apis.service(json!({
        "metadata": {"name": "peers"},
        "spec": {"selector": {"app": "peers"}, "clusterIP": "None", "publishNotReadyAddresses": true,
                 "ports": [{"name": "gossip", "port": 7000}]},
    }))
    .await;
    apis.run_pod("a", "peers", json!([]), "10.244.2.1", false)
        .await;
    apis.run_pod("b", "peers", json!([]), "10.244.2.2", true)
        .await;
    // Ready whatever the pod says; serving is the pod's own Ready condition.
    wait_conditions(
        &server,
        &apis,
        "peers",
        &[("a", (true, false, false)), ("b", READY)],
        "every pod ready",
    )
    .await;
    wait_mirror(
        &server,
        &apis,
        "peers",
        &["10.244.2.1", "10.244.2.2"],
        &[],
        "the mirror: all ready",
    )
    .await;
    let slices = apis.slices_of("peers").await;
    let labels = slices[0].metadata.labels.clone().unwrap();
    assert_eq!(labels["service.kubernetes.io/headless"], "");

    apis.pods
        .delete("b", &DeleteParams::default())
        .await
        .unwrap();
    wait_conditions(
        &server,
        &apis,
        "peers",
        &[("a", (true, false, false)), ("b", (true, true, true))],
        "a terminating pod stays ready",
    )
    .await;
    wait_mirror(
        &server,
        &apis,
        "peers",
        &["10.244.2.1", "10.244.2.2"],
        &[],
        "the mirror keeps a terminating pod",
    )
    .await;
}

#[tokio::test]
async fn named_target_ports_resolve_per_pod() {
    let server = Server::start();
    let apis = Apis::of(&server).await;
    apis.service(json!({
        "metadata": {"name": "named"},
        "spec": {"selector": {"app": "named"},
                 "ports": [{"name": "http", "port": 80, "targetPort": "web"}]},
    }))
    .await;
    apis.run_pod(
        "a",
        "named",
        json!([{"name": "web", "containerPort": 8080}]),
        "10.244.3.1",
        true,
    )
    .await;
    apis.run_pod(
        "b",
        "named",
        json!([{"name": "web", "containerPort": 8081}]),
        "10.244.3.2",
        true,
    )
    .await;
    apis.run_pod(
        "c",
        "named",
        json!([{"name": "admin", "containerPort": 9000}]),
        "10.244.3.3",
        true,
    )
    .await;
    // One slice per port set: a pod without the port is in the port-less one.
    let shape = async || {
        let mut got: Vec<(Vec<i32>, Vec<String>)> = apis
            .slices_of("named")
            .await
            .iter()
            .map(|s| {
                let ports = s.ports.iter().flatten().filter_map(|p| p.port).collect();
                let names = conditions(std::slice::from_ref(s)).into_keys().collect();
                (ports, names)
            })
            .collect();
        got.sort();
        got
    };
    let want = vec![
        (vec![], vec!["c".to_owned()]),
        (vec![8080], vec!["a".to_owned()]),
        (vec![8081], vec!["b".to_owned()]),
    ];
    wait_for(&server, "a slice per resolved port", async || {
        let got = shape().await;
        if got == want {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    wait_for(
        &server,
        "the mirror: a subset per port, c left out",
        async || {
            let e = apis
                .endpoints
                .get_opt("named")
                .await
                .unwrap()
                .ok_or("none")?;
            let mut got: Vec<(Vec<i32>, Vec<String>)> = e
                .subsets
                .iter()
                .flatten()
                .map(|s| {
                    (
                        s.ports.iter().flatten().map(|p| p.port).collect(),
                        ips(&s.addresses),
                    )
                })
                .collect();
            got.sort();
            let want = vec![
                (vec![8080], vec!["10.244.3.1".to_owned()]),
                (vec![8081], vec!["10.244.3.2".to_owned()]),
            ];
            if got == want {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        },
    )
    .await;

    // Relabelled away from the Service: its endpoint (and slice) go.
    let away = json!({"metadata": {"labels": {"app": "elsewhere"}}});
    apis.pods
        .patch("b", &PatchParams::default(), &Patch::Merge(away))
        .await
        .unwrap();
    let want = vec![
        (vec![], vec!["c".to_owned()]),
        (vec![8080], vec!["a".to_owned()]),
    ];
    wait_for(&server, "a pod no longer selected leaves", async || {
        let got = shape().await;
        if got == want {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
}
