//! `cargo xtask run`: a three-node cluster on this machine with a demo
//! Deployment and Service (skiff-demo), up until Ctrl-C; `--down` takes down
//! a cluster whose run was killed, from the state file the run keeps.

use std::ffi::OsString;

use anyhow::{Result, bail};

use crate::{
    build, setup,
    util::{self, E2E_PACKAGE},
};

pub fn run(args: &[OsString]) -> Result<()> {
    if !util::is_root()? {
        bail!(
            "the cluster needs root (network namespaces, cgroups, containerd, eBPF): run as root"
        );
    }
    let demo = util::profile_dir(false).join("skiff-demo");
    if args.iter().any(|a| a == "--down") {
        // Taking down needs only the demo binary, not a fresh build of all.
        if !demo.exists() {
            util::run(util::cargo()?.args(["build", "-p", E2E_PACKAGE, "--bin", "skiff-demo"]))?;
        }
    } else {
        setup::setup(false)?;
        build::build(false)?;
    }
    let mut cmd = std::process::Command::new(demo);
    cmd.args(args)
        .current_dir(util::workspace_root())
        .env("SKIFF_BIN_DIR", util::profile_dir(false));
    Err(util::exec(&mut cmd))
}
