//! The tables in the database file, and how engine errors surface.
//!
//! - `log`: revision -> [`Record`](super::record::Record), one per write,
//!   deletions included; the source of history and watch catch-up.
//! - `history`: (key, revision) -> (), every version of a key still in the
//!   log, in order: lists at an old revision and compaction walk it.
//! - `latest`: key -> revision of its live version; deleted keys leave it.
//! - `meta`: the current revision (the log alone cannot tell once
//!   compaction has dropped deletions) and the compacted revision.

use redb::{ReadableTable, TableDefinition};

use crate::store::{Error, KeyValue, Result};

use super::record::Record;

pub(super) const LOG: TableDefinition<i64, &[u8]> = TableDefinition::new("log");
pub(super) const HISTORY: TableDefinition<(&str, i64), ()> = TableDefinition::new("history");
pub(super) const LATEST: TableDefinition<&str, i64> = TableDefinition::new("latest");
pub(super) const META: TableDefinition<&str, i64> = TableDefinition::new("meta");

pub(super) const CURRENT: &str = "current_revision";
pub(super) const COMPACTED: &str = "compacted_revision";

/// Turns redb's errors into the store's: a damaged file is internal, the
/// rest (I/O, a failed commit) leaves the store unavailable.
pub(super) trait EngineResult<T> {
    fn engine(self) -> Result<T>;
}

impl<T, E: Into<redb::Error>> EngineResult<T> for std::result::Result<T, E> {
    fn engine(self) -> Result<T> {
        self.map_err(|e| match e.into() {
            redb::Error::Corrupted(what) => Error::Internal(format!("database corrupted: {what}")),
            other => Error::Unavailable(format!("database: {other}")),
        })
    }
}

pub(super) fn read_meta(meta: &impl ReadableTable<&'static str, i64>, name: &str) -> Result<i64> {
    Ok(meta.get(name).engine()?.map_or(0, |v| v.value()))
}

/// The version of a key stored at `revision`, if the log still has it.
pub(super) fn load(
    log: &impl ReadableTable<i64, &'static [u8]>,
    revision: i64,
) -> Result<Option<KeyValue>> {
    match log.get(revision).engine()? {
        Some(bytes) => Ok(Some(
            Record::decode(revision, bytes.value())?.to_kv(revision),
        )),
        None => Ok(None),
    }
}

/// The live version of `key`.
pub(super) fn load_latest(
    latest: &impl ReadableTable<&'static str, i64>,
    log: &impl ReadableTable<i64, &'static [u8]>,
    key: &str,
) -> Result<Option<KeyValue>> {
    let Some(revision) = latest.get(key).engine()?.map(|v| v.value()) else {
        return Ok(None);
    };
    load(log, revision)?.map(Some).ok_or_else(|| {
        Error::Internal(format!(
            "index names revision {revision} for {key}, which the log lacks"
        ))
    })
}
