//! Paths, child processes and small system queries shared by the commands.

use std::{
    env, fs,
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Command, ExitStatus},
};

use anyhow::{Context as _, Result, bail};

/// The package with the end-to-end tests, the demo and the benchmarks.
pub const E2E_PACKAGE: &str = "skiff-e2e";

pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
}

/// Where tools installed by `setup` live: outside the workspace so that they
/// survive `cargo clean` and are shared by every checkout.
pub fn tools_dir() -> Result<PathBuf> {
    if let Some(dir) = env::var_os("SKIFF_TOOLS_DIR") {
        return Ok(dir.into());
    }
    let home = env::var_os("HOME").context("HOME is not set (or set SKIFF_TOOLS_DIR)")?;
    Ok(PathBuf::from(home).join(".local/share/skiff"))
}

/// kubectl 1.20, which the API server's tests run beside the current one.
pub fn legacy_kubectl() -> Result<PathBuf> {
    Ok(tools_dir()?.join("kubectl-1.20/kubectl"))
}

/// The Python of a venv holding the `kubernetes` client.
pub fn python() -> Result<PathBuf> {
    Ok(tools_dir()?.join("python/bin/python"))
}

pub fn bpf_linker_dir() -> Result<PathBuf> {
    Ok(tools_dir()?.join("bpf-linker"))
}

/// `target/<profile>`, honouring CARGO_TARGET_DIR as cargo does.
pub fn profile_dir(release: bool) -> PathBuf {
    let target = env::var_os("CARGO_TARGET_DIR")
        .map(|d| workspace_root().join(d))
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join(if release { "release" } else { "debug" })
}

/// A cargo command run from the workspace root, with bpf-linker on PATH
/// for the eBPF build driven by proxy-user's build script.
pub fn cargo() -> Result<Command> {
    // The cargo that runs xtask, so that children use the same toolchain.
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    let linker_bin = bpf_linker_dir()?.join("bin");
    let mut paths = vec![linker_bin.clone()];
    paths.extend(env::split_paths(&env::var_os("PATH").unwrap_or_default()));
    cmd.env("PATH", env::join_paths(paths)?);
    // build.rs looks in the default directory by itself; tell it only about an
    // override, since changing this variable reruns it (and the eBPF build).
    if env::var_os("SKIFF_TOOLS_DIR").is_some() {
        cmd.env("SKIFF_BPF_LINKER_BIN", linker_bin);
    }
    Ok(cmd)
}

pub fn status(cmd: &mut Command) -> Result<ExitStatus> {
    cmd.status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))
}

/// Runs `cmd`, failing unless it succeeds.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = status(cmd)?;
    if !status.success() {
        bail!("{} failed ({status})", describe(cmd));
    }
    Ok(())
}

/// Runs `cmd` and returns its standard output, failing unless it succeeds.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Replaces this process with `cmd`, so that signals and the exit status are
/// the child's own. Returns only on failure.
pub fn exec(cmd: &mut Command) -> anyhow::Error {
    let err = cmd.exec();
    anyhow::Error::new(err).context(format!("cannot run {}", describe(cmd)))
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    format!("`{s}`")
}

pub fn is_root() -> Result<bool> {
    // The effective UID is the second field of the `Uid:` line.
    let status = fs::read_to_string("/proc/self/status")?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .context("no Uid line in /proc/self/status")?;
    Ok(euid == "0")
}

/// The type of the filesystem mounted at `path`, if any. The last entry wins,
/// as later mounts hide earlier ones.
pub fn fs_type_at(path: &str) -> Result<Option<String>> {
    let mounts = fs::read_to_string("/proc/mounts").context("cannot read /proc/mounts")?;
    Ok(mounts.lines().rev().find_map(|l| {
        let mut fields = l.split_whitespace();
        let (_, at, ty) = (fields.next()?, fields.next()?, fields.next()?);
        (at == path).then(|| ty.to_owned())
    }))
}
