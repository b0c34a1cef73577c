//! Pod volumes on the node: emptyDir, hostPath, configMap, secret,
//! downwardAPI and projected (with the service-account token), each a
//! directory under `<root>/pods/<uid>/volumes` that containers mount.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::{
    DownwardAPIVolumeFile, KeyToPath, Pod, ServiceAccount, Volume, VolumeMount,
};
use kube::api::{Api, PostParams};

use super::env;
use crate::kubelet::Ctx;

const DEFAULT_MODE: u32 = 0o644;
const TOKEN_SECONDS: i64 = 3607;

pub fn pod_dir(ctx: &Ctx, uid: &str) -> PathBuf {
    ctx.cfg.pods_root().join(uid)
}

/// A volume ready on the node.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub path: PathBuf,
    /// Written by the kubelet (configMap, secret, downwardAPI, projected):
    /// containers always mount it read-only, as upstream's do.
    pub read_only: bool,
}

/// The pod's volumes by name, written (or refreshed) now.
pub async fn prepare(
    ctx: &Ctx,
    pod: &Pod,
    pod_ips: &[String],
) -> anyhow::Result<HashMap<String, Prepared>> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let base = pod_dir(ctx, &uid).join("volumes");
    let mut out = HashMap::new();
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let path = one(ctx, pod, v, &base, pod_ips)
            .await
            .with_context(|| format!("MountVolume.SetUp failed for volume \"{}\"", v.name))?;
        let read_only = v.config_map.is_some()
            || v.secret.is_some()
            || v.downward_api.is_some()
            || v.projected.is_some();
        out.insert(v.name.clone(), Prepared { path, read_only });
    }
    Ok(out)
}

async fn one(
    ctx: &Ctx,
    pod: &Pod,
    v: &Volume,
    base: &Path,
    pod_ips: &[String],
) -> anyhow::Result<PathBuf> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let dir = |kind: &str| base.join(kind).join(&v.name);
    if let Some(hp) = &v.host_path {
        return host_path(&hp.path, hp.type_.as_deref().unwrap_or(""));
    }
    if let Some(ed) = &v.empty_dir {
        let d = dir("empty-dir");
        std::fs::create_dir_all(&d)?;
        if ed.medium.as_deref() == Some("Memory") && !mounted(&d) {
            let size = ed
                .size_limit
                .as_ref()
                .and_then(|q| crate::scheduler::resources::parse(&q.0, 0))
                .map(|bytes| format!("size={bytes}"));
            nix::mount::mount(
                Some("tmpfs"),
                &d,
                Some("tmpfs"),
                nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
                size.as_deref(),
            )
            .with_context(|| format!("mounting a tmpfs at {}", d.display()))?;
        }
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777))?;
        return Ok(d);
    }
    let mut files: BTreeMap<String, (Vec<u8>, u32)> = BTreeMap::new();
    let d;
    if let Some(cm) = &v.config_map {
        d = dir("configmap");
        let data = env::config_map_bytes(ctx, &ns, &cm.name, cm.optional == Some(true)).await?;
        add_keys(
            &mut files,
            data,
            &cm.items,
            cm.default_mode,
            cm.optional == Some(true),
            "configmap",
            &cm.name,
        )?;
    } else if let Some(s) = &v.secret {
        d = dir("secret");
        let name = s.secret_name.clone().unwrap_or_default();
        let data = env::secret_bytes(ctx, &ns, &name, s.optional == Some(true)).await?;
        add_keys(
            &mut files,
            data,
            &s.items,
            s.default_mode.or(Some(0o644)),
            s.optional == Some(true),
            "secret",
            &name,
        )?;
    } else if let Some(da) = &v.downward_api {
        d = dir("downward-api");
        add_downward(
            ctx,
            pod,
            &mut files,
            da.items.iter().flatten(),
            da.default_mode,
            pod_ips,
        )?;
    } else if let Some(p) = &v.projected {
        d = dir("projected");
        for source in p.sources.iter().flatten() {
            if let Some(cm) = &source.config_map {
                let opt = cm.optional == Some(true);
                let data = env::config_map_bytes(ctx, &ns, &cm.name, opt).await?;
                add_keys(
                    &mut files,
                    data,
                    &cm.items,
                    p.default_mode,
                    opt,
                    "configmap",
                    &cm.name,
                )?;
            }
            if let Some(s) = &source.secret {
                let opt = s.optional == Some(true);
                let data = env::secret_bytes(ctx, &ns, &s.name, opt).await?;
                add_keys(
                    &mut files,
                    data,
                    &s.items,
                    p.default_mode,
                    opt,
                    "secret",
                    &s.name,
                )?;
            }
            if let Some(da) = &source.downward_api {
                add_downward(
                    ctx,
                    pod,
                    &mut files,
                    da.items.iter().flatten(),
                    p.default_mode,
                    pod_ips,
                )?;
            }
            if let Some(t) = &source.service_account_token {
                let token = token(ctx, pod, t.audience.clone(), t.expiration_seconds).await?;
                files.insert(t.path.clone(), (token.into_bytes(), mode(p.default_mode)));
            }
        }
    } else {
        bail!(
            "this volume type is not supported by this kubelet (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected)"
        );
    }
    write_files(&d, &files)?;
    Ok(d)
}

