//! The images the nodes run, built offline from this workspace's binaries
//! into OCI archives under `target/<profile>/images/` (see docs/node.md):
//!
//! - `localhost/skiff/pause:1` (`pause.oci.tar`): skiff-pause, every pod
//!   sandbox's first process;
//! - `localhost/skiff/demo:1` (`demo.oci.tar`): busybox (`/bin/sh` and
//!   friends) and netprobe, whose default command serves HTTP on 8080.
//!
//! The binaries are dynamically linked against glibc: their libraries go
//! into the layer at the paths `ldd` names.

mod layer;
mod ldd;
mod oci;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};

use layer::Layer;
use oci::Image;

pub const PAUSE: &str = "localhost/skiff/pause:1";
pub const DEMO: &str = "localhost/skiff/demo:1";

/// Debian's busybox-static: no libraries needed.
const BUSYBOX: &str = "/bin/busybox";

/// The applets linked in `/bin`, each only if this busybox has it.
const APPLETS: &[&str] = &[
    "sh", "ash", "cat", "echo", "env", "grep", "head", "hostname", "id", "ip", "kill", "ls",
    "mkdir", "nc", "netstat", "nslookup", "ping", "printf", "ps", "rm", "sed", "sleep", "tail",
    "test", "true", "false", "uname", "wc", "wget",
];

/// The directory the archives are written to.
pub fn dir(profile_dir: &Path) -> PathBuf {
    profile_dir.join("images")
}

/// Writes both archives from the binaries in `profile_dir`.
pub fn build(profile_dir: &Path) -> Result<()> {
    let out = dir(profile_dir);
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    write(&out.join("pause.oci.tar"), &pause(profile_dir)?)?;
    write(&out.join("demo.oci.tar"), &demo(profile_dir)?)?;
    Ok(())
}

fn pause(profile_dir: &Path) -> Result<Image<'static>> {
    let mut layer = Layer::default();
    with_libraries(&mut layer, "/skiff-pause", &profile_dir.join("skiff-pause"))?;
    Ok(Image {
        name: PAUSE,
        entrypoint: &["/skiff-pause"],
        cmd: &[],
        env: &[],
        layer,
    })
}

fn demo(profile_dir: &Path) -> Result<Image<'static>> {
    let mut layer = Layer::default();
    layer.copy("/bin/busybox", Path::new(BUSYBOX)).context(
        "busybox-static provides /bin/busybox for the demo image: run `cargo xtask setup`",
    )?;
    let list = crate::util::output(Command::new(BUSYBOX).arg("--list"))?;
    for applet in APPLETS.iter().filter(|a| list.lines().any(|l| l == **a)) {
        layer.symlink(&format!("/bin/{applet}"), "busybox");
    }
    with_libraries(&mut layer, "/bin/netprobe", &profile_dir.join("netprobe"))?;
    layer
        .dir("/tmp", 0o1777)
        .file(
            "/etc/passwd",
            b"root:x:0:0:root:/:/bin/sh\n".to_vec(),
            0o644,
        )
        .file("/etc/group", b"root:x:0:\n".to_vec(), 0o644);
    Ok(Image {
        name: DEMO,
        entrypoint: &[],
        cmd: &["/bin/netprobe", "serve", "8080"],
        env: &["PATH=/bin"],
        layer,
    })
}

/// `binary` at `path`, and the shared libraries it loads at their own paths.
fn with_libraries(layer: &mut Layer, path: &str, binary: &Path) -> Result<()> {
    layer
        .copy(path, binary)
        .with_context(|| format!("{} is built by `cargo xtask build`", binary.display()))?;
    for lib in ldd::libraries(binary)? {
        layer.copy(&lib.to_string_lossy(), &lib)?;
    }
    Ok(())
}

/// Leaves an unchanged archive alone, so its mtime says when it last changed.
fn write(path: &Path, image: &Image) -> Result<()> {
    let bytes = oci::archive(image)?;
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
