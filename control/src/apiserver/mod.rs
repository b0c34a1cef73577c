//! The Kubernetes API over the store. So far: which resources are served, how
//! clients discover them, the cluster's certificates, authentication, and the
//! HTTPS server with health, version and discovery.

pub mod auth;
pub mod discovery;
pub mod pki;
pub mod registry;
pub mod resources;
pub mod routes;
pub mod serve;
pub mod status;
