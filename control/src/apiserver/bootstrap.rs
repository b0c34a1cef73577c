//! What every cluster has from its first start: the system namespaces and
//! the `kubernetes` Service in `default`, whose endpoints are this API
//! server. Run at every start: missing objects are created, the endpoints
//! follow the server's address, and Service address claims left by a crash
//! are freed.

use std::net::SocketAddr;

use anyhow::Context as _;
use serde_json::{Value, json};

use super::allocate::Allocator;
use super::defaults;
use super::resources::{prepare_create, served};
use crate::store::{Error as StoreError, Store};

pub const NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Creates `obj` at `key` unless something is there; returns what is there.
async fn ensure(
    store: &dyn Store,
    key: &str,
    kind: &str,
    mut obj: Value,
    namespace: Option<&str>,
) -> anyhow::Result<Value> {
    if let Some(kv) = store.get(key).await? {
        return Ok(served(&kv));
    }
    prepare_create(kind, &mut obj, namespace).map_err(|e| anyhow::anyhow!("{e}"))?;
    defaults::apply(kind, &mut obj);
    defaults::on_create(kind, &mut obj);
    match store.create(key, obj.to_string().into_bytes()).await {
        Ok(kv) => Ok(served(&kv)),
        // Another API server got there first.
        Err(StoreError::AlreadyExists) => {
            Ok(store.get(key).await?.map(|kv| served(&kv)).unwrap_or(obj))
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes `obj`'s `fields` over what is at `key` when they differ.
async fn converge(
    store: &dyn Store,
    key: &str,
    kind: &str,
    obj: Value,
    fields: &[&str],
) -> anyhow::Result<()> {
    let current = ensure(store, key, kind, obj.clone(), Some("default")).await?;
    if fields.iter().all(|f| current[f] == obj[f]) {
        return Ok(());
    }
    let rv: i64 = current["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let mut next = current.clone();
    for f in fields {
        next[f] = obj[f].clone();
    }
    if let Some(m) = next["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    match store.update(key, next.to_string().into_bytes(), rv).await {
        Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub async fn run(
    store: &dyn Store,
    allocator: &Allocator,
    advertise: SocketAddr,
) -> anyhow::Result<()> {
    for ns in NAMESPACES {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        ensure(
            store,
            &format!("/registry/core/namespaces/{ns}"),
            "Namespace",
            obj,
            None,
        )
        .await
        .with_context(|| format!("creating namespace {ns}"))?;
    }
    // Claims in line with the Services before the first allocation.
    allocator.repair(&mut Default::default()).await?;

    let key = "/registry/core/services/default/kubernetes";
    if store.get(key).await?.is_none() {
        let mut svc = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": allocator.first_ip().to_string(),
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": advertise.port()}]},
        });
        prepare_create("Service", &mut svc, Some("default")).map_err(|e| anyhow::anyhow!("{e}"))?;
        defaults::apply("Service", &mut svc);
        defaults::on_create("Service", &mut svc);
        allocator.assign(&mut svc, None).await.map_err(|e| {
            anyhow::anyhow!("allocating the kubernetes Service's address: {}", e[0])
        })?;
        if let Err(e) = store.create(key, svc.to_string().into_bytes()).await {
            allocator.release_unused(&svc, None).await;
            if !matches!(e, StoreError::AlreadyExists) {
                return Err(e.into());
            }
        }
    }

    let ip = advertise.ip().to_string();
    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes"},
        "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "https", "port": advertise.port(), "protocol": "TCP"}]}],
    });
    converge(
        store,
        "/registry/core/endpoints/default/kubernetes",
        "Endpoints",
        endpoints,
        &["subsets"],
    )
    .await?;
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": if advertise.is_ipv4() { "IPv4" } else { "IPv6" },
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": advertise.port(), "protocol": "TCP"}],
    });
    converge(
        store,
        "/registry/discovery.k8s.io/endpointslices/default/kubernetes",
        "EndpointSlice",
        slice,
        &["addressType", "endpoints", "ports"],
    )
    .await?;
    Ok(())
}
