//! Two `safepath serve` processes on one Redis: a conversation started on one continues on the
//! other, reports recorded on both are all found with unique ids, and flood control holds across
//! them. Needs `SAFEPATH_TEST_REDIS` (see tests/store_suite.rs).

mod common;

use std::process::{Child, Stdio};

use serde_json::{json, Value};

struct Instance {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(store: &str) -> Instance {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let child = common::serve_command(dir.path(), port, "scale")
        .args(["--store", store])
        .env("SAFEPATH_RATE_PER_MINUTE", "3")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Instance {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}

async fn post(http: &reqwest::Client, i: &Instance, path: &str, body: Value) -> (u16, Value) {
    let r = http
        .post(format!("{}{path}", i.base))
        .bearer_auth("scale")
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_one_redis() {
    let Ok(base) = std::env::var("SAFEPATH_TEST_REDIS") else {
        assert!(std::env::var("SAFEPATH_REQUIRE_REDIS").is_err());
        eprintln!("skipped: set SAFEPATH_TEST_REDIS to run");
        return;
    };
    let url = format!("{}/9", base.trim_end_matches('/'));
    let mut con = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("FLUSHDB").query(&mut con).unwrap();
    let (a, b) = (start(&url), start(&url));
    let http = reqwest::Client::new();
    for i in [&a, &b] {
        common::wait_healthy(&i.base).await;
    }
    // Turn 1 on the first instance, turn 2 on the second.
    let (_, t1) = post(
        &http,
        &a,
        "/v1/messages",
        json!({"user": "dora", "text": "微信被封了"}),
    )
    .await;
    let (_, t2) = post(
        &http,
        &b,
        "/v1/messages",
        json!({"user": "dora", "text": "1"}),
    )
    .await;
    assert!(!t1["choices"].as_array().unwrap().is_empty());
    assert_ne!(
        t2["node"], t1["node"],
        "the second instance continued the conversation"
    );
    assert_ne!(t2["node"], "menu");

    // Reports on both, all found on either, ids unique.
    let mut ids = Vec::new();
    for n in 0..10 {
        let i = if n % 2 == 0 { &a } else { &b };
        let (st, v) = post(
            &http,
            i,
            "/v1/reports",
            json!({"text": format!("代解封 押金{n}00元 加V jf{n}")}),
        )
        .await;
        assert_eq!(st, 201);
        ids.push(v["id"].as_u64().unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10);
    for i in [&a, &b] {
        let v: Value = http
            .get(format!("{}/v1/reports", i.base))
            .bearer_auth("scale")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["reports"].as_array().unwrap().len(), 10);
    }

    // Flood control across instances: 3 allowed in all (dora used 2 already), then 429 on either.
    let (st, _) = post(
        &http,
        &a,
        "/v1/messages",
        json!({"user": "dora", "text": "菜单"}),
    )
    .await;
    assert_eq!(st, 200);
    let (st, v) = post(
        &http,
        &b,
        "/v1/messages",
        json!({"user": "dora", "text": "菜单"}),
    )
    .await;
    assert_eq!(st, 429, "{v}");
}
