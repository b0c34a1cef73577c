//! `cargo xtask test`: the whole test suite, end-to-end tests included.

use std::ffi::OsString;

use anyhow::{Result, bail};

use crate::{build, setup, util};

pub fn test(args: &[OsString]) -> Result<()> {
    if !util::is_root()? {
        bail!("the end-to-end tests need root (network namespaces, cgroups, eBPF): run as root");
    }
    setup::setup(false)?;
    // The end-to-end tests start the agent binaries rather than build them.
    build::build(false)?;

    // proxy-ebpf's binary targets only the BPF machine; on the host, only its
    // library (the map ABI) is tested.
    let runs: [&[&str]; 2] = [
        &["--workspace", "--exclude", "proxy-ebpf"],
        &["-p", "proxy-ebpf", "--lib"],
    ];
    let mut failed = Vec::new();
    for selection in runs {
        let mut cmd = util::cargo()?;
        cmd.arg("test")
            .args(selection)
            .arg("--no-fail-fast")
            .env("SKIFF_BIN_DIR", util::profile_dir(false))
            .env("SKIFF_KUBECTL_1_20", util::legacy_kubectl()?)
            .env("SKIFF_PYTHON", util::python()?);
        if !args.is_empty() {
            cmd.arg("--").args(args);
        }
        // Keep going: one failing selection must not hide the other's results.
        if !util::status(&mut cmd)?.success() {
            failed.push(selection.join(" "));
        }
    }
    if !failed.is_empty() {
        bail!("tests failed: cargo test {}", failed.join("; cargo test "));
    }
    Ok(())
}
