//! CNI versions: what this plugin speaks, and the VERSION answer.

use serde::Serialize;

use super::error::{CniError, CniResult, code};

pub const CURRENT: &str = "1.0.0";
pub const SUPPORTED: [&str; 4] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"];

#[derive(Serialize)]
pub struct VersionInfo {
    #[serde(rename = "cniVersion")]
    pub cni_version: &'static str,
    #[serde(rename = "supportedVersions")]
    pub supported_versions: [&'static str; 4],
}

pub fn info() -> VersionInfo {
    VersionInfo {
        cni_version: CURRENT,
        supported_versions: SUPPORTED,
    }
}

/// The config's version, if this plugin speaks it.
pub fn check(version: &str) -> CniResult<()> {
    if SUPPORTED.contains(&version) {
        Ok(())
    } else {
        Err(CniError::new(
            code::INCOMPATIBLE_VERSION,
            format!(
                "cniVersion {version:?} is not supported (supported: {})",
                SUPPORTED.join(", ")
            ),
        ))
    }
}

/// Before 1.0.0 a result's addresses carried their IP version.
pub fn ip_version_field(version: &str) -> bool {
    version.starts_with("0.")
}
