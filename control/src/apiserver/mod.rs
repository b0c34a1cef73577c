//! The Kubernetes API over the store. So far: which resources are served, how
//! clients discover them, the cluster's certificates and authentication.

pub mod auth;
pub mod discovery;
pub mod pki;
pub mod registry;
