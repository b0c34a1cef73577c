//! The contract of [`Store`], as checks any implementation must pass.
//!
//! Each check takes a fresh store (no other writer) and panics with a
//! description of the first broken promise. They assert relations between
//! revisions, not their values, since etcd counts from a different origin
//! than the embedded store.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::{Error, Event, EventKind, KeyValue, ListOptions, Store, WatchStream};

const WAIT: Duration = Duration::from_secs(10);

/// Every write moves the revision forward, and the store reports it.
pub async fn revisions_increase(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    let a = store.create("/rev/a", b"1".to_vec()).await.unwrap();
    assert!(
        a.mod_revision > start,
        "first write {a:?} after revision {start}"
    );
    assert_eq!(a.create_revision, a.mod_revision);
    assert_eq!(store.current_revision().await.unwrap(), a.mod_revision);
    let b = store.create("/rev/b", b"1".to_vec()).await.unwrap();
    let a2 = store
        .update("/rev/a", b"2".to_vec(), a.mod_revision)
        .await
        .unwrap();
    let gone = store.delete("/rev/b", None).await.unwrap();
    let revisions = [
        a.mod_revision,
        b.mod_revision,
        a2.mod_revision,
        gone.mod_revision,
    ];
    assert!(
        revisions.is_sorted_by(|x, y| x < y),
        "revisions {revisions:?}"
    );
    assert_eq!(store.current_revision().await.unwrap(), gone.mod_revision);
}

/// Create, get, compare-and-swap update and delete, with their errors.
pub async fn crud(store: Arc<dyn Store>) {
    assert_eq!(store.get("/crud/k").await.unwrap(), None);
    let created = store.create("/crud/k", b"v1".to_vec()).await.unwrap();
    assert_eq!(created.key, "/crud/k");
    assert_eq!(created.value, b"v1");
    assert_eq!(store.get("/crud/k").await.unwrap(), Some(created.clone()));
    assert!(matches!(
        store.create("/crud/k", b"again".to_vec()).await,
        Err(Error::AlreadyExists)
    ));

    let stale = created.mod_revision - 1;
    match store.update("/crud/k", b"lost".to_vec(), stale).await {
        Err(Error::Conflict { current }) => assert_eq!(current, Some(created.clone())),
        other => panic!("update at a stale revision: {other:?}"),
    }
    let updated = store
        .update("/crud/k", b"v2".to_vec(), created.mod_revision)
        .await
        .unwrap();
    assert_eq!(updated.value, b"v2");
    assert_eq!(updated.create_revision, created.create_revision);
    assert!(updated.mod_revision > created.mod_revision);
    assert_eq!(store.get("/crud/k").await.unwrap(), Some(updated.clone()));
    assert!(matches!(
        store.update("/crud/missing", b"x".to_vec(), 1).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        store.update("/crud/missing", b"x".to_vec(), 0).await,
        Err(Error::NotFound)
    ));

    match store.delete("/crud/k", Some(created.mod_revision)).await {
        Err(Error::Conflict { current }) => assert_eq!(current, Some(updated.clone())),
        other => panic!("delete at a stale revision: {other:?}"),
    }
    let deleted = store
        .delete("/crud/k", Some(updated.mod_revision))
        .await
        .unwrap();
    assert_eq!(deleted.value, b"v2", "delete returns the deleted value");
    assert_eq!(deleted.create_revision, created.create_revision);
    assert!(deleted.mod_revision > updated.mod_revision);
    assert_eq!(
        store.current_revision().await.unwrap(),
        deleted.mod_revision
    );
    assert_eq!(store.get("/crud/k").await.unwrap(), None);
    assert!(matches!(
        store.delete("/crud/k", None).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        store
            .update("/crud/k", b"x".to_vec(), deleted.mod_revision)
            .await,
        Err(Error::NotFound)
    ));

    let again = store.create("/crud/k", b"v3".to_vec()).await.unwrap();
    assert!(
        again.create_revision > deleted.mod_revision,
        "a new incarnation"
    );
    let unconditional = store.delete("/crud/k", None).await.unwrap();
    assert_eq!(unconditional.value, b"v3");
}

