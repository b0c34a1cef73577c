//! `cargo xtask build`: the binaries the end-to-end tests and the demo start:
//! the agent (whose build script builds and embeds the eBPF programs), the
//! control plane, and the tests package's own; then the nodes' image archives.

use anyhow::Result;

use crate::images;
use crate::util::{self, E2E_PACKAGE};

pub fn build(release: bool) -> Result<()> {
    let mut cmd = util::cargo()?;
    cmd.arg("build");
    if release {
        cmd.arg("--release");
    }
    cmd.args(["-p", "proxy-user", "-p", "control", "-p", E2E_PACKAGE]);
    util::run(cmd.arg("--bins"))?;
    images::build(&util::profile_dir(release))
}
