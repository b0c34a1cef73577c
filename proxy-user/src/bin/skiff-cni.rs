//! The CNI plugin (also the `loopback` plugin, under that name).

use std::io::Write as _;

fn main() {
    let program = std::env::args()
        .next()
        .as_deref()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("skiff-cni")
        .to_owned();
    let outcome = proxy_user::cni::main(&program);
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(outcome.stdout.as_bytes());
    let _ = stdout.flush();
    std::process::exit(outcome.status);
}
