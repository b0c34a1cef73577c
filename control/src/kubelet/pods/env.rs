//! A container's environment as upstream's kubelet builds it: `envFrom`,
//! then `env` (values with `$(VAR)` expanded against what came before,
//! ConfigMap and Secret keys, the downward API), then the Service variables.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::{ConfigMap, Container, ObjectFieldSelector, Pod, Secret, Service};
use kube::api::{Api, ListParams};

use super::expand::expand;
use super::resources;
use crate::kubelet::Ctx;

/// The environment of `container`, in order.
pub async fn build(
    ctx: &Ctx,
    pod: &Pod,
    container: &Container,
    pod_ips: &[String],
) -> anyhow::Result<Vec<(String, String)>> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |env: &mut Vec<(String, String)>, k: String, v: String| match env
        .iter_mut()
        .find(|(name, _)| *name == k)
    {
        Some(slot) => slot.1 = v,
        None => env.push((k, v)),
    };
    let links = pod.spec.as_ref().and_then(|s| s.enable_service_links) != Some(false);
    for (k, v) in service_env(ctx, &ns, links).await? {
        set(&mut env, k, v);
    }
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            let optional = r.optional == Some(true);
            if let Some(data) = config_map(ctx, &ns, &r.name, optional).await? {
                for (k, v) in data {
                    set(&mut env, format!("{prefix}{k}"), v);
                }
            }
        }
        if let Some(r) = &from.secret_ref {
            let optional = r.optional == Some(true);
            if let Some(data) = secret(ctx, &ns, &r.name, optional).await? {
                for (k, v) in data {
                    set(&mut env, format!("{prefix}{k}"), v);
                }
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (_, Some(from)) => {
                if let Some(f) = &from.field_ref {
                    Some(field(ctx, pod, f, pod_ips)?)
                } else if let Some(r) = &from.resource_field_ref {
                    Some(resources::field_value(ctx, pod, container, r)?)
                } else if let Some(r) = &from.config_map_key_ref {
                    let optional = r.optional == Some(true);
                    let data = config_map(ctx, &ns, &r.name, optional).await?;
                    key(data, &r.key, optional, "configmap", &r.name)?
                } else if let Some(r) = &from.secret_key_ref {
                    let optional = r.optional == Some(true);
                    let data = secret(ctx, &ns, &r.name, optional).await?;
                    key(data, &r.key, optional, "secret", &r.name)?
                } else {
                    None
                }
            }
            (Some(v), None) => {
                let known: BTreeMap<_, _> = env.iter().cloned().collect();
                Some(expand(v, &known))
            }
            (None, None) => Some(String::new()),
        };
        if let Some(v) = value {
            set(&mut env, var.name.clone(), v);
        }
    }
    Ok(env)
}

fn key(
    data: Option<BTreeMap<String, String>>,
    key: &str,
    optional: bool,
    kind: &str,
    name: &str,
) -> anyhow::Result<Option<String>> {
    match data.and_then(|mut d| d.remove(key)) {
        Some(v) => Ok(Some(v)),
        None if optional => Ok(None),
        None => bail!("couldn't find key {key} in {kind} {name}"),
    }
}

/// A ConfigMap's keys as text (binaryData as UTF-8, lossily: for env).
pub async fn config_map(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    optional: bool,
) -> anyhow::Result<Option<BTreeMap<String, String>>> {
    Ok(config_map_bytes(ctx, ns, name, optional).await?.map(lossy))
}

/// A ConfigMap's keys as bytes, binaryData included: for volumes.
pub async fn config_map_bytes(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    optional: bool,
) -> anyhow::Result<Option<BTreeMap<String, Vec<u8>>>> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    match api.get_opt(name).await.context("reading a ConfigMap")? {
        Some(cm) => {
            let mut out: BTreeMap<String, Vec<u8>> = cm
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            for (k, v) in cm.binary_data.unwrap_or_default() {
                out.insert(k, v.0);
            }
            Ok(Some(out))
        }
        None if optional => Ok(None),
        None => bail!("configmap \"{name}\" not found"),
    }
}

/// A Secret's keys as text (for env).
pub async fn secret(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    optional: bool,
) -> anyhow::Result<Option<BTreeMap<String, String>>> {
    Ok(secret_bytes(ctx, ns, name, optional).await?.map(lossy))
}

