//! The store contract ([`control::store::conformance`]) against both
//! implementations: the embedded store in a temporary directory, and the
//! real etcd (Debian's `etcd-server`), one fresh server per test. Then what
//! only the embedded store promises: revisions from 1, reopening, the
//! directory lock, automatic compaction, lagging watchers, and surviving
//! `kill -9` in the middle of a burst of writes.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use control::store::{
    CompactionPolicy, EmbeddedOptions, EmbeddedStore, Error, EtcdStore, ListOptions, Store,
    conformance,
};
use futures::StreamExt;
use support::etcd::EtcdServer;
use tempfile::TempDir;

/// Runs each named check of the suite on a fresh store of every engine:
/// one module per engine, one list of checks for all of them.
macro_rules! suite {
    (engines: $($engine:ident => $fixture:path),+; checks: $cases:tt) => {
        $(suite!(@engine $engine, $fixture, $cases);)+
    };
    (@engine $engine:ident, $fixture:path, [$($case:ident),+ $(,)?]) => {
        mod $engine {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = $fixture().await;
                    control::store::conformance::$case(fixture.store.clone()).await;
                }
            )+
        }
    };
}

suite! {
    engines: embedded => super::embedded_store, etcd => super::etcd_store;
    checks: [
        revisions_increase,
        crud,
        list_paging,
        list_at_old_revision,
        watch_history_then_live,
        compaction,
        concurrent_writers,
    ]
}

struct Fixture<S> {
    store: Arc<dyn Store>,
    // Dropped after the store.
    _server: S,
}

async fn embedded_store() -> Fixture<TempDir> {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    Fixture {
        store: Arc::new(store),
        _server: dir,
    }
}

async fn etcd_store() -> Fixture<EtcdServer> {
    let server = EtcdServer::start().await;
    let store = EtcdStore::connect(std::slice::from_ref(&server.url), Some("/skiff".to_owned()))
        .await
        .unwrap();
    Fixture {
        store: Arc::new(store),
        _server: server,
    }
}

#[tokio::test]
async fn etcd_unreachable_is_a_clear_error() {
    let started = Instant::now();
    let endpoint = "http://127.0.0.1:1".to_owned();
    let err = match EtcdStore::connect(&[endpoint], None).await {
        Ok(_) => panic!("connected to nothing"),
        Err(err) => err.to_string(),
    };
    assert!(
        err.contains("cannot reach etcd at http://127.0.0.1:1"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn embedded_revisions_start_at_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), 0);
    assert_eq!(store.compacted_revision().await.unwrap(), 0);
    let empty = store.list("/", ListOptions::default()).await.unwrap();
    assert_eq!((empty.items.len(), empty.revision), (0, 0));
    assert_eq!(store.create("/a", vec![]).await.unwrap().mod_revision, 1);
    assert_eq!(store.create("/b", vec![]).await.unwrap().mod_revision, 2);
    // Refused writes take no revision.
    assert!(store.create("/a", vec![]).await.is_err());
    assert_eq!(store.create("/c", vec![]).await.unwrap().mod_revision, 3);
}

#[tokio::test]
async fn embedded_reopened_store_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (list, current, watched) = {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        for i in 0..20 {
            store.create(&format!("/k/{i:02}"), vec![i]).await.unwrap();
        }
        let five = store.get("/k/05").await.unwrap().unwrap();
        store
            .update("/k/05", b"five".to_vec(), five.mod_revision)
            .await
            .unwrap();
        store.delete("/k/06", None).await.unwrap();
        store.compact(10).await.unwrap();
        let list = store.list("/k/", ListOptions::default()).await.unwrap();
        let mut watch = store.watch("/k/", 10).await.unwrap();
        let mut watched = Vec::new();
        for _ in 10..22 {
            watched.push(conformance::next(&mut watch).await);
        }
        (list, store.current_revision().await.unwrap(), watched)
    };
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), current);
    assert_eq!(store.compacted_revision().await.unwrap(), 10);
    assert_eq!(
        store.list("/k/", ListOptions::default()).await.unwrap(),
        list
    );
    let mut watch = store.watch("/k/", 10).await.unwrap();
    for expected in watched {
        assert_eq!(conformance::next(&mut watch).await, expected);
    }
    let next = store.create("/k/new", vec![]).await.unwrap();
    assert_eq!(next.mod_revision, current + 1);
    assert_eq!(conformance::next(&mut watch).await.kv, next);
}

#[tokio::test]
async fn embedded_directory_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let err = EmbeddedStore::open(dir.path()).err().expect("opened twice");
    let message = err.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()) && message.contains("already open"),
        "{message}"
    );
    drop(store);
    EmbeddedStore::open(dir.path()).expect("the lock goes with the store");
}

#[tokio::test]
async fn embedded_bad_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let message = EmbeddedStore::open(&file)
        .err()
        .expect("opened a file")
        .to_string();
    assert!(
        message.contains(&file.display().to_string()) && message.contains("not a directory"),
        "{message}"
    );
}

