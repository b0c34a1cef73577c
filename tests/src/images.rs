//! The images `cargo xtask build` writes as OCI archives (docs/node.md): the
//! nodes import them into their containerd, no registry involved.

use std::path::PathBuf;

/// Every pod sandbox's image: skiff-pause.
pub const PAUSE: &str = "localhost/skiff/pause:1";
/// busybox and netprobe; by default `netprobe serve 8080` (HTTP: the pod's
/// hostname on `/`, "ok" on `/healthz`).
pub const DEMO: &str = "localhost/skiff/demo:1";
/// The port the demo image serves on by default.
pub const DEMO_PORT: u16 = 8080;

/// `<bin dir>/images/<name>.oci.tar` for one of the images above.
pub fn archive(image: &str) -> PathBuf {
    let file = match image {
        PAUSE => "pause.oci.tar",
        DEMO => "demo.oci.tar",
        other => panic!("no archive is built for image {other}"),
    };
    let path = crate::bin_dir().join("images").join(file);
    assert!(
        path.exists(),
        "{} not found: `cargo xtask build` writes the image archives",
        path.display()
    );
    path
}