/// A Secret's keys as bytes, as they are (for volumes: keystores, DER keys).
pub async fn secret_bytes(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    optional: bool,
) -> anyhow::Result<Option<BTreeMap<String, Vec<u8>>>> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    match api.get_opt(name).await.context("reading a Secret")? {
        Some(s) => {
            let mut out: BTreeMap<String, Vec<u8>> = s
                .string_data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            for (k, v) in s.data.unwrap_or_default() {
                out.insert(k, v.0);
            }
            Ok(Some(out))
        }
        None if optional => Ok(None),
        None => bail!("secret \"{name}\" not found"),
    }
}

fn lossy(map: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    map.into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

/// The downward API's fields.
pub fn field(
    ctx: &Ctx,
    pod: &Pod,
    f: &ObjectFieldSelector,
    pod_ips: &[String],
) -> anyhow::Result<String> {
    let m = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let path = f.field_path.as_str();
    let indexed = |prefix: &str, map: &Option<BTreeMap<String, String>>| -> Option<String> {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(
            map.as_ref()
                .and_then(|m| m.get(key))
                .cloned()
                .unwrap_or_default(),
        )
    };
    if let Some(v) = indexed("metadata.labels['", &m.labels) {
        return Ok(v);
    }
    if let Some(v) = indexed("metadata.annotations['", &m.annotations) {
        return Ok(v);
    }
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "metadata.labels" => render_map(&m.labels),
        "metadata.annotations" => render_map(&m.annotations),
        "spec.nodeName" => spec.node_name.unwrap_or_default(),
        "spec.serviceAccountName" => spec.service_account_name.unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => ctx.cfg.node_ip.to_string(),
        "status.podIP" => pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => pod_ips.join(","),
        other => bail!("unsupported fieldRef {other}"),
    })
}

/// `key="value"` lines, as the downward API writes labels and annotations.
pub fn render_map(map: &Option<BTreeMap<String, String>>) -> String {
    map.iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Docker-link-style variables of the namespace's Services (with `links`),
/// and always of the `kubernetes` Service, which in-cluster clients look
/// for: as upstream's kubelet sets them.
async fn service_env(ctx: &Ctx, ns: &str, links: bool) -> anyhow::Result<Vec<(String, String)>> {
    let mut services: Vec<Service> = Vec::new();
    if links {
        services = Api::<Service>::namespaced(ctx.client.clone(), ns)
            .list(&ListParams::default())
            .await
            .context("listing Services for the pod's environment")?
            .items;
    }
    if (ns != "default" || !links)
        && let Some(k) = Api::<Service>::namespaced(ctx.client.clone(), "default")
            .get_opt("kubernetes")
            .await?
    {
        services.push(k);
    }
    let mut out = Vec::new();
    for svc in services {
        let Some(spec) = svc.spec else { continue };
        let ip = spec.cluster_ip.unwrap_or_default();
        if ip.is_empty() || ip == "None" {
            continue;
        }
        let name = svc
            .metadata
            .name
            .unwrap_or_default()
            .to_uppercase()
            .replace('-', "_");
        let ports = spec.ports.unwrap_or_default();
        let Some(first) = ports.first() else { continue };
        out.push((format!("{name}_SERVICE_HOST"), ip.clone()));
        out.push((format!("{name}_SERVICE_PORT"), first.port.to_string()));
        for p in &ports {
            if let Some(pn) = &p.name {
                out.push((
                    format!(
                        "{name}_SERVICE_PORT_{}",
                        pn.to_uppercase().replace('-', "_")
                    ),
                    p.port.to_string(),
                ));
            }
        }
        let proto = |p: &k8s_openapi::api::core::v1::ServicePort| {
            p.protocol.clone().unwrap_or_else(|| "TCP".into())
        };
        out.push((
            format!("{name}_PORT"),
            format!("{}://{ip}:{}", proto(first).to_lowercase(), first.port),
        ));
        for p in &ports {
            let prefix = format!("{name}_PORT_{}_{}", p.port, proto(p));
            out.push((
                prefix.clone(),
                format!("{}://{ip}:{}", proto(p).to_lowercase(), p.port),
            ));
            out.push((format!("{prefix}_PROTO"), proto(p).to_lowercase()));
            out.push((format!("{prefix}_PORT"), p.port.to_string()));
            out.push((format!("{prefix}_ADDR"), ip.clone()));
        }
    }
    Ok(out)
}
