//! `cargo xtask clippy`: lints and formatting, as checked before merging.

use anyhow::{Result, bail};

use crate::{setup, util};

pub fn clippy() -> Result<()> {
    // Linting proxy-user runs its build script, which builds the eBPF programs.
    setup::setup(false)?;
    let clippy = util::status(util::cargo()?.args([
        "clippy",
        "--workspace",
        "--exclude",
        "proxy-ebpf",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    let fmt = util::status(util::cargo()?.args(["fmt", "--all", "--", "--check"]))?;
    match (clippy.success(), fmt.success()) {
        (true, true) => Ok(()),
        (false, true) => bail!("clippy found problems"),
        (true, false) => bail!("code is not formatted: run `cargo fmt --all`"),
        (false, false) => bail!("clippy found problems, and code is not formatted"),
    }
}
