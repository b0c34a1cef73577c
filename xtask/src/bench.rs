//! `cargo xtask bench`: benchmarks against release builds of the agent.

use std::{ffi::OsString, process::Command};

use anyhow::Result;

use crate::{build, setup, util};

pub fn bench(args: &[OsString]) -> Result<()> {
    setup::setup(false)?;
    build::build(true)?;
    let bin_dir = util::profile_dir(true);
    let mut cmd = Command::new(bin_dir.join("skiff-bench"));
    cmd.args(args)
        .current_dir(util::workspace_root())
        .env("SKIFF_BIN_DIR", bin_dir);
    Err(util::exec(&mut cmd))
}
