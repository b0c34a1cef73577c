//! `cargo xtask bench`: benchmarks against release builds: the data plane by
//! default, `cargo xtask bench api` for the API server and the programming
//! latency from an API write to the eBPF map, `cargo xtask bench scheduler`
//! for scheduling throughput, `cargo xtask bench pods` for pod-to-pod
//! networking in each routing mode, `cargo xtask bench node` for pod startup
//! and the node components' memory.

use std::{ffi::OsString, process::Command};

use anyhow::Result;

use crate::{build, setup, util};

pub fn bench(args: &[OsString]) -> Result<()> {
    setup::setup(false)?;
    build::build(true)?;
    let bin_dir = util::profile_dir(true);
    let (bin, args) = match args.first().and_then(|a| a.to_str()) {
        Some("api") => ("skiff-bench-api", &args[1..]),
        Some("scheduler") => ("skiff-bench-sched", &args[1..]),
        Some("pods") => ("skiff-bench-pods", &args[1..]),
        Some("node") => ("skiff-bench-node", &args[1..]),
        _ => ("skiff-bench", args),
    };
    let mut cmd = Command::new(bin_dir.join(bin));
    cmd.args(args)
        .current_dir(util::workspace_root())
        .env("SKIFF_BIN_DIR", bin_dir);
    Err(util::exec(&mut cmd))
}
