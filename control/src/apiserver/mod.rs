//! The Kubernetes API over the store. So far: which resources are served, how
//! clients discover them, the cluster's certificates, authentication, and the
//! HTTPS server with health, version and discovery.

pub mod allocate;
pub mod auth;
pub mod bootstrap;
pub mod defaults;
pub mod discovery;
pub mod kubelet;
pub mod openapi;
pub mod patch;
pub mod pki;
pub mod protobuf;
pub mod registry;
pub mod resources;
pub mod routes;
pub mod satokens;
pub mod select;
pub mod serve;
pub mod serviceaccount;
pub mod status;
pub mod table;
pub mod validation;
