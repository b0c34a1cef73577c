//! The node agent: Kubernetes objects in, eBPF map entries out.

pub mod agent;
pub mod cni;
pub mod config;
pub mod datapath;
pub mod dbg;
pub mod desired;
pub mod http;
pub mod maps;
pub mod net;
pub mod netlink;
pub mod source;
pub mod writer;