/// Prefix lists are sorted, paged with `limit`/`start_after`/`more`, and
/// later pages read the same state as the first.
pub async fn list_paging(store: Arc<dyn Store>) {
    let prefix = "/list/items/";
    for i in 0..10 {
        store
            .create(&format!("{prefix}k{i:02}"), vec![i])
            .await
            .unwrap();
    }
    store.create("/list/items", b"x".to_vec()).await.unwrap();
    store.create("/list/itemsz", b"x".to_vec()).await.unwrap();
    store.create("/list/other/k", b"x".to_vec()).await.unwrap();
    let all = store.list(prefix, ListOptions::default()).await.unwrap();
    let keys: Vec<_> = all.items.iter().map(|kv| kv.key.clone()).collect();
    let expected: Vec<_> = (0..10).map(|i| format!("{prefix}k{i:02}")).collect();
    assert_eq!(keys, expected);
    assert!(!all.more);
    assert_eq!(all.revision, store.current_revision().await.unwrap());
    assert_eq!(all.items[3].value, vec![3]);

    let first = store.list(prefix, page(None, 3, None)).await.unwrap();
    assert_eq!(first.items, all.items[..3]);
    assert!(first.more);
    // Writes between pages do not show in later pages of the same list.
    store
        .create(&format!("{prefix}k03a"), b"new".to_vec())
        .await
        .unwrap();
    store.delete(&format!("{prefix}k07"), None).await.unwrap();
    let mut pages = first.items.clone();
    let mut last = first;
    while last.more {
        let after = last.items.last().unwrap().key.clone();
        last = store
            .list(prefix, page(Some(all.revision), 3, Some(after)))
            .await
            .unwrap();
        assert_eq!(last.revision, all.revision);
        pages.extend(last.items.iter().cloned());
    }
    assert_eq!(pages, all.items);

    let exact = store
        .list(prefix, page(Some(all.revision), 10, None))
        .await
        .unwrap();
    assert_eq!(exact.items.len(), 10);
    assert!(
        !exact.more,
        "a page that ends exactly at the end has no more"
    );
    let before_prefix = store
        .list(prefix, page(None, 0, Some("/a".to_owned())))
        .await
        .unwrap();
    assert_eq!(before_prefix.items.len(), 10, "k03a in, k07 out");
    let now: Vec<_> = before_prefix
        .items
        .iter()
        .map(|kv| kv.key.as_str())
        .collect();
    assert!(now.contains(&"/list/items/k03a") && !now.contains(&"/list/items/k07"));
    let empty = store
        .list("/list/none/", ListOptions::default())
        .await
        .unwrap();
    assert!(empty.items.is_empty() && !empty.more);
}

/// A list at an old revision returns the state as of that revision.
pub async fn list_at_old_revision(store: Arc<dyn Store>) {
    let store = &*store;
    let p = "/old/";
    let a1 = store.create("/old/a", b"a1".to_vec()).await.unwrap();
    let b = store.create("/old/b", b"b".to_vec()).await.unwrap();
    let a2 = store
        .update("/old/a", b"a2".to_vec(), a1.mod_revision)
        .await
        .unwrap();
    let b_gone = store.delete("/old/b", None).await.unwrap();
    let c = store.create("/old/c", b"c".to_vec()).await.unwrap();
    let at = |revision| async move {
        let list = store.list(p, at_revision(revision)).await.unwrap();
        assert_eq!(list.revision, revision);
        list.items
    };
    assert_eq!(at(a1.mod_revision).await, vec![a1.clone()]);
    assert_eq!(at(b.mod_revision).await, vec![a1.clone(), b.clone()]);
    assert_eq!(at(a2.mod_revision).await, vec![a2.clone(), b.clone()]);
    assert_eq!(at(b_gone.mod_revision).await, vec![a2.clone()]);
    assert_eq!(at(c.mod_revision).await, vec![a2.clone(), c.clone()]);
    let latest = store.list(p, ListOptions::default()).await.unwrap();
    assert_eq!(latest.items, vec![a2.clone(), c]);

    let paged = store
        .list(p, page(Some(b.mod_revision), 1, None))
        .await
        .unwrap();
    assert_eq!((paged.items, paged.more), (vec![a1.clone()], true));
    let paged = store
        .list(p, page(Some(b.mod_revision), 1, Some("/old/a".to_owned())))
        .await
        .unwrap();
    assert_eq!((paged.items, paged.more), (vec![b], false));

    let future = latest.revision + 1000;
    assert!(matches!(
        store.list(p, at_revision(future)).await,
        Err(Error::FutureRevision)
    ));
}

