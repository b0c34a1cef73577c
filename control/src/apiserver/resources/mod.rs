//! One set of handlers for every served resource: get, list (paged), watch,
//! create, replace and delete, over the store.

mod handlers;
mod object;
mod path;
mod watch;

pub use handlers::handle;
pub use path::{Target, parse};
