//! One containerd per node: its own root, state, sockets and runc root under
//! one directory, the CRI plugin set up as docs/node.md says, started inside
//! the node's network namespace (so CNI plugins and host-network pods see the
//! node's interfaces), with the project's images imported.
//!
//! Dropping it stops containerd, kills its shims and every container process
//! under them (shims outlive containerd), unmounts what it mounted and
//! removes its directory; `cleanup` does the same for an instance whose
//! process is gone (a killed test or demo).

use std::ffi::CString;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::images;
use crate::netns::Netns;
use crate::procs;

/// The containerd namespace the CRI plugin uses: images must be imported there.
pub const K8S_NAMESPACE: &str = "k8s.io";

/// Where one instance keeps everything. Socket paths must stay under 108
/// bytes, so keep `dir` short (a temp dir is).
#[derive(Clone, Debug)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }
    /// runc's state: the CRI plugin's runtime uses it; pass it to `ctr run`
    /// (`--runc-root`), whose default is shared by every instance.
    pub fn runc_root(&self) -> PathBuf {
        self.state().join("runc")
    }
    pub fn cni_bin_dir(&self) -> PathBuf {
        self.dir.join("cni-bin")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("containerd.log")
    }
}

pub struct Containerd {
    child: Option<Child>,
    pub layout: Layout,
}

impl Containerd {
    /// Writes the configuration under `dir`, starts containerd inside `netns`,
    /// waits for its socket and imports the pause and demo images. Panics,
    /// with containerd's log, if any step fails.
    pub fn start(dir: &Path, netns: &Netns, cni_conf_dir: &Path) -> Self {
        let layout = Layout {
            dir: dir.to_owned(),
        };
        std::fs::create_dir_all(layout.cni_bin_dir()).unwrap();
        std::fs::create_dir_all(cni_conf_dir).unwrap();
        // Both names run skiff-cni; it may not be built yet, and a dangling
        // link only matters once a pod needs a network.
        let cni = crate::bin_dir().join("skiff-cni");
        for name in ["skiff-cni", "loopback"] {
            let link = layout.cni_bin_dir().join(name);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&cni, &link).unwrap();
        }
        std::fs::write(layout.config(), config(&layout, cni_conf_dir)).unwrap();
        let child = spawn(&layout, netns);
        let mut containerd = Self {
            child: Some(child),
            layout,
        };
        containerd.wait_ready(Duration::from_secs(20));
        for image in [images::PAUSE, images::DEMO] {
            containerd.import(&images::archive(image));
        }
        containerd
    }

    /// `unix://…`, as the kubelet's `--container-runtime-endpoint` takes it.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.layout.socket().display())
    }

    pub fn socket(&self) -> PathBuf {
        self.layout.socket()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.fail(&format!("containerd exited ({status}) before serving"));
            }
            if UnixStream::connect(self.layout.socket()).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "containerd did not serve its socket in {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `ctr --address <socket> -n k8s.io <args>`.
    pub fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(self.layout.socket())
            .args(["-n", K8S_NAMESPACE])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run ctr (from the containerd package): {e}"))
    }

    /// `ctr` that must succeed; its stdout.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        let out = self.ctr(args);
        if !out.status.success() {
            self.fail(&format!(
                "ctr {args:?} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn import(&self, archive: &Path) {
        self.ctr_ok(&["images", "import", &archive.to_string_lossy()]);
    }

    /// The whole log (containerd logs little at info level).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.layout.log()).unwrap_or_default()
    }

    /// Panics with `what` and containerd's log.
    pub fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\n--- containerd log ({}) ---\n{}",
            self.layout.log().display(),
            crate::tail(&self.log(), 200)
        )
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            procs::terminate(&mut child, Duration::from_secs(5));
        }
        cleanup(&self.layout);
    }
}

/// Kills what an instance left running (shims and their containers), unmounts
/// what it mounted and removes its directory. Idempotent; fine to call for
/// an instance whose containerd was killed.
pub fn cleanup(layout: &Layout) {
    let socket = layout.socket();
    // A live containerd would start new shims while we kill: it goes first.
    for pid in procs::matching(|cmdline| {
        cmdline.first().is_some_and(|p| p.ends_with("containerd"))
            && cmdline.iter().any(|a| Path::new(a) == layout.config())
    }) {
        procs::kill_tree(pid);
    }
    // Shims are started with `-address <this socket>`.
    let shims = procs::matching(|cmdline| {
        cmdline
            .first()
            .is_some_and(|p| p.contains("containerd-shim"))
            && cmdline
                .windows(2)
                .any(|w| w[0] == "-address" && Path::new(&w[1]) == socket)
    });
    for shim in shims {
        procs::kill_tree(shim);
    }
    forget_cni_results(layout);
    crate::mounts::unmount_under(&layout.dir);
    if let Err(e) = std::fs::remove_dir_all(&layout.dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        eprintln!("cannot remove {}: {e}", layout.dir.display());
    }
}

/// libcni caches each sandbox's result in the shared /var/lib/cni/results
/// (`<network>-<sandbox id>-<interface>`); a CNI DEL removes it, a killed
/// node never sends one.
fn forget_cni_results(layout: &Layout) {
    const RESULTS: &str = "/var/lib/cni/results";
    let sandboxes = layout.root().join("io.containerd.grpc.v1.cri/sandboxes");
    let ids: Vec<String> = std::fs::read_dir(&sandboxes)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if ids.is_empty() {
        return;
    }
    for entry in std::fs::read_dir(RESULTS).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if ids.iter().any(|id| name.contains(&format!("-{id}-"))) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn spawn(layout: &Layout, netns: &Netns) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(layout.log())
        .unwrap();
    let netns_path = CString::new(netns.path()).unwrap();
    let mut cmd = Command::new("containerd");
    cmd.arg("--config")
        .arg(layout.config())
        // runc lives in /usr/sbin, which not every PATH has.
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    // Only the network namespace changes: `ip netns exec` would also give it
    // a private mount namespace with a fresh /sys, hiding /sys/fs/cgroup from
    // runc and its mounts from the cleanup.
    // SAFETY: open, setns and close are async-signal-safe; the path was
    // prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(netns_path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            Ok(())
        });
    }
    cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot start containerd (`cargo xtask setup` installs it): {e}")
    })
}

/// Config version 2, as verified with containerd 1.6 on cgroupfs (see
/// docs/node.md): no systemd, no CAP_SYS_RESOURCE, no registry.
fn config(layout: &Layout, cni_conf_dir: &Path) -> String {
    let q = |p: PathBuf| toml_string(&p.to_string_lossy());
    format!(
        r#"version = 2
root = {root}
state = {state}
# Snapshotters this machine cannot use only add noise to the log.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = {grpc}

[ttrpc]
  address = {ttrpc}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = {pause}
  # Without CAP_SYS_RESOURCE, raising a score fails every sandbox.
  restrict_oom_score_adj = true
  systemd_cgroup = false
  # Pods' network namespaces under the state dir, not the shared /run/netns.
  netns_mounts_under_state_dir = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = {runc_root}

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {cni_bin}
    conf_dir = {cni_conf}
"#,
        root = q(layout.root()),
        state = q(layout.state()),
        grpc = q(layout.socket()),
        ttrpc = q(layout.dir.join("containerd.sock.ttrpc")),
        pause = toml_string(images::PAUSE),
        runc_root = q(layout.runc_root()),
        cni_bin = q(layout.cni_bin_dir()),
        cni_conf = q(cni_conf_dir.to_owned()),
    )
}

/// A TOML basic string (paths here have no control characters).
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
