//! Services and EndpointSlices (and Nodes, for pod routing) read from a
//! directory of YAML or JSON manifests,
//! in the form an API server returns them (`kubectl get -o yaml` output works,
//! `kind: List` included). The directory is re-read when any file changes; a
//! file that does not parse keeps the last good view in force.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use serde::Deserialize as _;
use tracing::{error, info};

use k8s_openapi::api::core::v1::Node;

use super::{NodeSender, Objects, Snapshots, latest, nodes};

/// What a directory holds: the objects Service balancing reads, and Nodes.
#[derive(Debug, Default)]
pub struct Parsed {
    pub objects: Objects,
    pub nodes: Vec<Node>,
}

const POLL: Duration = Duration::from_millis(100);

/// With `node_tx`, the Nodes found are published there too.
pub fn spawn_manifests(dir: PathBuf, node_tx: Option<NodeSender>) -> anyhow::Result<Snapshots> {
    anyhow::ensure!(
        dir.is_dir(),
        "manifest directory {} does not exist",
        dir.display()
    );
    let (tx, rx) = latest();
    tokio::spawn(async move {
        let mut seen = None;
        loop {
            match fingerprint(&dir) {
                Ok(fp) if Some(&fp) != seen.as_ref() => {
                    match read_dir_objects(&dir) {
                        Ok(Parsed { objects, nodes }) => {
                            info!(
                                services = objects.services.len(),
                                slices = objects.slices.len(),
                                nodes = nodes.len(),
                                dir = %dir.display(),
                                "manifests read"
                            );
                            if let Some(node_tx) = &node_tx {
                                nodes::publish(node_tx, nodes.iter());
                            }
                            if !tx.put(objects) {
                                return;
                            }
                        }
                        Err(e) => error!("{e:#}; keeping the previous objects"),
                    }
                    seen = Some(fp);
                }
                Ok(_) => {}
                Err(e) => error!("reading {}: {e:#}", dir.display()),
            }
            tokio::time::sleep(POLL).await;
        }
    });
    Ok(rx)
}

fn manifest_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if matches!(ext, "yaml" | "yml" | "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn fingerprint(dir: &Path) -> anyhow::Result<Vec<(PathBuf, SystemTime, u64)>> {
    manifest_files(dir)?
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p)?;
            Ok((p, m.modified()?, m.len()))
        })
        .collect()
}

fn read_dir_objects(dir: &Path) -> anyhow::Result<Parsed> {
    let mut all = Parsed::default();
    for path in manifest_files(dir)? {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let json = path.extension().is_some_and(|e| e == "json");
        let parsed = if json {
            parse_json(&text)
        } else {
            parse_manifests(&text)
        }
        .with_context(|| format!("in {}", path.display()))?;
        all.objects.services.extend(parsed.objects.services);
        all.objects.slices.extend(parsed.objects.slices);
        all.nodes.extend(parsed.nodes);
    }
    Ok(all)
}

/// Parses a (multi-document) manifest. Kinds other than Service,
/// EndpointSlice and Node are ignored; a malformed one of those is an error
/// that names the document.
pub fn parse_manifests(text: &str) -> anyhow::Result<Parsed> {
    let mut objects = Parsed::default();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value =
            serde_yaml::Value::deserialize(doc).with_context(|| format!("document {}", i + 1))?;
        if value.is_null() {
            continue;
        }
        add_object(&mut objects, value).with_context(|| format!("document {}", i + 1))?;
    }
    Ok(objects)
}

/// One JSON object (a `List` for many). Items are typed one by one, straight
/// from the text: a dump of 10,000 Services never exists as a generic tree.
pub fn parse_json(text: &str) -> anyhow::Result<Parsed> {
    #[derive(serde::Deserialize)]
    struct Kind<'a> {
        #[serde(borrow, default)]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    #[derive(serde::Deserialize)]
    struct List<'a> {
        #[serde(borrow)]
        items: Vec<&'a serde_json::value::RawValue>,
    }
    fn add(parsed: &mut Parsed, text: &str) -> anyhow::Result<()> {
        let kind: Kind = serde_json::from_str(text).context("invalid JSON")?;
        let objects = &mut parsed.objects;
        match kind.kind.as_deref().unwrap_or_default() {
            "Service" => objects.services.push(Arc::new(
                serde_json::from_str(text).context("invalid Service")?,
            )),
            "EndpointSlice" => objects.slices.push(Arc::new(
                serde_json::from_str(text).context("invalid EndpointSlice")?,
            )),
            "Node" => parsed
                .nodes
                .push(serde_json::from_str(text).context("invalid Node")?),
            k if k.ends_with("List") => {
                let list: List =
                    serde_json::from_str(text).with_context(|| format!("invalid {k}"))?;
                for (i, item) in list.items.iter().enumerate() {
                    add(parsed, item.get()).with_context(|| format!("item {i}"))?;
                }
            }
            "" => bail!("object without kind"),
            _ => {}
        }
        Ok(())
    }
    let mut parsed = Parsed::default();
    add(&mut parsed, text)?;
    Ok(parsed)
}

fn add_object(parsed: &mut Parsed, value: serde_yaml::Value) -> anyhow::Result<()> {
    let objects = &mut parsed.objects;
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_owned();
    match kind.as_str() {
        "Service" => objects.services.push(Arc::new(
            serde_yaml::from_value(value).context("invalid Service")?,
        )),
        "EndpointSlice" => objects.slices.push(Arc::new(
            serde_yaml::from_value(value).context("invalid EndpointSlice")?,
        )),
        "Node" => parsed
            .nodes
            .push(serde_yaml::from_value(value).context("invalid Node")?),
        k if k.ends_with("List") => {
            let Some(items) = value.get("items").and_then(|i| i.as_sequence()) else {
                bail!("{k} without items");
            };
            for item in items.clone() {
                add_object(parsed, item)?;
            }
        }
        "" => bail!("object without kind"),
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_multi_document_and_lists() {
        let text = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{port: 80, protocol: TCP}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
---
apiVersion: v1
kind: List
items:
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
  addressType: IPv4
  endpoints: [{addresses: [10.0.0.1]}]
  ports: [{port: 8080, protocol: TCP}]
"#;
        let o = parse_manifests(text).unwrap().objects;
        assert_eq!(o.services.len(), 1);
        assert_eq!(o.slices.len(), 1);
        assert_eq!(
            o.slices[0].endpoints.as_ref().unwrap()[0].addresses,
            vec!["10.0.0.1".to_string()]
        );
    }

    #[test]
    fn json_lists_are_typed_item_by_item() {
        let text = r#"{"kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"clusterIP": "10.96.0.1"}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ignored"}},
            {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "a-1"}, "addressType": "IPv4", "endpoints": []}
        ]}"#;
        let o = parse_json(text).unwrap().objects;
        assert_eq!((o.services.len(), o.slices.len()), (1, 1));
        let err = format!(
            "{:#}",
            parse_json(r#"{"kind": "List", "items": [{"kind": "Service", "spec": 7}]}"#)
                .unwrap_err()
        );
        assert!(
            err.contains("item 0") && err.contains("invalid Service"),
            "{err}"
        );
    }

    #[test]
    fn a_malformed_object_names_its_document() {
        let text = "kind: Service\nmetadata: {name: a}\n---\nkind: EndpointSlice\naddressType: [not, a, string]\n";
        let err = format!("{:#}", parse_manifests(text).unwrap_err());
        assert!(
            err.contains("document 2") && err.contains("invalid EndpointSlice"),
            "{err}"
        );
    }
}
