//! `cargo xtask bench`: benchmarks against release builds of the agent.

use std::{ffi::OsString, process::Command};

use anyhow::{Result, bail};

use crate::{
    build, setup,
    util::{self, E2E_PACKAGE},
};

pub fn bench(args: &[OsString]) -> Result<()> {
    if !util::has_package(E2E_PACKAGE)? {
        bail!("the benchmarks are in package {E2E_PACKAGE}, which is not in the workspace");
    }
    setup::setup(false)?;
    build::build(true)?;
    let bin_dir = util::profile_dir(true);
    let mut cmd = Command::new(bin_dir.join("skiff-bench"));
    cmd.args(args)
        .current_dir(util::workspace_root())
        .env("SKIFF_BIN_DIR", bin_dir);
    Err(util::exec(&mut cmd))
}
