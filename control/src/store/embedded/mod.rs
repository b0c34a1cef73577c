//! The embedded store: a revision log in a redb database in a data directory.
//!
//! Why redb. redb is a pure-Rust ACID store of copy-on-write B-trees. A
//! commit writes new pages beside the old ones, then switches to them
//! through a checksummed commit slot and fsyncs before returning
//! (`Durability::Immediate`, its default and what we use): an acknowledged
//! write is on disk, and a crash at any point leaves the previous or the new
//! commit, never a torn one. Reopening after a crash verifies checksums and
//! rebuilds the allocator from the committed trees; there is no journal to
//! replay and nothing for an operator to do. Its concurrency is exactly what
//! the store needs: one write transaction at a time, and readers on MVCC
//! snapshots that never block it. SQLite, as kine uses it, would be as safe
//! (WAL, `synchronous=FULL`) but brings a C library into the build, a SQL
//! layer in front of what are three ordered maps here, and connections to
//! pool; redb gives the ordered maps directly.
//!
//! Layout, as in kine: every write appends a record to a log keyed by
//! revision, and indexes name the latest revision of each key and every
//! version still kept (see [`schema`]). One thread performs all writes
//! ([`writer`]), so revisions are strictly increasing and assigned in commit
//! order; reads run concurrently on snapshots ([`read`]). Watches read
//! history from the log and then follow an in-process broadcast of
//! committed events ([`watch`]). History is compacted in the background
//! ([`compact`]), on the schedule of [`CompactionPolicy`].

mod compact;
mod lock;
mod read;
mod record;
mod schema;
mod watch;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redb::{Builder, Database};
use tokio::sync::{broadcast, oneshot};

use super::{Error, Event, KeyValue, ListOptions, ListResult, Result, Store, WatchStream};
use compact::Compactor;
use lock::DirLock;
use read::Snapshot;
use schema::{COMPACTED, CURRENT, EngineResult, HISTORY, LATEST, LOG, META, read_meta};
use writer::{Request, WriteOp, Writer};

/// The database file inside the data directory.
const DB_FILE: &str = "store.redb";

/// redb's own page cache (its default is 1 GiB); the kernel caches the
/// file as well, and a small control plane should stay small.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// When history is compacted automatically.
///
/// Every `every`, history is compacted up to the revision that was current
/// at the previous run, but never within the last `keep_revisions`
/// revisions: a watcher or a paged list always has at least one interval
/// and at least `keep_revisions` revisions of history behind it. This is
/// what kube-apiserver asks of etcd (compact every 5 minutes to the
/// revision of 5 minutes before), with a floor as kine has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// `None` disables automatic compaction; [`Store::compact`] still works.
    pub every: Option<Duration>,
    pub keep_revisions: i64,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy {
            every: Some(Duration::from_secs(5 * 60)),
            keep_revisions: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedOptions {
    pub compaction: CompactionPolicy,
    /// Committed events buffered for watchers; one that falls further
    /// behind catches up from the log instead (see [`watch`]).
    pub watch_buffer: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            compaction: CompactionPolicy::default(),
            watch_buffer: 1024,
        }
    }
}

/// What the writer thread, readers and watches share.
struct Shared {
    db: Database,
    events: broadcast::Sender<Arc<Event>>,
    /// Mirrors of the committed meta values, for cheap reads.
    current: AtomicI64,
    compacted: AtomicI64,
}

