//! `cargo xtask setup`: installs what building and testing need, and only what
//! is missing, so every other command can run it first at little cost.

use std::{
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::util;

/// Debian packages the tests need: `ip` (iproute2), `sysctl` and `ps` (procps),
/// etcd for the store tests, `protoc` to build the etcd and CRI clients, a
/// Python venv for the Python client's tests; for the nodes, containerd (with
/// `ctr`) and runc, busybox-static (the demo image's shell, a static binary
/// that needs no libraries in the image), iperf3 for the node benchmarks, and
/// `mount`/`umount` (mount) to clean up what containerd leaves mounted.
pub const PACKAGES: &[&str] = &[
    "iproute2",
    "procps",
    "etcd-server",
    "protobuf-compiler",
    "python3-venv",
    "containerd",
    "runc",
    "busybox-static",
    "iperf3",
    "mount",
];

/// Debian's policy hook: 101 tells maintainer scripts not to start services.
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// The oldest kubectl the API server is tested with: Debian's
/// `kubernetes-client`, unpacked beside the other tools because its
/// /usr/bin/kubectl would replace the current one.
const LEGACY_KUBECTL_PACKAGE: &str = "kubernetes-client";

/// The Python client of the Kubernetes release the server reports (1.32).
const PYTHON_CLIENT: &str = "kubernetes==32.0.1";

/// bpf-linker's version, built against the LLVM of the pinned Rust toolchain.
const BPF_LINKER_VERSION: &str = "0.13.0";

const BPFFS: &str = "/sys/fs/bpf";

/// Hybrid hierarchies mount cgroup v2 at `unified`; unified ones at the top.
const CGROUP2_CANDIDATES: &[&str] = &["/sys/fs/cgroup/unified", "/sys/fs/cgroup"];

/// Prints one line per step; when not verbose, only the steps that install.
struct Report {
    verbose: bool,
    installed: bool,
}

impl Report {
    fn ok(&self, what: &str) {
        if self.verbose {
            println!("ok: {what}");
        }
    }

    fn installing(&mut self, what: &str) {
        self.installed = true;
        println!("installing: {what}");
    }
}

pub fn setup(verbose: bool) -> Result<()> {
    let mut report = Report {
        verbose,
        installed: false,
    };
    rust_src(&mut report)?;
    bpf_linker(&mut report)?;
    packages(&mut report)?;
    legacy_kubectl(&mut report)?;
    python_client(&mut report)?;
    bpffs(&mut report)?;
    cgroup2(&report)?;
    match (report.installed, verbose) {
        (false, true) => println!("setup: nothing to do"),
        (false, false) => println!("setup: ok"),
        (true, true) => println!("setup: done"),
        (true, false) => {}
    }
    Ok(())
}

/// Commands run from the workspace root so that rustup picks the toolchain
/// pinned in rust-toolchain.toml.
fn in_workspace(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(util::workspace_root());
    cmd
}

/// The BPF target has no prebuilt `core`: it is built from source.
fn rust_src(report: &mut Report) -> Result<()> {
    let installed =
        util::output(in_workspace("rustup").args(["component", "list", "--installed"]))?;
    if installed
        .lines()
        .any(|l| l == "rust-src" || l.starts_with("rust-src-"))
    {
        report.ok("rustup component rust-src");
        return Ok(());
    }
    report.installing("rustup component rust-src");
    util::run(in_workspace("rustup").args(["component", "add", "rust-src"]))
}

/// bpf-linker must use the LLVM that rustc uses, and no distribution packages
/// it, so it is built against the libLLVM shipped in rustc's sysroot.
fn bpf_linker(report: &mut Report) -> Result<()> {
    let dir = util::bpf_linker_dir()?;
    let bin = dir.join("bin/bpf-linker");
    let lib_dir = dir.join("llvm/lib");
    let llvm = rustc_llvm()?;
    let soname = llvm.file_name().context("libLLVM path has no file name")?;
    // The build links with `-lLLVM`; the binary then loads the library by its
    // soname from an rpath to `lib_dir`, without relying on LD_LIBRARY_PATH.
    let build_link = lib_dir.join("libLLVM.so");
    let run_link = lib_dir.join(soname);

    // A binary built against this very library needs at most its run-time link.
    if bin.exists() && same_file(&build_link, &llvm) {
        if !same_file(&run_link, &llvm) {
            report.installing(&format!(
                "{} (bpf-linker's run-time link to rustc's LLVM)",
                run_link.display()
            ));
            relink(&run_link, &llvm)?;
        }
        if linker_works(&bin) {
            report.ok(&format!(
                "bpf-linker {BPF_LINKER_VERSION} in {}",
                dir.display()
            ));
            return Ok(());
        }
    }

    let major = llvm_major(&llvm)?;
    report.installing(&format!(
        "bpf-linker {BPF_LINKER_VERSION} in {} (building against rustc's LLVM {major}, about a minute)",
        dir.display()
    ));
    fs::create_dir_all(&lib_dir).with_context(|| format!("cannot create {}", lib_dir.display()))?;
    relink(&build_link, &llvm)?;
    relink(&run_link, &llvm)?;
    util::run(
        in_workspace("cargo")
            .env("LLVM_PREFIX", dir.join("llvm"))
            .arg("install")
            .arg(format!("bpf-linker@{BPF_LINKER_VERSION}"))
            .args(["--locked", "--quiet", "--force", "--no-default-features"])
            .arg("--features")
            .arg(format!("llvm-{major}"))
            .arg("--root")
            .arg(&dir),
    )?;
    if !linker_works(&bin) {
        bail!("{} was installed but does not run", bin.display());
    }
    Ok(())
}

/// rustc's own libLLVM, e.g. `<sysroot>/lib/libLLVM.so.22.1-rust-1.95.0-stable`.
fn rustc_llvm() -> Result<PathBuf> {
    let sysroot = util::output(in_workspace("rustc").args(["--print", "sysroot"]))?;
    let lib = Path::new(sysroot.trim()).join("lib");
    let mut found: Vec<PathBuf> = fs::read_dir(&lib)
        .with_context(|| format!("cannot read {}", lib.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libLLVM.so.") && name.contains("-rust-")
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
        .pop()
        .with_context(|| format!("no libLLVM.so.*-rust-* in {}", lib.display()))
}

/// The LLVM major version in the library's name, which selects bpf-linker's
/// matching `llvm-<major>` feature.
fn llvm_major(llvm: &Path) -> Result<u32> {
    let name = llvm.file_name().unwrap_or_default().to_string_lossy();
    name.strip_prefix("libLLVM.so.")
        .and_then(|v| v.split(['.', '-']).next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no LLVM version in {name}"))
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(a), Ok(b)) if a == b)
}

fn relink(link: &Path, target: &Path) -> Result<()> {
    if link.symlink_metadata().is_ok() {
        fs::remove_file(link).with_context(|| format!("cannot remove {}", link.display()))?;
    }
    symlink(target, link).with_context(|| format!("cannot create {}", link.display()))
}

/// Runs the linker as any process would, without the LD_LIBRARY_PATH that
/// rustup gives cargo's children (which would hide a missing library).
fn linker_works(bin: &Path) -> bool {
    Command::new(bin)
        .arg("--version")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .any(|w| w == BPF_LINKER_VERSION)
        })
}

