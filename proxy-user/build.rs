//! Builds the eBPF programs (proxy-ebpf's binary) for the BPF target and places
//! the object in OUT_DIR, where the agent embeds it.

use std::{env, path::PathBuf};

use anyhow::{Context as _, bail};

fn main() -> anyhow::Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let ebpf_dir = manifest_dir.join("../proxy-ebpf");
    let ebpf_dir = ebpf_dir.to_str().context("non-UTF-8 path to proxy-ebpf")?;

    // The BPF target has no prebuilt `core`, so it must be built with
    // `-Z build-std=core`, which stable Rust accepts only with RUSTC_BOOTSTRAP=1.
    // Setting it here puts it in the environment of the nested eBPF build alone;
    // the rest of the workspace stays on plain stable.
    // SAFETY: build scripts are single-threaded at this point.
    unsafe { env::set_var("RUSTC_BOOTSTRAP", "1") };
    // aya-build relays the nested build's stderr as warnings: keep only what
    // matters (errors and real warnings), not its progress lines.
    // SAFETY: as above.
    unsafe { env::set_var("CARGO_TERM_QUIET", "true") };

    // bpf-linker lives where `cargo xtask setup` installs it.
    let linker_bin = env::var_os("SKIFF_BPF_LINKER_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/skiff/bpf-linker/bin"))
        })
        .context("HOME is not set")?;
    println!("cargo:rerun-if-env-changed=SKIFF_BPF_LINKER_BIN");
    if !linker_bin.join("bpf-linker").exists() && which_on_path("bpf-linker").is_none() {
        bail!(
            "bpf-linker not found in {} nor on PATH: run `cargo xtask setup` first",
            linker_bin.display()
        );
    }
    let path = env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![linker_bin];
    paths.extend(env::split_paths(&path));
    // SAFETY: as above.
    unsafe { env::set_var("PATH", env::join_paths(paths)?) };

    let package = aya_build::Package {
        name: "proxy-ebpf",
        root_dir: ebpf_dir,
        ..Default::default()
    };
    // The toolchain pinned in rust-toolchain.toml.
    aya_build::build_ebpf([package], aya_build::Toolchain::Custom("1.95.0"))
}

fn which_on_path(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.exists())
}
