//! The embedded backends (SQLite records, directory blobs) pass the storage
//! conformance suite.

use liveship_core::store::conformance;
use liveship_core::store::fs::FsBlobs;
use liveship_core::store::sqlite::SqliteRecords;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_records_conform() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteRecords::open(&dir.path().join("liveship.db")).unwrap();
    conformance::records(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_records_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("liveship.db");
    let store = SqliteRecords::open(&path).unwrap();
    conformance::records(Arc::new(store.clone())).await;
    let before = liveship_core::store::RecordRead::apps(&store)
        .await
        .unwrap();
    drop(store);
    let reopened = SqliteRecords::open(&path).unwrap();
    let after = liveship_core::store::RecordRead::apps(&reopened)
        .await
        .unwrap();
    assert_eq!(before, after);
    assert!(!after.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn directory_blobs_conform() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobs::open(&dir.path().join("blobs")).unwrap();
    conformance::blobs(Arc::new(store)).await;
    // Nothing half-written is left behind by the refused uploads.
    let leftovers: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.contains(".upload-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}
