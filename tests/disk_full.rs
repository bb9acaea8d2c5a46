//! A full disk, for real: `safepath serve` on a small filesystem (a tmpfs that `.ci/run` mounts
//! and names in `SAFEPATH_TEST_SMALL_FS`; skipped with a message where mounting is not allowed)
//! is filled up by another file, then the file is deleted. While the disk is full, reports get
//! 503 `store_unavailable` and `/healthz` says 503; once there is room, both recover by
//! themselves, without a restart, and every report acknowledged before, during and after is
//! there.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Fills the filesystem of `path` with one file, until it takes no more.
fn fill(path: &std::path::Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 << 10];
    while f.write_all(&block).is_ok() {}
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_heals_without_a_restart() {
    let Ok(fs) = std::env::var("SAFEPATH_TEST_SMALL_FS") else {
        eprintln!(
            "skipped: set SAFEPATH_TEST_SMALL_FS to a small empty filesystem (.ci/run mounts a \
             4 MiB tmpfs where it may)"
        );
        return;
    };
    let work = tempfile::tempdir_in(&fs).unwrap();
    let data = work.path().join("data");
    let ballast = work.path().join("ballast");
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = Server(
        common::serve_command(&data, port, "t")
            .env("SAFEPATH_RATE_PER_MINUTE", "0")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::wait_healthy(&base).await;
    let http = reqwest::Client::new();
    let report = |n: u32| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http
                .post(format!("{base}/v1/reports"))
                .bearer_auth("t")
                .json(&json!({"text": format!("代解封 先交押金{n}元 加V jf{n}")}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let health = || {
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let mut acknowledged = Vec::new();
    let mut n = 0;
    for _ in 0..5 {
        n += 1;
        let (status, v) = report(n).await;
        assert!(status < 300, "{status} {v}");
        acknowledged.push(v["id"].as_u64().unwrap());
    }

    fill(&ballast);
    // sled may still have room in a segment it holds: write until the disk says no.
    let mut refused = None;
    for _ in 0..2_000 {
        n += 1;
        match report(n).await {
            (503, v) => {
                refused = Some(v);
                break;
            }
            (status, v) if status < 300 => acknowledged.push(v["id"].as_u64().unwrap()),
            (status, v) => panic!("a full disk answered {status} {v}"),
        }
    }
    let refused = refused.expect("the full disk refused a report");
    assert_eq!(refused["error"]["code"], "store_unavailable", "{refused}");
    assert_eq!(health().await, 503, "/healthz while writes fail");
    // Still full a second later: still refused, still unhealthy.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    n += 1;
    assert_eq!(report(n).await.0, 503);
    assert_eq!(health().await, 503);

    std::fs::remove_file(&ballast).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while health().await != 200 {
        assert!(
            Instant::now() < deadline,
            "/healthz did not recover after space was freed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for _ in 0..5 {
        n += 1;
        let (status, v) = report(n).await;
        assert!(status < 300, "after space was freed: {status} {v}");
        acknowledged.push(v["id"].as_u64().unwrap());
    }
    let mut listed = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = http
            .get(format!("{base}/v1/reports?after={after}"))
            .bearer_auth("t")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let reports = page["reports"].as_array().expect("a list of reports");
        listed.extend(reports.iter().map(|r| r["id"].as_u64().unwrap()));
        match page["next"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
    }
    for id in &acknowledged {
        assert!(listed.contains(id), "acknowledged report {id} is missing");
    }
}
