//! The store on etcd, for clusters that outgrow one machine.
//!
//! etcd already is a revisioned, watchable store: revisions are etcd's own,
//! compare-and-swap is a transaction comparing `mod_revision` (creation:
//! `create_revision == 0`), and a watch starts at `from_revision + 1` with
//! previous values. Keys may be put under a prefix, so several clusters can
//! share one etcd. Writes return once etcd has committed them (a quorum
//! has them in its fsync'd log).
//!
//! etcd counts its revision from 1 before any write, so the first write is
//! revision 2, and it keeps no record of the compacted revision that a range
//! could read; [`EtcdStore::compacted_revision`] asks a watch for it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, ConnectOptions, DeleteOptions, EventType,
    GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};

use super::{
    Error, Event, EventKind, KeyValue, ListOptions, ListResult, Result, Store, WatchStream,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

// gRPC status codes (fixed by the gRPC spec) that mean "try again later".
const GRPC_DEADLINE_EXCEEDED: i32 = 4;
const GRPC_UNAVAILABLE: i32 = 14;

pub struct EtcdStore {
    client: Client,
    keys: Keys,
}

/// Translation between the store's keys and etcd's.
#[derive(Clone)]
struct Keys {
    /// Prepended to every key; empty for none.
    prefix: String,
}

impl EtcdStore {
    /// Connects and checks that etcd answers within a few seconds.
    pub async fn connect(endpoints: &[String], prefix: Option<String>) -> Result<Self> {
        let shown = endpoints.join(",");
        let unreachable =
            |why: String| Error::Unavailable(format!("cannot reach etcd at {shown}: {why}"));
        if endpoints.is_empty() {
            return Err(Error::Unavailable("no etcd endpoints given".to_owned()));
        }
        let options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            // Notice a dead connection under a long watch.
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_keep_alive_while_idle(true);
        let connect = async {
            let mut client = Client::connect(endpoints, Some(options)).await?;
            client.status().await?;
            Ok::<_, etcd_client::Error>(client)
        };
        let client = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(EtcdStore {
            client,
            keys: Keys {
                prefix: prefix.unwrap_or_default(),
            },
        })
    }

    fn full_key(&self, key: &str) -> Vec<u8> {
        self.keys.full(key)
    }

    fn kv(&self, kv: &etcd_client::KeyValue) -> KeyValue {
        self.keys.kv(kv)
    }

    /// The `[start, end)` range of keys under `prefix`.
    fn range(&self, prefix: &str) -> (Vec<u8>, Vec<u8>) {
        let start = self.full_key(prefix);
        let end = prefix_end(&start);
        (non_empty(start), end)
    }

    /// Fills in the compacted revision, which etcd's range errors omit.
    async fn with_compacted(&self, err: Error) -> Error {
        match err {
            Error::Compacted { .. } => match self.compacted_revision().await {
                Ok(compacted) => Error::Compacted { compacted },
                Err(other) => other,
            },
            other => other,
        }
    }

    /// Checks that history after `revision` is still there.
    async fn check_history(&self, prefix: &str, revision: i64) -> Result<()> {
        let (start, end) = self.range(prefix);
        let options = GetOptions::new()
            .with_range(end)
            .with_count_only()
            .with_revision(revision.max(1));
        match self.client.kv_client().get(start, Some(options)).await {
            Ok(_) => Ok(()),
            Err(e) => match map_err(e) {
                Error::FutureRevision => Ok(()),
                err => Err(self.with_compacted(err).await),
            },
        }
    }

    async fn txn(&self, txn: Txn) -> Result<(bool, i64, Vec<TxnOpResponse>)> {
        let response = self.client.kv_client().txn(txn).await.map_err(map_err)?;
        let revision = response.header().map_or(0, |h| h.revision());
        Ok((response.succeeded(), revision, response.op_responses()))
    }

    /// The outcome of a transaction whose guard failed: the key's state
    /// from its `or_else` get.
    fn refused(&self, responses: &[TxnOpResponse]) -> Error {
        match responses.first() {
            Some(TxnOpResponse::Get(get)) => match get.kvs().first() {
                Some(kv) => Error::Conflict {
                    current: Some(self.kv(kv)),
                },
                None => Error::NotFound,
            },
            _ => Error::Internal("etcd answered a transaction without its get".to_owned()),
        }
    }
}

impl Keys {
    fn full(&self, key: &str) -> Vec<u8> {
        format!("{}{key}", self.prefix).into_bytes()
    }

    fn kv(&self, kv: &etcd_client::KeyValue) -> KeyValue {
        let key = kv.key();
        let key = key.strip_prefix(self.prefix.as_bytes()).unwrap_or(key);
        KeyValue {
            key: String::from_utf8_lossy(key).into_owned(),
            value: kv.value().to_vec(),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
        }
    }

    fn event(&self, event: &etcd_client::Event) -> Option<Event> {
        let kv = self.kv(event.kv()?);
        let prev = event.prev_kv().map(|prev| self.kv(prev));
        Some(match event.event_type() {
            EventType::Put => Event {
                kind: EventKind::Put,
                kv,
                prev,
            },
            // etcd's deletion carries only the key; report the last value.
            EventType::Delete => Event {
                kind: EventKind::Delete,
                kv: match &prev {
                    Some(prev) => KeyValue {
                        mod_revision: kv.mod_revision,
                        ..prev.clone()
                    },
                    None => kv,
                },
                prev,
            },
        })
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn current_revision(&self) -> Result<i64> {
        let response = self
            .client
            .kv_client()
            .get(
                non_empty(self.full_key("")),
                Some(GetOptions::new().with_count_only()),
            )
            .await
            .map_err(map_err)?;
        Ok(response.header().map_or(0, |h| h.revision()))
    }

    async fn compacted_revision(&self) -> Result<i64> {
        // A read at revision 1 fails exactly when anything was compacted.
        let probe = non_empty(self.full_key(""));
        let options = GetOptions::new().with_count_only().with_revision(1);
        match self
            .client
            .kv_client()
            .get(probe.clone(), Some(options))
            .await
        {
            Ok(_) => return Ok(0),
            Err(e) => match map_err(e) {
                Error::Compacted { .. } => {}
                Error::FutureRevision => return Ok(0),
                other => return Err(other),
            },
        }
        // Then a watch from revision 1 is cancelled with the revision.
        let options = WatchOptions::new().with_start_revision(1);
        let mut watch = self
            .client
            .watch_client()
            .watch(probe, Some(options))
            .await
            .map_err(map_err)?;
        let answer = async {
            while let Some(response) = watch.message().await.map_err(map_err)? {
                if response.compact_revision() > 0 {
                    return Ok(response.compact_revision());
                }
            }
            Err(Error::Unavailable("etcd closed the watch".to_owned()))
        };
        tokio::time::timeout(CONNECT_TIMEOUT, answer)
            .await
            .map_err(|_| {
                Error::Unavailable("etcd did not report its compacted revision".to_owned())
            })?
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let response = self
            .client
            .kv_client()
            .get(self.full_key(key), None)
            .await
            .map_err(map_err)?;
        Ok(response.kvs().first().map(|kv| self.kv(kv)))
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        let (mut start, end) = self.range(prefix);
        if let Some(after) = options.start_after.as_deref().filter(|a| *a >= prefix) {
            // The smallest key after `after`.
            start = self.full_key(after);
            start.push(0);
        }
        let revision = options.revision.filter(|&r| r > 0);
        let mut get = GetOptions::new().with_range(end);
        if let Some(limit) = options.limit.filter(|&l| l > 0) {
            get = get.with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        if let Some(revision) = revision {
            get = get.with_revision(revision);
        }
        let response = match self.client.kv_client().get(start, Some(get)).await {
            Ok(response) => response,
            Err(e) => return Err(self.with_compacted(map_err(e)).await),
        };
        Ok(ListResult {
            items: response.kvs().iter().map(|kv| self.kv(kv)).collect(),
            revision: revision.unwrap_or_else(|| response.header().map_or(0, |h| h.revision())),
            more: response.more(),
        })
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        let full = self.full_key(key);
        let txn = Txn::new()
            .when([Compare::create_revision(full.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(full, value.clone(), None)]);
        match self.txn(txn).await? {
            (true, revision, _) => Ok(KeyValue {
                key: key.to_owned(),
                value,
                create_revision: revision,
                mod_revision: revision,
            }),
            (false, ..) => Err(Error::AlreadyExists),
        }
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected_mod_revision: i64,
    ) -> Result<KeyValue> {
        let full = self.full_key(key);
        let txn = Txn::new()
            .when([
                // An absent key has mod_revision 0: never "expected".
                Compare::create_revision(full.clone(), CompareOp::Greater, 0),
                Compare::mod_revision(full.clone(), CompareOp::Equal, expected_mod_revision),
            ])
            .and_then([TxnOp::put(
                full.clone(),
                value.clone(),
                Some(PutOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(full, None)]);
        let (succeeded, revision, responses) = self.txn(txn).await?;
        if !succeeded {
            return Err(self.refused(&responses));
        }
        let create_revision = match responses.first() {
            Some(TxnOpResponse::Put(put)) => put.prev_key().map(|kv| kv.create_revision()),
            _ => None,
        }
        .ok_or_else(|| {
            Error::Internal("etcd answered an update without the previous value".to_owned())
        })?;
        Ok(KeyValue {
            key: key.to_owned(),
            value,
            create_revision,
            mod_revision: revision,
        })
    }

    async fn delete(&self, key: &str, expected_mod_revision: Option<i64>) -> Result<KeyValue> {
        let full = self.full_key(key);
        let mut guard = vec![Compare::create_revision(
            full.clone(),
            CompareOp::Greater,
            0,
        )];
        if let Some(expected) = expected_mod_revision {
            guard.push(Compare::mod_revision(
                full.clone(),
                CompareOp::Equal,
                expected,
            ));
        }
        let txn = Txn::new()
            .when(guard)
            .and_then([TxnOp::delete(
                full.clone(),
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(full, None)]);
        let (succeeded, revision, responses) = self.txn(txn).await?;
        if !succeeded {
            return Err(self.refused(&responses));
        }
        match responses.first() {
            Some(TxnOpResponse::Delete(deleted)) => deleted.prev_kvs().first().map(|kv| KeyValue {
                mod_revision: revision,
                ..self.kv(kv)
            }),
            _ => None,
        }
        .ok_or_else(|| {
            Error::Internal("etcd answered a delete without the deleted value".to_owned())
        })
    }

    async fn watch(&self, prefix: &str, from_revision: i64) -> Result<WatchStream> {
        // etcd would accept the watch and cancel it a moment later; answer
        // up front, as the embedded store does.
        self.check_history(prefix, from_revision).await?;
        let (start, end) = self.range(prefix);
        let options = WatchOptions::new()
            .with_range(end)
            .with_start_revision(from_revision + 1)
            .with_prev_key();
        let stream = self
            .client
            .watch_client()
            .watch(start, Some(options))
            .await
            .map_err(map_err)?;
        let watch = Watch {
            stream,
            pending: VecDeque::new(),
            done: false,
            keys: self.keys.clone(),
        };
        Ok(Box::pin(futures::stream::unfold(
            watch,
            |mut watch| async move {
                let item = watch.next().await?;
                Some((item, watch))
            },
        )))
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let options = CompactionOptions::new().with_physical();
        match self
            .client
            .kv_client()
            .compact(revision, Some(options))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(self.with_compacted(map_err(e)).await),
        }
    }
}

/// An etcd watch as a stream of events; it ends after its first error.
struct Watch {
    stream: etcd_client::WatchStream,
    pending: VecDeque<Event>,
    done: bool,
    keys: Keys,
}

impl Watch {
    async fn next(&mut self) -> Option<Result<Arc<Event>>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(Arc::new(event)));
            }
            if self.done {
                return None;
            }
            let failure = match self.stream.message().await {
                Ok(Some(response)) if response.compact_revision() > 0 => Error::Compacted {
                    compacted: response.compact_revision(),
                },
                Ok(Some(response)) if response.canceled() => Error::Unavailable(format!(
                    "etcd cancelled the watch: {}",
                    response.cancel_reason()
                )),
                Ok(Some(response)) => {
                    let keys = &self.keys;
                    self.pending
                        .extend(response.events().iter().filter_map(|e| keys.event(e)));
                    continue;
                }
                Ok(None) => Error::Unavailable("etcd closed the watch".to_owned()),
                Err(e) => map_err(e),
            };
            self.done = true;
            return Some(Err(failure));
        }
    }
}

/// The first key after every key starting with `prefix` (etcd's range end);
/// `\0`, meaning "to the end", when there is none.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// etcd rejects an empty key; `\0` is the smallest one.
fn non_empty(key: Vec<u8>) -> Vec<u8> {
    if key.is_empty() { vec![0] } else { key }
}

fn map_err(err: etcd_client::Error) -> Error {
    match err {
        etcd_client::Error::GRpcStatus(status) => {
            let message = status.message();
            if message.contains("required revision has been compacted") {
                Error::Compacted { compacted: 0 }
            } else if message.contains("required revision is a future revision") {
                Error::FutureRevision
            } else {
                match i32::from(status.code()) {
                    GRPC_UNAVAILABLE | GRPC_DEADLINE_EXCEEDED => {
                        Error::Unavailable(format!("etcd: {message}"))
                    }
                    _ => Error::Internal(format!("etcd: {status}")),
                }
            }
        }
        etcd_client::Error::TransportError(e) => Error::Unavailable(format!("etcd: {e}")),
        etcd_client::Error::IoError(e) => Error::Unavailable(format!("etcd: {e}")),
        other => Error::Internal(format!("etcd: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_first_key_past_the_prefix() {
        assert_eq!(prefix_end(b"/registry/pods/"), b"/registry/pods0");
        assert_eq!(prefix_end(b"a\xff\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), b"\0", "no end: to the last key");
        assert_eq!(prefix_end(b""), b"\0");
    }
}
