//! `cargo xtask build`: the agent binaries, whose build script builds and
//! embeds the eBPF programs, and the binaries of the tests package.

use anyhow::Result;

use crate::util::{self, E2E_PACKAGE};

pub fn build(release: bool) -> Result<()> {
    let mut cmd = util::cargo()?;
    cmd.arg("build");
    if release {
        cmd.arg("--release");
    }
    cmd.args(["-p", "proxy-user"]);
    if util::has_package(E2E_PACKAGE)? {
        cmd.args(["-p", E2E_PACKAGE]);
    } else {
        eprintln!("note: package {E2E_PACKAGE} is not in the workspace: building proxy-user only");
    }
    util::run(cmd.arg("--bins"))
}
