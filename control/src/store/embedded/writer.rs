//! The single writer: one thread owns every write transaction.
//!
//! Requests queue on a channel; the writer takes all that are waiting (up to
//! a batch), applies them in order in one transaction, each with its own
//! revision and its own compare-and-swap outcome, and commits once. One fsync
//! thus acknowledges a whole burst (group commit), revisions are assigned in
//! commit order, and events are broadcast in revision order after the commit
//! is durable, before any caller hears back. Compaction runs here too, in
//! short steps between batches.

use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::Instant;

use redb::{ReadableTable, Table, WriteTransaction};
use tokio::sync::oneshot;

use crate::store::{Error, Event, KeyValue, Result};

use super::Shared;
use super::compact::{Compactor, compact_step};
use super::record::Record;
use super::schema::{CURRENT, EngineResult, HISTORY, LATEST, LOG, META, load_latest};

/// Writes committed together at most; bounds the time a batch holds the
/// write lock and the memory its events take.
const MAX_BATCH: usize = 256;

pub(super) enum Request {
    Write {
        op: WriteOp,
        reply: oneshot::Sender<Result<KeyValue>>,
    },
    Compact {
        revision: i64,
        reply: oneshot::Sender<Result<()>>,
    },
}

pub(super) enum WriteOp {
    Create {
        key: String,
        value: Vec<u8>,
    },
    Update {
        key: String,
        value: Vec<u8>,
        expected: i64,
    },
    Delete {
        key: String,
        expected: Option<i64>,
    },
}

type Write = (WriteOp, oneshot::Sender<Result<KeyValue>>);

pub(super) struct Writer {
    pub shared: Arc<Shared>,
    pub requests: mpsc::Receiver<Request>,
    pub compactor: Compactor,
    pub current: i64,
    pub compacted: i64,
}

impl Writer {
    /// Serves requests until every sender is gone (the store was dropped).
    pub fn run(mut self) {
        loop {
            let next = match self.compactor.wait(Instant::now(), self.compacted) {
                Some(timeout) => match self.requests.recv_timeout(timeout) {
                    Ok(request) => Some(request),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                },
                None => match self.requests.recv() {
                    Ok(request) => Some(request),
                    Err(mpsc::RecvError) => return,
                },
            };
            let mut writes = Vec::new();
            if let Some(request) = next {
                self.accept(request, &mut writes);
                while writes.len() < MAX_BATCH {
                    match self.requests.try_recv() {
                        Ok(request) => self.accept(request, &mut writes),
                        Err(_) => break,
                    }
                }
            }
            if !writes.is_empty() {
                self.commit(writes);
            }
            self.compactor
                .on_timer(Instant::now(), self.current, self.compacted);
            if let Some(target) = self.compactor.target(self.compacted) {
                self.compact(target);
            }
        }
    }

    fn accept(&mut self, request: Request, writes: &mut Vec<Write>) {
        match request {
            Request::Write { op, reply } => writes.push((op, reply)),
            Request::Compact { revision, reply } => {
                self.compactor
                    .request(revision, self.current, self.compacted, reply)
            }
        }
    }

