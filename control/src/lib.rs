//! The control plane: the store (an embedded, crash-safe engine, or etcd,
//! behind one trait), the API server over it, and the reconciliation loops
//! and the scheduler that are its clients.

pub mod apiserver;
pub mod controllers;
pub mod kubelet;
pub mod scheduler;
pub mod store;
pub mod streaming;
