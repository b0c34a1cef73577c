//! One entry of the revision log, and its encoding on disk.
//!
//! The format is ours rather than a redb tuple so that it can grow (a
//! version byte leads) without depending on how redb lays out tuples.

use crate::store::{Error, Event, EventKind, KeyValue, Result};

const VERSION: u8 = 1;
const DELETED: u8 = 1;
const HEADER: usize = 1 + 1 + 8 + 8 + 4;

/// A write as the log keeps it, at the revision it is stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Record<'a> {
    pub key: &'a str,
    /// For a deletion: the value that was deleted.
    pub value: &'a [u8],
    pub create_revision: i64,
    /// Revision of the version this write replaced; 0 for a creation.
    pub prev_revision: i64,
    pub deleted: bool,
}

impl<'a> Record<'a> {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.key.len() + self.value.len());
        out.push(VERSION);
        out.push(if self.deleted { DELETED } else { 0 });
        out.extend_from_slice(&self.create_revision.to_le_bytes());
        out.extend_from_slice(&self.prev_revision.to_le_bytes());
        let key_len = u32::try_from(self.key.len()).expect("keys are far shorter than 4 GiB");
        out.extend_from_slice(&key_len.to_le_bytes());
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(self.value);
        out
    }

    /// Decodes a record stored at `revision` (named in errors).
    pub fn decode(revision: i64, bytes: &'a [u8]) -> Result<Self> {
        let corrupt = |what: &str| Error::Internal(format!("log record {revision}: {what}"));
        if bytes.len() < HEADER {
            return Err(corrupt("truncated header"));
        }
        if bytes[0] != VERSION {
            return Err(corrupt(&format!("unknown format version {}", bytes[0])));
        }
        let i64_at = |at: usize| i64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let key_len = u32::from_le_bytes(bytes[18..22].try_into().expect("4 bytes")) as usize;
        let key_end = HEADER
            .checked_add(key_len)
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| corrupt("key overruns the record"))?;
        let key = std::str::from_utf8(&bytes[HEADER..key_end])
            .map_err(|_| corrupt("key is not UTF-8"))?;
        Ok(Record {
            key,
            value: &bytes[key_end..],
            create_revision: i64_at(2),
            prev_revision: i64_at(10),
            deleted: bytes[1] & DELETED != 0,
        })
    }

    /// The key-value this record describes, stored at `revision`.
    pub fn to_kv(self, revision: i64) -> KeyValue {
        KeyValue {
            key: self.key.to_owned(),
            value: self.value.to_vec(),
            create_revision: self.create_revision,
            mod_revision: revision,
        }
    }

    /// The event this record stands for, given the version it replaced.
    pub fn to_event(self, revision: i64, prev: Option<KeyValue>) -> Event {
        Event {
            kind: if self.deleted {
                EventKind::Delete
            } else {
                EventKind::Put
            },
            kv: self.to_kv(revision),
            prev,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let record = Record {
            key: "/registry/pods/default/web-0",
            value: b"{\"kind\":\"Pod\"}",
            create_revision: 7,
            prev_revision: 9,
            deleted: true,
        };
        let bytes = record.encode();
        assert_eq!(Record::decode(10, &bytes).unwrap(), record);
    }

    #[test]
    fn rejects_damage_with_the_revision_named() {
        let bytes = Record {
            key: "k",
            value: b"",
            create_revision: 1,
            prev_revision: 0,
            deleted: false,
        }
        .encode();
        let err = Record::decode(42, &bytes[..HEADER - 1]).unwrap_err();
        assert!(err.to_string().contains("log record 42"), "{err}");
        let mut long_key = bytes.clone();
        long_key[18] = 200;
        assert!(Record::decode(42, &long_key).is_err());
    }
}
