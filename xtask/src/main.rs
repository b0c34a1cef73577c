//! Developer tasks for the skiff workspace, run as `cargo xtask <command>`.

mod bench;
mod build;
mod clippy;
mod images;
mod run;
mod setup;
mod test;
mod util;

use std::{ffi::OsString, process::ExitCode};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, test and run skiff"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what building and testing need (idempotent).
    Setup,
    /// Build the agent binaries (with their eBPF programs) and the test binaries.
    Build {
        #[arg(long)]
        release: bool,
    },
    /// Run the whole test suite, end-to-end tests included (needs root).
    Test {
        /// Arguments for the test binaries, e.g. a name filter or `--list`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Bring up a three-node cluster (API server; containerd, kubelet and agent
    /// per node) with a demo Deployment and Service, until Ctrl-C.
    Run {
        /// Arguments for skiff-demo: `--nodes N`, `--routing direct|vxlan|kernel`;
        /// `--down` takes down a cluster left by a killed run.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Build in release mode and run the benchmarks.
    Bench {
        /// Arguments for skiff-bench.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Clippy with warnings denied, and the rustfmt check.
    Clippy,
}

fn main() -> ExitCode {
    // The error chain alone: with RUST_BACKTRACE set, anyhow would add a
    // backtrace into xtask, which says nothing about what failed.
    match dispatch(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Setup => setup::setup(true),
        Command::Build { release } => {
            setup::setup(false)?;
            build::build(release)
        }
        Command::Test { args } => test::test(&args),
        Command::Run { args } => run::run(&args),
        Command::Bench { args } => bench::bench(&args),
        Command::Clippy => clippy::clippy(),
    }
}
