//! Watches: history from the log, stitched to the live broadcast.
//!
//! A watch subscribes to the broadcast of committed events *before* it reads
//! the log, so every commit after the snapshot it read is in its receiver;
//! events it already took from the log are skipped by revision. Nothing is
//! missed and nothing is seen twice.
//!
//! The broadcast buffer is bounded. A watcher that falls behind it does not
//! make the writer wait or the buffer grow: it subscribes again and catches
//! up from the log, one bounded chunk at a time. Only when the history it
//! still needs has been compacted meanwhile does it receive
//! [`Error::Compacted`] and end (the client relists). When the store closes,
//! the watch yields [`Error::Unavailable`] and ends.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use tokio::sync::broadcast::{self, error::RecvError};

use crate::store::{Error, Event, Result, WatchStream};

use super::Shared;
use super::read::Snapshot;

/// Log records read per catch-up step: bounds a lagging watcher's memory.
const CATCH_UP_RECORDS: usize = 1000;

pub(super) fn stream(
    shared: Weak<Shared>,
    live: broadcast::Receiver<Arc<Event>>,
    prefix: String,
    from_revision: i64,
) -> WatchStream {
    let watch = Watch {
        shared,
        live,
        prefix,
        position: from_revision,
        backlog: VecDeque::new(),
        catching_up: true,
        done: false,
    };
    Box::pin(futures::stream::unfold(watch, |mut watch| async move {
        let item = watch.next().await?;
        Some((item, watch))
    }))
}

struct Watch {
    /// Weak so that open watches do not keep a dropped store open.
    shared: Weak<Shared>,
    live: broadcast::Receiver<Arc<Event>>,
    prefix: String,
    /// Every revision up to here has been delivered or filtered out.
    position: i64,
    backlog: VecDeque<Event>,
    catching_up: bool,
    done: bool,
}

impl Watch {
    async fn next(&mut self) -> Option<Result<Arc<Event>>> {
        if self.done {
            return None;
        }
        loop {
            if let Some(event) = self.backlog.pop_front() {
                return Some(Ok(Arc::new(event)));
            }
            if self.catching_up {
                if let Err(err) = self.catch_up().await {
                    self.done = true;
                    return Some(Err(err));
                }
                continue;
            }
            match self.live.recv().await {
                Ok(event) => {
                    if event.revision() <= self.position {
                        continue;
                    }
                    self.position = event.revision();
                    if event.kv.key.starts_with(&self.prefix) {
                        return Some(Ok(event));
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // Subscribe afresh first, then read what was missed.
                    self.live = self.live.resubscribe();
                    self.catching_up = true;
                }
                Err(RecvError::Closed) => {
                    self.done = true;
                    return Some(Err(closed()));
                }
            }
        }
    }

    /// Reads the next chunk of the log after `position`.
    async fn catch_up(&mut self) -> Result<()> {
        let shared = self.shared.upgrade().ok_or_else(closed)?;
        let prefix = self.prefix.clone();
        let after = self.position;
        let changes = tokio::task::spawn_blocking(move || {
            let snapshot = Snapshot::open(&shared.db)?;
            if after < snapshot.compacted {
                return Err(Error::Compacted {
                    compacted: snapshot.compacted,
                });
            }
            snapshot.changes(&prefix, after, CATCH_UP_RECORDS)
        })
        .await
        .map_err(|e| Error::Internal(format!("watch catch-up task: {e}")))??;
        self.backlog.extend(changes.events);
        self.position = changes.scanned_to;
        self.catching_up = !changes.caught_up;
        Ok(())
    }
}

fn closed() -> Error {
    Error::Unavailable("the store was closed".to_owned())
}