/// A watch from a revision replays history under its prefix, then follows
/// live changes, in order and with previous values.
pub async fn watch_history_then_live(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    let a1 = store.create("/watch/a", b"a1".to_vec()).await.unwrap();
    store.create("/elsewhere/x", b"x".to_vec()).await.unwrap();
    let a2 = store
        .update("/watch/a", b"a2".to_vec(), a1.mod_revision)
        .await
        .unwrap();
    let b = store.create("/watch/b", b"b".to_vec()).await.unwrap();
    let a_gone = store.delete("/watch/a", None).await.unwrap();

    let mut watch = store.watch("/watch/", start).await.unwrap();
    let history = [
        put(&a1, None),
        put(&a2, Some(&a1)),
        put(&b, None),
        Event {
            kind: EventKind::Delete,
            kv: a_gone.clone(),
            prev: Some(a2.clone()),
        },
    ];
    for expected in &history {
        assert_eq!(&next(&mut watch).await, expected);
    }
    let b2 = store
        .update("/watch/b", b"b2".to_vec(), b.mod_revision)
        .await
        .unwrap();
    store.create("/elsewhere/y", b"y".to_vec()).await.unwrap();
    let c = store.create("/watch/c", b"c".to_vec()).await.unwrap();
    assert_eq!(next(&mut watch).await, put(&b2, Some(&b)));
    assert_eq!(next(&mut watch).await, put(&c, None));

    // From the middle of history: only what came after.
    let mut middle = store.watch("/watch/", a2.mod_revision).await.unwrap();
    for expected in [&history[2], &history[3]] {
        assert_eq!(&next(&mut middle).await, expected);
    }
    assert_eq!(next(&mut middle).await, put(&b2, Some(&b)));
    assert_eq!(next(&mut middle).await, put(&c, None));

    // From now: only live changes.
    let now = store.current_revision().await.unwrap();
    let mut live = store.watch("/watch/", now).await.unwrap();
    let d = store.create("/watch/d", b"d".to_vec()).await.unwrap();
    assert_eq!(next(&mut live).await, put(&d, None));
    assert_eq!(next(&mut watch).await, put(&d, None));
}