fn packages(report: &mut Report) -> Result<()> {
    let mut missing = Vec::new();
    for &package in PACKAGES {
        let status = Command::new("dpkg-query")
            .args(["-W", "-f=${Status}", package])
            .output()
            .context("cannot run dpkg-query (setup expects a Debian-based system)")?;
        if String::from_utf8_lossy(&status.stdout).trim() == "install ok installed" {
            report.ok(&format!("package {package}"));
        } else {
            missing.push(package);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    need_root(&format!("installing packages {list}"))?;
    report.installing(&format!("packages {list}"));
    util::run(Command::new("apt-get").args(["update", "-qq"]))?;
    let _no_services = NoServiceStarts::new()?;
    util::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing),
    )
}

/// Keeps packages from starting their services while they are installed: the
/// tests run their own containerd and etcd instances, and a system one would
/// only compete with them for ports and memory (and on a machine without
/// systemd, a failed start could fail the install). Leaves an existing hook
/// alone; removes its own on drop.
struct NoServiceStarts {
    created: bool,
}

impl NoServiceStarts {
    fn new() -> Result<Self> {
        let path = Path::new(POLICY_RC_D);
        if path.symlink_metadata().is_ok() {
            return Ok(Self { created: false });
        }
        fs::write(
            path,
            "#!/bin/sh\n# Written by `cargo xtask setup` while it installs packages.\nexit 101\n",
        )
        .with_context(|| format!("cannot write {POLICY_RC_D}"))?;
        fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        Ok(Self { created: true })
    }
}

