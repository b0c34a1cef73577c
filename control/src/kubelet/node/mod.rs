//! The kubelet's Node: registration, the status it reports and the Lease it
//! renews.

pub mod host;
pub mod lease;
pub mod status;

pub use status::NodeReporter;
