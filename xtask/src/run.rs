//! `cargo xtask run`: a one-node demo in network namespaces.

use std::ffi::OsString;

use anyhow::Result;

use crate::{
    build, setup,
    util::{self, E2E_PACKAGE},
};

pub fn run(args: &[OsString]) -> Result<()> {
    setup::setup(false)?;
    build::build(false)?;
    let mut cmd = util::cargo()?;
    cmd.args([
        "run",
        "--quiet",
        "-p",
        E2E_PACKAGE,
        "--bin",
        "skiff-demo",
        "--",
    ])
    .args(args)
    .env("SKIFF_BIN_DIR", util::profile_dir(false));
    Err(util::exec(&mut cmd))
}
