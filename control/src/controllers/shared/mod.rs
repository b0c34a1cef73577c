//! What the loops share: label selectors, controller references and the
//! claiming of objects, timestamps, and the glue that runs a reconciler over
//! watch streams.

pub mod claim;
pub mod run;
pub mod selector;
pub mod time;
