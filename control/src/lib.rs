//! The control plane. So far: the store (an embedded, crash-safe engine, or
//! etcd, behind one trait) and the API server's registry and discovery.

pub mod apiserver;
pub mod store;
