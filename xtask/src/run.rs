//! `cargo xtask run`: a one-node demo in network namespaces.

use std::ffi::OsString;

use anyhow::{Result, bail};

use crate::{
    build, setup,
    util::{self, E2E_PACKAGE},
};

pub fn run(args: &[OsString]) -> Result<()> {
    if !util::has_package(E2E_PACKAGE)? {
        bail!("the demo is in package {E2E_PACKAGE}, which is not in the workspace");
    }
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