impl Drop for NoServiceStarts {
    fn drop(&mut self) {
        if self.created {
            let _ = fs::remove_file(POLICY_RC_D);
        }
    }
}

fn legacy_kubectl(report: &mut Report) -> Result<()> {
    let bin = util::legacy_kubectl()?;
    if bin.exists() {
        report.ok(&format!("kubectl 1.20 at {}", bin.display()));
        return Ok(());
    }
    report.installing(&format!(
        "kubectl 1.20 ({LEGACY_KUBECTL_PACKAGE}) at {}",
        bin.display()
    ));
    let work = std::env::temp_dir().join(format!("skiff-kubectl-{}", std::process::id()));
    fs::create_dir_all(&work)?;
    // apt fetches as its own unprivileged user, which must be able to write here.
    fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
    let download = Command::new("apt-get")
        .args(["download", "-qq", LEGACY_KUBECTL_PACKAGE])
        .current_dir(&work)
        .status()?;
    if !download.success() {
        // A fresh machine may not have the package lists yet.
        util::run(Command::new("apt-get").args(["update", "-qq"]))?;
        util::run(
            Command::new("apt-get")
                .args(["download", "-qq", LEGACY_KUBECTL_PACKAGE])
                .current_dir(&work),
        )?;
    }
    let deb = fs::read_dir(&work)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get download left no .deb")?;
    let unpacked = work.join("root");
    util::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    fs::create_dir_all(bin.parent().expect("a directory"))?;
    fs::copy(unpacked.join("usr/bin/kubectl"), &bin)
        .with_context(|| format!("cannot install {}", bin.display()))?;
    fs::remove_dir_all(&work).ok();
    Ok(())
}

fn python_client(report: &mut Report) -> Result<()> {
    let python = util::python()?;
    let venv = python
        .parent()
        .and_then(Path::parent)
        .expect("<venv>/bin/python");
    let marker = venv.join(PYTHON_CLIENT);
    if marker.exists() {
        report.ok(&format!(
            "Python client {PYTHON_CLIENT} in {}",
            venv.display()
        ));
        return Ok(());
    }
    report.installing(&format!(
        "Python client {PYTHON_CLIENT} in {}",
        venv.display()
    ));
    util::run(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(venv),
    )?;
    util::run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        PYTHON_CLIENT,
    ]))?;
    fs::write(&marker, "")?;
    Ok(())
}

/// Pinned maps and the agent's state live in bpffs, which is not always
/// mounted at boot.
fn bpffs(report: &mut Report) -> Result<()> {
    if util::fs_type_at(BPFFS)?.as_deref() == Some("bpf") {
        report.ok(&format!("bpffs at {BPFFS}"));
        return Ok(());
    }
    need_root(&format!("mounting bpffs at {BPFFS}"))?;
    report.installing(&format!("bpffs at {BPFFS}"));
    util::run(Command::new("mount").args(["-t", "bpf", "bpf", BPFFS]))
}

/// The sock_addr programs attach to a cgroup v2 directory. Setup does not
/// reorganise the host's cgroups: it only checks.
fn cgroup2(report: &Report) -> Result<()> {
    for &dir in CGROUP2_CANDIDATES {
        if util::fs_type_at(dir)?.as_deref() == Some("cgroup2")
            && Path::new(dir).join("cgroup.procs").exists()
        {
            report.ok(&format!("cgroup v2 at {dir}"));
            return Ok(());
        }
    }
    bail!(
        "no cgroup v2 hierarchy at {}: skiff attaches its socket programs to a cgroup v2 \
         directory; boot with cgroup v2 or mount it (`mount -t cgroup2 none /sys/fs/cgroup/unified`)",
        CGROUP2_CANDIDATES.join(" or ")
    )
}

fn need_root(what: &str) -> Result<()> {
    if !util::is_root()? {
        bail!("{what} needs root: run `cargo xtask setup` as root");
    }
    Ok(())
}