#[tokio::test]
async fn embedded_automatic_compaction_keeps_a_window() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        compaction: CompactionPolicy {
            every: Some(Duration::from_millis(100)),
            keep_revisions: 5,
        },
        ..EmbeddedOptions::default()
    };
    let store = EmbeddedStore::open_with(dir.path(), options).unwrap();
    for i in 0..30 {
        store
            .create(&format!("/auto/{i:02}"), vec![i])
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.compacted_revision().await.unwrap() == 0 {
        assert!(Instant::now() < deadline, "no automatic compaction");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let compacted = store.compacted_revision().await.unwrap();
    assert!(
        compacted <= 30 - 5,
        "compacted to {compacted}, inside the window"
    );
    let at = |revision| ListOptions {
        revision: Some(revision),
        ..ListOptions::default()
    };
    assert_eq!(
        store
            .list("/auto/", at(compacted))
            .await
            .unwrap()
            .items
            .len() as i64,
        compacted
    );
    assert!(matches!(
        store.list("/auto/", at(compacted - 1)).await,
        Err(Error::Compacted { .. })
    ));
    assert_eq!(
        store
            .list("/auto/", ListOptions::default())
            .await
            .unwrap()
            .items
            .len(),
        30
    );
}

fn small_buffer() -> EmbeddedOptions {
    EmbeddedOptions {
        watch_buffer: 4,
        ..EmbeddedOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_lagging_watcher_catches_up_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open_with(dir.path(), small_buffer()).unwrap();
    let mut watch = store.watch("/lag/", 0).await.unwrap();
    store.create("/lag/000", vec![]).await.unwrap();
    // Into the live phase, then far past the buffer.
    assert_eq!(conformance::next(&mut watch).await.revision(), 1);
    for i in 1..200 {
        store.create(&format!("/lag/{i:03}"), vec![]).await.unwrap();
    }
    for revision in 2..=200 {
        assert_eq!(conformance::next(&mut watch).await.revision(), revision);
    }
    let last = store.create("/lag/last", vec![]).await.unwrap();
    assert_eq!(conformance::next(&mut watch).await.kv, last);
}

#[tokio::test]
async fn embedded_watcher_behind_compaction_gets_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open_with(dir.path(), small_buffer()).unwrap();
    let mut watch = store.watch("/gone/", 0).await.unwrap();
    for i in 0..20 {
        store
            .create(&format!("/gone/{i:02}"), vec![])
            .await
            .unwrap();
    }
    store.compact(15).await.unwrap();
    match watch.next().await {
        Some(Err(Error::Compacted { compacted })) => assert_eq!(compacted, 15),
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert!(
        watch.next().await.is_none(),
        "the watch ends after its error"
    );
}

#[tokio::test]
async fn embedded_closing_ends_watches() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let mut watch = store.watch("/", 0).await.unwrap();
    store.create("/x", vec![]).await.unwrap();
    conformance::next(&mut watch).await;
    drop(store);
    assert!(matches!(
        watch.next().await,
        Some(Err(Error::Unavailable(_)))
    ));
    assert!(watch.next().await.is_none());
}

/// Set in the child process of the crash test: the data directory to write to.
const CRASH_CHILD_DIR: &str = "STORE_CRASH_CHILD_DIR";

/// Does nothing unless started by [`embedded_kill_9_loses_no_acknowledged_write`]:
/// then it writes from several tasks until killed, printing every
/// acknowledged write as `ACK <revision> <key> <value>`.
#[test]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os(CRASH_CHILD_DIR) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(Path::new(&dir)).unwrap());
        let tasks: Vec<_> = (0..8)
            .map(|task| {
                let store = store.clone();
                tokio::spawn(async move {
                    // Bounded, in case the parent is gone.
                    for i in 0..20_000 {
                        let key = format!("/crash/{task}/{i:05}");
                        let kv = store.create(&key, b"v1".to_vec()).await.unwrap();
                        ack(kv.mod_revision, &key, "v1");
                        let kv = store
                            .update(&key, b"v2".to_vec(), kv.mod_revision)
                            .await
                            .unwrap();
                        ack(kv.mod_revision, &key, "v2");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

fn ack(revision: i64, key: &str, value: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "ACK {revision} {key} {value}").unwrap();
    out.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_kill_9_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked: BTreeMap<String, (i64, String)> = BTreeMap::new();
    let record = |line: &str, acked: &mut BTreeMap<String, (i64, String)>| {
        let mut fields = line.strip_prefix("ACK ")?.split(' ');
        let revision: i64 = fields.next()?.parse().ok()?;
        let (key, value) = (fields.next()?.to_owned(), fields.next()?.to_owned());
        let entry = acked.entry(key).or_insert((0, String::new()));
        if revision > entry.0 {
            *entry = (revision, value);
        }
        Some(())
    };
    let mut count = 0;
    while count < 2000 {
        let line = lines.next().expect("the writer stopped early").unwrap();
        if record(&line, &mut acked).is_some() {
            count += 1;
        }
    }
    // The writer holds the directory while it runs.
    let message = EmbeddedStore::open(dir.path())
        .err()
        .expect("opened a directory in use")
        .to_string();
    assert!(
        message.contains(&format!("in use by another process (pid {})", child.id())),
        "{message}"
    );
    child.kill().unwrap(); // SIGKILL, mid-burst
    child.wait().unwrap();
    // Acknowledgements printed before the kill are still in the pipe.
    for line in lines {
        let _ = record(&line.unwrap(), &mut acked);
    }

    let store = EmbeddedStore::open(dir.path()).unwrap();
    let newest = acked.values().map(|(revision, _)| *revision).max().unwrap();
    let current = store.current_revision().await.unwrap();
    assert!(
        current >= newest,
        "current revision {current} < acknowledged {newest}"
    );
    for (key, (revision, value)) in &acked {
        let kv = store
            .get(key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} lost"));
        // A later write may have committed without its acknowledgement.
        assert!(kv.mod_revision >= *revision, "{key} went back to {kv:?}");
        if kv.mod_revision == *revision {
            assert_eq!(kv.value, value.as_bytes(), "{key}");
        }
    }
    let all = store.list("/crash/", ListOptions::default()).await.unwrap();
    assert!(all.items.len() >= acked.len());
    let after = store.create("/crash/after", vec![]).await.unwrap();
    assert_eq!(after.mod_revision, current + 1, "the store keeps counting");
    let mut watch = store.watch("/crash/", newest - 1).await.unwrap();
    assert!(conformance::next(&mut watch).await.revision() == newest);
}