/// Compaction keeps the latest state and refuses older reads and watches.
pub async fn compaction(store: Arc<dyn Store>) {
    let k1 = store.create("/compact/k", b"1".to_vec()).await.unwrap();
    let k2 = store
        .update("/compact/k", b"2".to_vec(), k1.mod_revision)
        .await
        .unwrap();
    let j = store.create("/compact/j", b"j".to_vec()).await.unwrap();
    let before = store.delete("/compact/j", None).await.unwrap().mod_revision;
    let k3 = store
        .update("/compact/k", b"3".to_vec(), k2.mod_revision)
        .await
        .unwrap();
    let m = store.create("/compact/m", b"m".to_vec()).await.unwrap();
    assert!(j.mod_revision < before);

    let at = k3.mod_revision;
    store.compact(at).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), at);
    match store.list("/compact/", at_revision(before)).await {
        Err(Error::Compacted { compacted }) => assert_eq!(compacted, at),
        other => panic!("list below the compacted revision: {other:?}"),
    }
    match store.watch("/compact/", before).await {
        Err(Error::Compacted { compacted }) => assert_eq!(compacted, at),
        Err(other) => panic!("watch below the compacted revision: {other:?}"),
        Ok(_) => panic!("watch below the compacted revision succeeded"),
    }
    let kept = store.list("/compact/", at_revision(at)).await.unwrap();
    assert_eq!(kept.items, vec![k3.clone()]);
    let latest = store
        .list("/compact/", ListOptions::default())
        .await
        .unwrap();
    assert_eq!(latest.items, vec![k3.clone(), m.clone()]);
    assert_eq!(store.get("/compact/k").await.unwrap(), Some(k3.clone()));

    let mut watch = store.watch("/compact/", at).await.unwrap();
    assert_eq!(next(&mut watch).await, put(&m, None));
    let k4 = store
        .update("/compact/k", b"4".to_vec(), k3.mod_revision)
        .await
        .unwrap();
    assert_eq!(next(&mut watch).await, put(&k4, Some(&k3)));

    assert!(matches!(
        store.compact(at).await,
        Err(Error::Compacted { .. })
    ));
    let future = store.current_revision().await.unwrap() + 100;
    assert!(matches!(
        store.compact(future).await,
        Err(Error::FutureRevision)
    ));
    // Compacting everything still keeps every live key.
    let current = store.current_revision().await.unwrap();
    store.compact(current).await.unwrap();
    let latest = store
        .list("/compact/", ListOptions::default())
        .await
        .unwrap();
    assert_eq!(latest.items, vec![k4, m]);
}

/// Concurrent writers get unique, increasing revisions, and a watcher sees
/// every write exactly once, in revision order.
pub async fn concurrent_writers(store: Arc<dyn Store>) {
    const TASKS: usize = 8;
    const WRITES: usize = 50;
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/concurrent/", start).await.unwrap();
    let writers: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut revisions = Vec::with_capacity(WRITES);
                for i in 0..WRITES {
                    let key = format!("/concurrent/{task}/{i:03}");
                    let kv = store.create(&key, key.clone().into_bytes()).await.unwrap();
                    revisions.push(kv.mod_revision);
                }
                revisions
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for writer in writers {
        let revisions = writer.await.unwrap();
        assert!(
            revisions.is_sorted_by(|a, b| a < b),
            "one writer's revisions {revisions:?}"
        );
        all.extend(revisions);
    }
    assert_eq!(all.len(), TASKS * WRITES, "revisions are unique");

    let mut seen = Vec::with_capacity(TASKS * WRITES);
    let mut keys = BTreeSet::new();
    while seen.len() < TASKS * WRITES {
        let event = next(&mut watch).await;
        assert_eq!(event.kv.value, event.kv.key.as_bytes());
        assert!(
            keys.insert(event.kv.key.clone()),
            "{} seen twice",
            event.kv.key
        );
        seen.push(event.revision());
    }
    assert!(seen.is_sorted_by(|a, b| a < b), "watch order");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), all);
}

/// The next event of a watch, failing after a generous wait.
pub async fn next(watch: &mut WatchStream) -> Event {
    match tokio::time::timeout(WAIT, watch.next()).await {
        Ok(Some(Ok(event))) => Arc::unwrap_or_clone(event),
        Ok(Some(Err(err))) => panic!("watch failed: {err}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no watch event within {WAIT:?}"),
    }
}

fn put(kv: &KeyValue, prev: Option<&KeyValue>) -> Event {
    Event {
        kind: EventKind::Put,
        kv: kv.clone(),
        prev: prev.cloned(),
    }
}

fn at_revision(revision: i64) -> ListOptions {
    ListOptions {
        revision: Some(revision),
        ..ListOptions::default()
    }
}

fn page(revision: Option<i64>, limit: usize, start_after: Option<String>) -> ListOptions {
    ListOptions {
        revision,
        limit: Some(limit),
        start_after,
    }
}
