//! Pod networking end to end: the real `skiff-cni` invoked as a runtime
//! invokes it, against namespaces the tests make, and the real agents
//! routing pods of one node and across two, on the real kernel.

mod cni;
mod routing;