fn mode(m: Option<i32>) -> u32 {
    m.map_or(DEFAULT_MODE, |m| m as u32 & 0o777)
}

fn add_keys(
    files: &mut BTreeMap<String, (Vec<u8>, u32)>,
    data: Option<BTreeMap<String, Vec<u8>>>,
    items: &Option<Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
    kind: &str,
    name: &str,
) -> anyhow::Result<()> {
    let Some(data) = data else { return Ok(()) };
    match items {
        Some(items) => {
            for item in items {
                match data.get(&item.key) {
                    Some(v) => {
                        files.insert(
                            item.path.clone(),
                            (v.clone(), mode(item.mode.or(default_mode))),
                        );
                    }
                    None if optional => {}
                    None => bail!("configuration key {} not found in {kind} {name}", item.key),
                }
            }
        }
        None => {
            for (k, v) in data {
                files.insert(k, (v, mode(default_mode)));
            }
        }
    }
    Ok(())
}

fn add_downward<'a>(
    ctx: &Ctx,
    pod: &Pod,
    files: &mut BTreeMap<String, (Vec<u8>, u32)>,
    items: impl Iterator<Item = &'a DownwardAPIVolumeFile>,
    default_mode: Option<i32>,
    pod_ips: &[String],
) -> anyhow::Result<()> {
    for item in items {
        let value = if let Some(f) = &item.field_ref {
            env::field(ctx, pod, f, pod_ips)?
        } else if let Some(r) = &item.resource_field_ref {
            let name = r.container_name.clone().unwrap_or_default();
            let container = pod
                .spec
                .iter()
                .flat_map(|s| &s.containers)
                .find(|c| c.name == name)
                .with_context(|| format!("no container {name} for {}", item.path))?;
            super::resources::field_value(ctx, pod, container, r)?
        } else {
            continue;
        };
        files.insert(
            item.path.clone(),
            (value.into_bytes(), mode(item.mode.or(default_mode))),
        );
    }
    Ok(())
}

/// A bound token for the pod's service account, from the API server.
async fn token(
    ctx: &Ctx,
    pod: &Pod,
    audience: Option<String>,
    seconds: Option<i64>,
) -> anyhow::Result<String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let sa = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_else(|| "default".to_owned());
    let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &ns);
    let request = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": audience.into_iter().collect::<Vec<_>>(),
            "expirationSeconds": seconds.unwrap_or(TOKEN_SECONDS),
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "uid": pod.metadata.uid},
        },
    });
    let answer: serde_json::Value = api
        .create_subresource("token", &sa, &PostParams::default(), &request)
        .await
        .with_context(|| format!("requesting a token for service account {ns}/{sa}"))?;
    answer["status"]["token"]
        .as_str()
        .map(str::to_owned)
        .context("the TokenRequest answer has no token")
}