/// The default store, on disk in a data directory.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    dir: PathBuf,
    // Last: released only after the database is closed.
    _lock: DirLock,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`, with default options.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with(dir, EmbeddedOptions::default())
    }

    pub fn open_with(dir: &Path, options: EmbeddedOptions) -> Result<Self> {
        prepare_dir(dir)?;
        let lock = DirLock::acquire(dir)?;
        let path = dir.join(DB_FILE);
        let db = Builder::new()
            .set_cache_size(CACHE_BYTES)
            .set_repair_callback(|session| {
                tracing::info!(
                    progress = session.progress(),
                    "repairing the store after an unclean shutdown"
                );
            })
            .create(&path)
            .map_err(|e| {
                Error::Unavailable(format!("cannot open database {}: {e}", path.display()))
            })?;
        let (current, compacted) = init(&db)?;
        let (events, _) = broadcast::channel(options.watch_buffer.max(1));
        let shared = Arc::new(Shared {
            db,
            events,
            current: AtomicI64::new(current),
            compacted: AtomicI64::new(compacted),
        });
        let (requests, queue) = mpsc::channel();
        let writer = Writer {
            shared: shared.clone(),
            requests: queue,
            compactor: Compactor::new(options.compaction, Instant::now(), current),
            current,
            compacted,
        };
        let writer = std::thread::Builder::new()
            .name("store-writer".to_owned())
            .spawn(move || writer.run())
            .map_err(|e| Error::Internal(format!("cannot start the store writer: {e}")))?;
        Ok(EmbeddedStore {
            shared,
            requests: Some(requests),
            writer: Some(writer),
            dir: dir.to_owned(),
            _lock: lock,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Snapshot) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || query(&Snapshot::open(&shared.db)?))
            .await
            .map_err(|e| Error::Internal(format!("store read task: {e}")))?
    }

    fn send(&self, request: Request) -> Result<()> {
        self.requests
            .as_ref()
            .and_then(|requests| requests.send(request).ok())
            .ok_or_else(writer_stopped)
    }

    async fn write(&self, op: WriteOp) -> Result<KeyValue> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Write { op, reply })?;
        answer.await.map_err(|_| writer_stopped())?
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the queue stops the writer once it has answered what is
        // queued; joining it means the database is closed when drop returns.
        drop(self.requests.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn current_revision(&self) -> Result<i64> {
        Ok(self.shared.current.load(Ordering::SeqCst))
    }

    async fn compacted_revision(&self) -> Result<i64> {
        Ok(self.shared.compacted.load(Ordering::SeqCst))
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        // One key is a few cached pages: read in place. Handing it to the
        // blocking pool cost two thread switches per request, more than the
        // read (lists, which may be long, still go there).
        Snapshot::open(&self.shared.db)?.get(key)
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        let prefix = prefix.to_owned();
        self.read(move |snapshot| snapshot.list(&prefix, &options))
            .await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        let key = key.to_owned();
        self.write(WriteOp::Create { key, value }).await
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected_mod_revision: i64,
    ) -> Result<KeyValue> {
        let key = key.to_owned();
        self.write(WriteOp::Update {
            key,
            value,
            expected: expected_mod_revision,
        })
        .await
    }

    async fn delete(&self, key: &str, expected_mod_revision: Option<i64>) -> Result<KeyValue> {
        let key = key.to_owned();
        self.write(WriteOp::Delete {
            key,
            expected: expected_mod_revision,
        })
        .await
    }

    async fn watch(&self, prefix: &str, from_revision: i64) -> Result<WatchStream> {
        // Subscribe before anything is read, so the catch-up cannot leave a gap.
        let live = self.shared.events.subscribe();
        let compacted = self.shared.compacted.load(Ordering::SeqCst);
        if from_revision < compacted {
            return Err(Error::Compacted { compacted });
        }
        Ok(watch::stream(
            Arc::downgrade(&self.shared),
            live,
            prefix.to_owned(),
            from_revision,
        ))
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Compact { revision, reply })?;
        answer.await.map_err(|_| writer_stopped())?
    }
}

fn writer_stopped() -> Error {
    Error::Unavailable("the store's writer has stopped".to_owned())
}

fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Unavailable(format!(
            "data directory {} is not a directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Unavailable(format!(
            "cannot create data directory {}: {e}",
            dir.display()
        ))
    })
}

/// Creates the tables on first open; returns the current and compacted
/// revisions.
fn init(db: &Database) -> Result<(i64, i64)> {
    let txn = db.begin_write().engine()?;
    let revisions = {
        txn.open_table(LOG).engine()?;
        txn.open_table(HISTORY).engine()?;
        txn.open_table(LATEST).engine()?;
        let meta = txn.open_table(META).engine()?;
        (read_meta(&meta, CURRENT)?, read_meta(&meta, COMPACTED)?)
    };
    txn.commit().engine()?;
    Ok(revisions)
}
