//! The control plane. So far: the store beneath the API server (an embedded,
//! crash-safe engine, or etcd), behind one trait.

pub mod store;