/// Writes each file to a temporary name and renames it in place, so a
/// reader never sees half a file; files no longer wanted go.
fn write_files(dir: &Path, files: &BTreeMap<String, (Vec<u8>, u32)>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (rel, (bytes, mode)) in files {
        if rel.split('/').any(|p| p == "..") || rel.starts_with('/') {
            bail!("{rel}: a volume file path must be relative and stay inside the volume");
        }
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
            inside(dir, parent)?;
        }
        // Only a regular file is read back or replaced: a link or a pipe
        // left in the volume is never followed.
        let regular = std::fs::symlink_metadata(&path).map(|m| m.file_type().is_file());
        if regular.as_ref().is_ok_and(|r| *r) && std::fs::read(&path).is_ok_and(|old| &old == bytes)
        {
            continue;
        }
        let tmp = path.with_extension("skiff-tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(*mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        std::io::Write::write_all(&mut f, bytes)?;
        f.set_permissions(std::fs::Permissions::from_mode(*mode))?;
        std::fs::rename(&tmp, &path)?;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_file()) && !files.contains_key(&name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// Fails unless `path` (which exists) resolves to a place inside `base`:
/// links in a volume must not lead the kubelet or a mount out of it.
fn inside(base: &Path, path: &Path) -> anyhow::Result<()> {
    let base = base.canonicalize()?;
    let real = path.canonicalize()?;
    if !real.starts_with(&base) {
        bail!(
            "{} leads out of its volume (to {})",
            path.display(),
            real.display()
        );
    }
    Ok(())
}

/// hostPath with upstream's type checks.
fn host_path(path: &str, kind: &str) -> anyhow::Result<PathBuf> {
    let p = PathBuf::from(path);
    let meta = std::fs::metadata(&p);
    match kind {
        "" => {}
        "DirectoryOrCreate" if meta.is_err() => {
            std::fs::create_dir_all(&p)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
        }
        "FileOrCreate" if meta.is_err() => {
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::File::create(&p)?;
        }
        "Directory" if !meta.as_ref().is_ok_and(|m| m.is_dir()) => {
            bail!("hostPath type check failed: {path} is not a directory")
        }
        "File" if !meta.as_ref().is_ok_and(|m| m.is_file()) => {
            bail!("hostPath type check failed: {path} is not a file")
        }
        "Socket" | "CharDevice" | "BlockDevice" if meta.is_err() => {
            bail!("hostPath type check failed: {path} does not exist")
        }
        _ => {}
    }
    Ok(p)
}

/// A container's mounts from its volumeMounts (subPath included).
pub fn mounts(
    volumes: &HashMap<String, Prepared>,
    list: &[VolumeMount],
) -> anyhow::Result<Vec<k8s_cri::v1::Mount>> {
    list.iter()
        .map(|m| {
            let base = volumes
                .get(&m.name)
                .with_context(|| format!("volumeMount {} names no volume of the pod", m.name))?;
            let host = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                Some(sub) => {
                    if sub.split('/').any(|p| p == "..") || sub.starts_with('/') {
                        bail!("subPath {sub} must be relative and stay inside the volume");
                    }
                    let p = base.path.join(sub);
                    // The part that exists must stay inside the volume
                    // before anything is made below it, and after.
                    let existing = p.ancestors().find(|a| a.exists()).unwrap_or(&base.path);
                    inside(&base.path, existing)?;
                    if !p.exists() {
                        std::fs::create_dir_all(&p)?;
                    }
                    inside(&base.path, &p)?;
                    p
                }
                None => base.path.clone(),
            };
            Ok(k8s_cri::v1::Mount {
                container_path: m.mount_path.clone(),
                host_path: host.to_string_lossy().into_owned(),
                readonly: m.read_only == Some(true) || base.read_only,
                ..Default::default()
            })
        })
        .collect()
}

/// Mount points at or under `path` (from this process's mount table).
fn mounts_under(path: &Path) -> Vec<PathBuf> {
    let table = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    table
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(PathBuf::from)
        .filter(|m| m.starts_with(path))
        .collect()
}

fn mounted(path: &Path) -> bool {
    mounts_under(path).iter().any(|m| m == path)
}

/// The pod's volume directories; memory-backed ones are unmounted first, so
/// removing never reaches into anything mounted.
pub fn remove(ctx: &Ctx, uid: &str) {
    let dir = pod_dir(ctx, uid);
    let mut mounts = mounts_under(&dir);
    mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    for m in &mounts {
        if let Err(e) = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH) {
            tracing::warn!(
                "unmounting {}: {e}; leaving the pod's directory",
                m.display()
            );
            return;
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
