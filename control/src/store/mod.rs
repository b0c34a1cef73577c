//! The cluster store: a revisioned, watchable key-value store.
//!
//! Everything above this module sees keys, opaque values, revisions and
//! watches, never the engine underneath. Two implementations exist:
//! [`EmbeddedStore`], on disk in a data directory (the default), and
//! [`EtcdStore`], for clusters that outgrow one machine.
//!
//! The model is etcd's: every successful write gets the next global revision
//! (strictly increasing, the first write is revision 1 in the embedded store;
//! etcd starts its count at 1 before any write, so there the first write
//! is 2). Revisions become objects' `resourceVersion`. History is kept until
//! it is compacted; reads and watches that need compacted history fail with
//! [`Error::Compacted`], which the API server turns into `410 Gone`.

pub mod conformance;
pub mod embedded;
pub mod etcd;

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Stream;

pub use embedded::{CompactionPolicy, EmbeddedOptions, EmbeddedStore};
pub use etcd::EtcdStore;

/// Compacts `store` every `every` up to the revision it was at one interval
/// earlier, so a watcher always has at least an interval of history: what
/// kube-apiserver does for etcd, whose own history otherwise grows forever.
/// Several API servers may run it on one etcd: compacting a revision twice
/// is refused by etcd and harmless.
pub fn spawn_compactor(store: std::sync::Arc<dyn Store>, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut previous: Option<i64> = None;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Some(rev) = previous
                && let Err(e) = store.compact(rev).await
                && !matches!(e, Error::Compacted { .. })
            {
                tracing::warn!(revision = rev, error = %e, "compaction failed; retrying next interval");
            }
            previous = store.current_revision().await.ok();
        }
    });
}

/// A key with its value and the revisions that created and last changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// Revision of the write that created this incarnation of the key.
    pub create_revision: i64,
    /// Revision of the last write to the key (for a deleted key as reported
    /// by [`Store::delete`] and delete events: the deletion's revision).
    pub mod_revision: i64,
}

/// How to read a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Read the state as of this revision; `None` or `Some(0)` is the latest.
    pub revision: Option<i64>,
    /// Return at most this many items (`None` or `Some(0)`: no limit).
    pub limit: Option<usize>,
    /// Start after this key (exclusive), to continue a paged list.
    pub start_after: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResult {
    /// Items sorted by key.
    pub items: Vec<KeyValue>,
    /// The revision the list is consistent at; pass it back as
    /// [`ListOptions::revision`] to read the next page from the same state.
    pub revision: i64,
    /// Whether more items follow the last one returned.
    pub more: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// For a put, the new value; for a delete, the last value, with
    /// `mod_revision` set to the deletion's revision.
    pub kv: KeyValue,
    /// The value before this change, if the key existed.
    pub prev: Option<KeyValue>,
}

impl Event {
    /// The revision of the change.
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision
    }
}

/// The changes under a prefix, in revision order.
///
/// The stream ends after yielding an error: a watcher that fell behind
/// history that has since been compacted gets [`Error::Compacted`] (and
/// relists, as Kubernetes clients do after `410 Gone`); a store that closed
/// or lost its engine gets [`Error::Unavailable`]. Events are shared: each
/// of many watchers of a prefix holds the same one.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Arc<Event>>> + Send>>;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("key not found")]
    NotFound,
    #[error("key already exists")]
    AlreadyExists,
    /// A compare-and-swap lost: the key changed since the expected revision.
    #[error("conflict: the key was modified (now at revision {})", current_revision(.current))]
    Conflict { current: Option<KeyValue> },
    /// The requested revision is older than the oldest kept history.
    #[error("revision has been compacted (compacted revision {compacted})")]
    Compacted { compacted: i64 },
    #[error("revision is in the future")]
    FutureRevision,
    /// The engine (disk, data directory, etcd) cannot serve the request.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store internal error: {0}")]
    Internal(String),
}

fn current_revision(current: &Option<KeyValue>) -> String {
    current
        .as_ref()
        .map_or_else(|| "none".to_owned(), |kv| kv.mod_revision.to_string())
}

/// A revisioned, watchable key-value store, shared as `Arc<dyn Store>`.
///
/// Every write returns once it is durable. Keys are strings such as
/// `/registry/services/default/web`; prefixes are plain string prefixes.
#[async_trait]
pub trait Store: Send + Sync {
    /// The revision of the last write (0 for an empty embedded store).
    async fn current_revision(&self) -> Result<i64>;

    /// History before this revision is gone (0 if never compacted).
    async fn compacted_revision(&self) -> Result<i64>;

    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Keys under `prefix`, sorted; at an old revision, the state as of it.
    /// Below the compacted revision: [`Error::Compacted`]; above the current
    /// one: [`Error::FutureRevision`].
    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult>;

    /// Creates `key`; [`Error::AlreadyExists`] if it is present.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue>;

    /// Replaces `key`'s value if its `mod_revision` is still
    /// `expected_mod_revision`: [`Error::Conflict`] otherwise, with the
    /// current value; [`Error::NotFound`] if it is absent.
    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected_mod_revision: i64,
    ) -> Result<KeyValue>;

    /// Deletes `key` (if at `expected_mod_revision`, when given); returns the
    /// deleted value with `mod_revision` set to the deletion's revision.
    async fn delete(&self, key: &str, expected_mod_revision: Option<i64>) -> Result<KeyValue>;

    /// Every change under `prefix` with a revision greater than
    /// `from_revision`, in order, without gaps or duplicates, then live
    /// changes. [`Error::Compacted`] if `from_revision` is below the
    /// compacted revision.
    async fn watch(&self, prefix: &str, from_revision: i64) -> Result<WatchStream>;

    /// Forgets history before `revision`, keeping the latest version of
    /// every live key. [`Error::Compacted`] if already compacted that far,
    /// [`Error::FutureRevision`] if `revision` is beyond the current one.
    async fn compact(&self, revision: i64) -> Result<()>;
}
