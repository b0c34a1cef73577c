//! Compaction: forgetting history that no reader may ask for any more.
//!
//! Compacting to revision `C` keeps, for every key, its last version at or
//! before `C` (unless that version is a deletion) and everything after `C`,
//! so reads at `C` or later and watches from `C` or later still work. It
//! runs in steps of [`STEP`] log records, each its own transaction: every
//! step is itself a complete compaction to the last revision it examined,
//! so writes queued behind it wait milliseconds and a crash between steps
//! leaves a consistent store.

use std::time::{Duration, Instant};

use redb::{Database, ReadableTable};
use tokio::sync::oneshot;

use crate::store::{Error, Result};

use super::CompactionPolicy;
use super::record::Record;
use super::schema::{COMPACTED, EngineResult, HISTORY, LOG, META};

/// Log records one compaction step examines.
const STEP: usize = 1000;

/// Compacts from `compacted` towards `target` by at most one step; returns
/// the revision reached, now the compacted revision.
pub(super) fn compact_step(db: &Database, compacted: i64, target: i64) -> Result<i64> {
    let txn = db.begin_write().engine()?;
    let reached = {
        let mut log = txn.open_table(LOG).engine()?;
        let mut history = txn.open_table(HISTORY).engine()?;
        let mut step = Vec::with_capacity(STEP);
        for entry in log.range((compacted + 1)..=target).engine()? {
            let (revision, bytes) = entry.engine()?;
            let record = Record::decode(revision.value(), bytes.value())?;
            step.push((revision.value(), record.key.to_owned(), record.deleted));
            if step.len() == STEP {
                break;
            }
        }
        let reached = match step.last() {
            Some(&(last, _, _)) if step.len() == STEP => last,
            _ => target,
        };
        for (revision, key, deleted) in step {
            // Whatever came before this version is superseded by it.
            let older = history
                .range((key.as_str(), i64::MIN)..(key.as_str(), revision))
                .engine()?
                .map(|entry| entry.map(|(k, _)| k.value().1))
                .collect::<Result<Vec<i64>, _>>()
                .engine()?;
            for old in older {
                history.remove((key.as_str(), old)).engine()?;
                log.remove(old).engine()?;
            }
            // A deletion at or before the compacted revision is the absence
            // of the key: nothing left to remember.
            if deleted {
                history.remove((key.as_str(), revision)).engine()?;
                log.remove(revision).engine()?;
            }
        }
        txn.open_table(META)
            .engine()?
            .insert(COMPACTED, reached)
            .engine()?;
        reached
    };
    txn.commit().engine()?;
    Ok(reached)
}

/// When to compact: explicit requests and the automatic policy.
pub(super) struct Compactor {
    policy: CompactionPolicy,
    next_run: Option<Instant>,
    /// The current revision at the previous automatic run: the next run
    /// compacts no further, so history always spans one interval.
    revision_at_last_run: i64,
    target: i64,
    waiting: Vec<(i64, oneshot::Sender<Result<()>>)>,
}

impl Compactor {
    pub fn new(policy: CompactionPolicy, now: Instant, current: i64) -> Self {
        Compactor {
            next_run: policy.every.map(|every| now + every),
            policy,
            revision_at_last_run: current,
            target: 0,
            waiting: Vec::new(),
        }
    }

    /// How long the writer may wait for requests: zero while a compaction
    /// is under way, until the next automatic run otherwise, or forever.
    pub fn wait(&self, now: Instant, compacted: i64) -> Option<Duration> {
        if self.target > compacted {
            return Some(Duration::ZERO);
        }
        self.next_run.map(|at| at.saturating_duration_since(now))
    }

    /// An explicit compaction, answered once history up to `revision` is gone.
    pub fn request(
        &mut self,
        revision: i64,
        current: i64,
        compacted: i64,
        reply: oneshot::Sender<Result<()>>,
    ) {
        if revision > current {
            let _ = reply.send(Err(Error::FutureRevision));
        } else if revision <= compacted {
            let _ = reply.send(Err(Error::Compacted { compacted }));
        } else {
            self.target = self.target.max(revision);
            self.waiting.push((revision, reply));
        }
    }

    /// Starts an automatic compaction when one is due.
    pub fn on_timer(&mut self, now: Instant, current: i64, compacted: i64) {
        let (Some(at), Some(every)) = (self.next_run, self.policy.every) else {
            return;
        };
        if now < at {
            return;
        }
        let target = self
            .revision_at_last_run
            .min(current - self.policy.keep_revisions);
        if target > compacted {
            self.target = self.target.max(target);
        }
        self.revision_at_last_run = current;
        self.next_run = Some(now + every);
    }

    /// The revision to compact to, if there is work left.
    pub fn target(&self, compacted: i64) -> Option<i64> {
        (self.target > compacted).then_some(self.target)
    }

    pub fn progressed(&mut self, compacted: i64) {
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(revision, _)| *revision <= compacted);
        self.waiting = waiting;
        for (_, reply) in done {
            let _ = reply.send(Ok(()));
        }
    }

    /// Gives up the compaction under way; the next automatic run retries.
    pub fn failed(&mut self, err: &Error) {
        self.target = 0;
        for (_, reply) in self.waiting.drain(..) {
            let _ = reply.send(Err(err.clone()));
        }
    }
}
