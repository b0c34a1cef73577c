//! What the loops share: label selectors, controller references and the
//! claiming of objects, the owners an event concerns, expectations of pod
//! creations and deletions, pod templates and their hashes, timestamps,
//! and the glue that runs a reconciler over watch streams.

pub mod claim;
pub mod events;
pub mod expectations;
pub mod informer;
pub mod intstr;
pub mod owners;
pub mod pod_state;
pub mod pod_writes;
pub mod run;
pub mod selector;
pub mod template;
pub mod time;
