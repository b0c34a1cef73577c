//! Errors as the CNI specification has them: a code, a message and details,
//! printed as JSON on stdout with a non-zero exit.

use serde::Serialize;

/// Codes 1-99 are the specification's; 100 and up are this plugin's.
pub mod code {
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    pub const UNSUPPORTED_FIELD: u32 = 2;
    pub const UNKNOWN_CONTAINER: u32 = 3;
    pub const INVALID_CONFIG: u32 = 4;
    pub const IO_FAILURE: u32 = 5;
    pub const DECODE_FAILURE: u32 = 6;
    pub const INVALID_ENV: u32 = 7;
    pub const TRY_AGAIN_LATER: u32 = 11;
    /// Creating or configuring interfaces, addresses or routes failed.
    pub const NETLINK: u32 = 100;
    /// No free address left in the node's pod CIDR.
    pub const RANGE_EXHAUSTED: u32 = 101;
    /// CHECK found the pod's network not as ADD left it.
    pub const CHECK_FAILED: u32 = 102;
    /// Writing the endpoint map or attaching the tc program failed.
    pub const DATAPATH: u32 = 103;
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CniError {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    pub code: u32,
    pub msg: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl CniError {
    pub fn new(code: u32, msg: impl Into<String>) -> Self {
        Self {
            cni_version: super::version::CURRENT.into(),
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// The message, with the whole cause chain as details.
    pub fn with(code: u32, msg: impl Into<String>, cause: &anyhow::Error) -> Self {
        Self {
            details: format!("{cause:#}"),
            ..Self::new(code, msg)
        }
    }
}

impl std::fmt::Display for CniError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.msg, self.code)?;
        if !self.details.is_empty() {
            write!(f, ": {}", self.details)?;
        }
        Ok(())
    }
}

impl std::error::Error for CniError {}

pub type CniResult<T> = Result<T, CniError>;

/// Maps any error to one code, keeping its chain as details.
pub trait OrCode<T> {
    fn or_code(self, code: u32, msg: &str) -> CniResult<T>;
}

impl<T> OrCode<T> for anyhow::Result<T> {
    fn or_code(self, code: u32, msg: &str) -> CniResult<T> {
        self.map_err(|e| CniError::with(code, msg, &e))
    }
}
