//! The Kubernetes API over the store. So far: which resources are served and
//! how clients discover them.

pub mod discovery;
pub mod registry;
