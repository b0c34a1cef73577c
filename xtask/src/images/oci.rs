//! An OCI image layout as one tar (`oci-layout`, `index.json`,
//! `blobs/sha256/…`): what `ctr images import` reads. One gzip layer, a
//! config for linux/amd64, a manifest, and the image's name in the
//! `io.containerd.image.name` annotation of the index entry.

use std::io::Write as _;

use anyhow::Result;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::layer::Layer;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

pub struct Image<'a> {
    /// Fully qualified (`localhost/skiff/pause:1`): short names would be
    /// read as docker.io ones.
    pub name: &'a str,
    pub entrypoint: &'a [&'a str],
    pub cmd: &'a [&'a str],
    pub env: &'a [&'a str],
    pub layer: Layer,
}

fn sha256(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for b in digest.iter() {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

fn descriptor(media_type: &str, blob: &[u8]) -> Value {
    json!({ "mediaType": media_type, "digest": sha256(blob), "size": blob.len() })
}

/// The archive's bytes; the same image always gives the same bytes.
pub fn archive(image: &Image) -> Result<Vec<u8>> {
    let tar = image.layer.tar()?;
    // flate2 writes mtime 0 and no file name into the gzip header.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar)?;
    let layer = gz.finish()?;

    // Empty lists are left out: an image without them has none.
    let mut run = json!({ "WorkingDir": "/" });
    for (key, list) in [
        ("Entrypoint", image.entrypoint),
        ("Cmd", image.cmd),
        ("Env", image.env),
    ] {
        if !list.is_empty() {
            run[key] = json!(list);
        }
    }
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2000-01-01T00:00:00Z",
        "config": run,
        "rootfs": { "type": "layers", "diff_ids": [sha256(&tar)] },
        "history": [{ "created": "2000-01-01T00:00:00Z", "created_by": "cargo xtask build" }],
    }))?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": descriptor(CONFIG, &config),
        "layers": [descriptor(LAYER, &layer)],
    }))?;
    let tag = image.name.rsplit_once(':').map_or("latest", |(_, t)| t);
    let mut entry = descriptor(MANIFEST, &manifest);
    entry["annotations"] = json!({
        "io.containerd.image.name": image.name,
        "org.opencontainers.image.ref.name": tag,
    });
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry],
    }))?;

    let mut out = Layer::default();
    out.file(
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        0o644,
    )
    .file("index.json", index, 0o644);
    for blob in [layer, config, manifest] {
        let digest = sha256(&blob);
        let hex = digest.trim_start_matches("sha256:");
        out.file(&format!("blobs/sha256/{hex}"), blob, 0o644);
    }
    out.tar()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Image<'static> {
        let mut layer = Layer::default();
        layer
            .file("/bin/tool", b"#!/bin/sh\n".to_vec(), 0o755)
            .symlink("/bin/sh", "tool");
        Image {
            name: "localhost/test/tool:1",
            entrypoint: &["/bin/tool"],
            cmd: &[],
            env: &[],
            layer,
        }
    }

    #[test]
    fn the_same_image_gives_the_same_bytes() {
        assert_eq!(archive(&image()).unwrap(), archive(&image()).unwrap());
    }

    #[test]
    fn blobs_are_named_by_digest_and_the_index_names_the_image() {
        let bytes = archive(&image()).unwrap();
        let mut tar = tar::Archive::new(bytes.as_slice());
        let mut index = None;
        let mut blobs = 0;
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            if let Some(hex) = path.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
                assert_eq!(sha256(&data), format!("sha256:{hex}"));
                blobs += 1;
            } else if path == "index.json" {
                index = Some(serde_json::from_slice::<Value>(&data).unwrap());
            }
        }
        assert_eq!(blobs, 3, "layer, config and manifest");
        let index = index.expect("an index.json");
        assert_eq!(
            index["manifests"][0]["annotations"]["io.containerd.image.name"],
            "localhost/test/tool:1"
        );
    }
}
