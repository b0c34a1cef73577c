//! Reads the maps an agent pinned, whether it runs or not.

use std::path::PathBuf;

use clap::Parser;
use proxy_user::dbg::{Output, View, render};

#[derive(Parser)]
#[command(
    name = "skiff-dbg",
    version,
    about = "Show the eBPF load-balancing maps of a node"
)]
struct Args {
    /// Pin directory of the node's maps [default: /sys/fs/bpf/skiff/<node>].
    #[arg(long, global = true)]
    pin_dir: Option<PathBuf>,
    /// Node name, to find its pin directory.
    #[arg(long, global = true, env = "NODE_NAME")]
    node: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table", global = true)]
    output: Output,
    #[command(subcommand)]
    view: View,
}

fn main() {
    let args = Args::parse();
    let pin_dir = args.pin_dir.unwrap_or_else(|| {
        let node = args.node.unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_default()
        });
        PathBuf::from("/sys/fs/bpf/skiff").join(node)
    });
    match render(&pin_dir, args.view, args.output) {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("skiff-dbg: {e:#}");
            std::process::exit(1);
        }
    }
}
