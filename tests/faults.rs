//! Storage faults: a store that cannot write (full disk) or read gives clear errors and replies
//! that say nothing could be recorded — never a silent loss; a damaged or unusable data directory
//! is refused at start-up with a message that says what to do.

mod common;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use assert_cmd::Command;
use common::FaultyStore;
use safepath::session::Session;
use safepath::store::{SledStore, Store, StoreError};

const SCAM: &str = "专业解封微信 先付300定金 加V:jf8899 包成功";

#[test]
fn a_full_disk_is_said_not_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FaultyStore::open(dir.path()));
    let session = Session::new(common::engine(), store.clone(), 3600).unwrap();
    store.fail_writes.store(true, Relaxed);
    // The user still gets the warning, and is told the report was NOT recorded.
    let r = session.turn("test", "u", SCAM, false).unwrap();
    assert!(!r.reported);
    assert!(r.notices[0].contains("没能保存"), "{:?}", r.notices);
    assert!(!r.notices.iter().any(|n| n.contains("已记录")));
    assert!(r.text.contains("诈骗") || r.text.contains("骗局"));
    assert_eq!(store.inner.reports(0, 0, 10).unwrap().len(), 0);
    // Recording directly gives the store's clear error.
    let a = session.analyze(SCAM);
    let e = session.record("test", "k", &a, None, 0).unwrap_err();
    assert!(e.to_string().contains("free disk space"), "{e}");
    // Once the disk has room again, the same message is recorded.
    store.fail_writes.store(false, Relaxed);
    let r = session.turn("test", "u", SCAM, false).unwrap();
    assert!(r.reported);
    assert_eq!(store.inner.reports(0, 0, 10).unwrap().len(), 1);
    // The unrecorded report, the unsaved step and the direct attempt.
    assert!(session
        .metrics()
        .render()
        .contains("safepath_store_errors_total 3"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_503_when_the_store_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FaultyStore::open(dir.path()));
    let session = Arc::new(Session::new(common::engine(), store.clone(), 3600).unwrap());
    let base = common::spawn_api(session, "t").await;
    let http = reqwest::Client::new();
    store.fail_writes.store(true, Relaxed);
    let r = http
        .post(format!("{base}/v1/reports"))
        .bearer_auth("t")
        .json(&serde_json::json!({"text": SCAM}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "store_unavailable");
    assert!(
        !v.to_string().contains("os error"),
        "no internals leak: {v}"
    );
    store.fail_reads.store(true, Relaxed);
    let h = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(h.status(), 503);
}

#[test]
fn unusable_data_directories_are_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    // A data directory that cannot be created (a file is in the way).
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let out = Command::cargo_bin("safepath")
        .unwrap()
        .args([
            "--data",
            file.join("data").to_str().unwrap(),
            "reports",
            "stats",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write") && err.contains("permissions"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");

    // A data directory another process has open: named as such, not as a full disk (the
    // second process waits a second for the lock first).
    let busy = dir.path().join("busy");
    let held = SledStore::open(&busy).unwrap();
    let out = Command::cargo_bin("safepath")
        .unwrap()
        .args(["--data", busy.to_str().unwrap(), "reports", "stats"])
        .output()
        .unwrap();
    drop(held);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by another safepath process") && !err.contains("disk space"),
        "{err}"
    );

    // A damaged store: its files overwritten with garbage.
    let data = dir.path().join("damaged");
    drop(SledStore::open(&data).unwrap());
    for entry in std::fs::read_dir(&data).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::write(&p, vec![0xA5; 4096]).unwrap();
        }
    }
    match SledStore::open(&data) {
        Err(StoreError::Foreign { .. } | StoreError::Read(_) | StoreError::Write(_)) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(s) => {
            // sled may recover an empty tree from garbage; then the format check must refuse it
            // or it must be usable — never a panic, never silently wrong data.
            s.salt().unwrap();
        }
    }
    let out = Command::cargo_bin("safepath")
        .unwrap()
        .args(["--data", data.to_str().unwrap(), "reports", "stats"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
