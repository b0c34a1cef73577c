//! A node's socket-level Service load balancing, end to end: the real agent
//! programs the real kernel from manifests, and a client in a pod sees the
//! result through its sockets.

mod agent;
mod apiserver;
mod balance;
mod dbg;
mod endpoints;