    fn commit(&mut self, writes: Vec<Write>) {
        let (ops, replies): (Vec<_>, Vec<_>) = writes.into_iter().unzip();
        match self.apply(ops) {
            Ok((outcomes, events, revision)) => {
                self.current = revision;
                self.shared.current.store(revision, Ordering::SeqCst);
                for event in events {
                    // No receivers is fine: nobody is watching.
                    let _ = self.shared.events.send(Arc::new(event));
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "store write failed");
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }

    /// Applies a batch in one transaction: per write an outcome, the events
    /// of those that succeeded, and the revision after the batch. An engine
    /// error fails the whole batch, and nothing of it is kept.
    fn apply(&self, ops: Vec<WriteOp>) -> Result<(Vec<Result<KeyValue>>, Vec<Event>, i64)> {
        let txn = self.shared.db.begin_write().engine()?;
        let mut revision = self.current;
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut events = Vec::new();
        {
            let mut tables = Tables::open(&txn)?;
            for op in ops {
                match tables.apply(revision + 1, op)? {
                    Ok(event) => {
                        revision += 1;
                        outcomes.push(Ok(event.kv.clone()));
                        events.push(event);
                    }
                    Err(refused) => outcomes.push(Err(refused)),
                }
            }
            if revision != self.current {
                tables.meta.insert(CURRENT, revision).engine()?;
            }
        }
        if revision == self.current {
            // Every write was refused: nothing to make durable.
            txn.abort().engine()?;
        } else {
            txn.commit().engine()?;
        }
        Ok((outcomes, events, revision))
    }

    fn compact(&mut self, target: i64) {
        match compact_step(&self.shared.db, self.compacted, target) {
            Ok(reached) => {
                self.compacted = reached;
                self.shared.compacted.store(reached, Ordering::SeqCst);
                self.compactor.progressed(reached);
            }
            Err(err) => {
                tracing::warn!(error = %err, target, "store compaction failed");
                self.compactor.failed(&err);
            }
        }
    }
}

struct Tables<'txn> {
    log: Table<'txn, i64, &'static [u8]>,
    history: Table<'txn, (&'static str, i64), ()>,
    latest: Table<'txn, &'static str, i64>,
    meta: Table<'txn, &'static str, i64>,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        Ok(Tables {
            log: txn.open_table(LOG).engine()?,
            history: txn.open_table(HISTORY).engine()?,
            latest: txn.open_table(LATEST).engine()?,
            meta: txn.open_table(META).engine()?,
        })
    }

    /// Appends one write at `revision`: the outer error is the engine's,
    /// the inner one the write's own refusal (exists, conflict, not found).
    fn apply(&mut self, revision: i64, op: WriteOp) -> Result<Result<Event>> {
        match op {
            WriteOp::Create { key, value } => {
                if self.latest.get(key.as_str()).engine()?.is_some() {
                    return Ok(Err(Error::AlreadyExists));
                }
                let record = Record {
                    key: &key,
                    value: &value,
                    create_revision: revision,
                    prev_revision: 0,
                    deleted: false,
                };
                self.append(revision, &record)?;
                Ok(Ok(record.to_event(revision, None)))
            }
            WriteOp::Update {
                key,
                value,
                expected,
            } => {
                let current = match self.current(&key, Some(expected))? {
                    Ok(current) => current,
                    Err(refused) => return Ok(Err(refused)),
                };
                let record = Record {
                    key: &key,
                    value: &value,
                    create_revision: current.create_revision,
                    prev_revision: current.mod_revision,
                    deleted: false,
                };
                self.append(revision, &record)?;
                Ok(Ok(record.to_event(revision, Some(current))))
            }
            WriteOp::Delete { key, expected } => {
                let current = match self.current(&key, expected)? {
                    Ok(current) => current,
                    Err(refused) => return Ok(Err(refused)),
                };
                let record = Record {
                    key: &key,
                    value: &current.value,
                    create_revision: current.create_revision,
                    prev_revision: current.mod_revision,
                    deleted: true,
                };
                self.append(revision, &record)?;
                // The record borrows the deleted value; the event then takes it.
                let mut event = record.to_event(revision, None);
                event.prev = Some(current);
                Ok(Ok(event))
            }
        }
    }

    /// The live version of `key`, if it is at the expected revision.
    fn current(&self, key: &str, expected: Option<i64>) -> Result<Result<KeyValue>> {
        Ok(match load_latest(&self.latest, &self.log, key)? {
            None => Err(Error::NotFound),
            Some(kv) if expected.is_some_and(|e| e != kv.mod_revision) => {
                Err(Error::Conflict { current: Some(kv) })
            }
            Some(kv) => Ok(kv),
        })
    }

    fn append(&mut self, revision: i64, record: &Record<'_>) -> Result<()> {
        self.log
            .insert(revision, record.encode().as_slice())
            .engine()?;
        self.history.insert((record.key, revision), ()).engine()?;
        if record.deleted {
            self.latest.remove(record.key).engine()?;
        } else {
            self.latest.insert(record.key, revision).engine()?;
        }
        Ok(())
    }
}
