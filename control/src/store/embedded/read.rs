//! Reads from one consistent snapshot of the database.
//!
//! A redb read transaction sees the state of one commit and never blocks the
//! writer, so a list, its revision and its `more` flag always agree.

use std::ops::Bound;

use redb::{Database, ReadOnlyTable, ReadableDatabase};

use crate::store::{Error, Event, KeyValue, ListOptions, ListResult, Result};

use super::record::Record;
use super::schema::{
    COMPACTED, CURRENT, EngineResult, HISTORY, LATEST, LOG, META, load, load_latest, read_meta,
};

pub(super) struct Snapshot {
    log: ReadOnlyTable<i64, &'static [u8]>,
    history: ReadOnlyTable<(&'static str, i64), ()>,
    latest: ReadOnlyTable<&'static str, i64>,
    pub current: i64,
    pub compacted: i64,
}

/// A slice of the log read for a watch.
pub(super) struct Changes {
    /// Changes under the prefix, in revision order.
    pub events: Vec<Event>,
    /// Every revision up to this one has been looked at.
    pub scanned_to: i64,
    /// Whether `scanned_to` is the snapshot's current revision.
    pub caught_up: bool,
}

impl Snapshot {
    pub fn open(db: &Database) -> Result<Self> {
        let txn = db.begin_read().engine()?;
        let meta = txn.open_table(META).engine()?;
        Ok(Snapshot {
            log: txn.open_table(LOG).engine()?,
            history: txn.open_table(HISTORY).engine()?,
            latest: txn.open_table(LATEST).engine()?,
            current: read_meta(&meta, CURRENT)?,
            compacted: read_meta(&meta, COMPACTED)?,
        })
    }

    pub fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        load_latest(&self.latest, &self.log, key)
    }

    pub fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListResult> {
        let revision = match options.revision {
            None | Some(0) => self.current,
            Some(r) if r > self.current => return Err(Error::FutureRevision),
            Some(r) if r < self.compacted => {
                return Err(Error::Compacted {
                    compacted: self.compacted,
                });
            }
            Some(r) => r,
        };
        let limit = options.limit.filter(|&l| l > 0).unwrap_or(usize::MAX);
        // A start key before the prefix would only walk keys outside it.
        let start_after = options.start_after.as_deref().filter(|s| *s >= prefix);
        let mut page = Page {
            items: Vec::new(),
            limit,
            more: false,
        };
        if revision == self.current {
            self.list_latest(prefix, start_after, &mut page)?;
        } else {
            self.list_at(prefix, start_after, revision, &mut page)?;
        }
        Ok(ListResult {
            items: page.items,
            revision,
            more: page.more,
        })
    }

    /// The live keys, straight from the index.
    fn list_latest(&self, prefix: &str, start_after: Option<&str>, page: &mut Page) -> Result<()> {
        let lower = start_after.map_or(Bound::Included(prefix), Bound::Excluded);
        for entry in self
            .latest
            .range::<&str>((lower, Bound::Unbounded))
            .engine()?
        {
            let (key, revision) = entry.engine()?;
            if !key.value().starts_with(prefix) {
                break;
            }
            let kv = super::schema::load(&self.log, revision.value())?.ok_or_else(|| {
                Error::Internal(format!(
                    "index names revision {} which the log lacks",
                    revision.value()
                ))
            })?;
            if !page.push(kv) {
                break;
            }
        }
        Ok(())
    }

    /// The state at an older revision: for each key, its last version at or
    /// before `revision`, unless that version is a deletion.
    fn list_at(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        revision: i64,
        page: &mut Page,
    ) -> Result<()> {
        let lower = match start_after {
            Some(key) => Bound::Excluded((key, i64::MAX)),
            None => Bound::Included((prefix, i64::MIN)),
        };
        let mut key = String::new();
        let mut version: Option<i64> = None;
        for entry in self.history.range((lower, Bound::Unbounded)).engine()? {
            let (entry, _) = entry.engine()?;
            let (k, rev) = entry.value();
            if !k.starts_with(prefix) {
                break;
            }
            if k != key {
                if !self.push_version(version.take(), page)? {
                    return Ok(());
                }
                key.clear();
                key.push_str(k);
            }
            // Versions of a key come in revision order.
            if rev <= revision {
                version = Some(rev);
            }
        }
        self.push_version(version, page)?;
        Ok(())
    }

    /// Adds the version at `revision` if it is live; false once the page is full.
    fn push_version(&self, revision: Option<i64>, page: &mut Page) -> Result<bool> {
        let Some(revision) = revision else {
            return Ok(true);
        };
        let bytes = self.log.get(revision).engine()?.ok_or_else(|| {
            Error::Internal(format!(
                "history names revision {revision} which the log lacks"
            ))
        })?;
        let record = Record::decode(revision, bytes.value())?;
        if record.deleted {
            return Ok(true);
        }
        Ok(page.push(record.to_kv(revision)))
    }

    /// Up to `max_records` log records after revision `after`, keeping the
    /// changes under `prefix`. The caller checks `after` against compaction.
    pub fn changes(&self, prefix: &str, after: i64, max_records: usize) -> Result<Changes> {
        let mut events = Vec::new();
        let mut scanned = 0;
        let mut last = after;
        if after < self.current {
            for entry in self.log.range((after + 1)..=self.current).engine()? {
                let (revision, bytes) = entry.engine()?;
                let revision = revision.value();
                let record = Record::decode(revision, bytes.value())?;
                if record.key.starts_with(prefix) {
                    let prev = match record.prev_revision {
                        0 => None,
                        prev => load(&self.log, prev)?,
                    };
                    events.push(record.to_event(revision, prev));
                }
                last = revision;
                scanned += 1;
                if scanned == max_records {
                    break;
                }
            }
        }
        let caught_up = scanned < max_records;
        Ok(Changes {
            events,
            scanned_to: if caught_up {
                after.max(self.current)
            } else {
                last
            },
            caught_up,
        })
    }
}

struct Page {
    items: Vec<KeyValue>,
    limit: usize,
    more: bool,
}

impl Page {
    /// Adds an item, or notes that more follow; false once full.
    fn push(&mut self, kv: KeyValue) -> bool {
        if self.items.len() == self.limit {
            self.more = true;
            return false;
        }
        self.items.push(kv);
        true
    }
}
