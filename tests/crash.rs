//! Crash safety: `safepath serve` is killed with SIGKILL while clients record reports and hold
//! conversations, then restarted on the same data directory, several times. Every acknowledged
//! report must be there with its text, ids must stay unique, and every conversation step saved
//! (acknowledged more than a flush interval before the kill) must be intact.
//!
//! The contract tested: a report is on disk before it is acknowledged; a conversation step is on
//! disk within 0.5 s of its answer (sled's background flush; see RELIABILITY.md).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use safepath::session::{decode_state, Session};
use safepath::store::{SledStore, Store};
use serde_json::{json, Value};

const ROUNDS: usize = 6;
const TOKEN: &str = "crash-test-token";

fn start(data: &Path, port: u16) -> Child {
    common::serve_command(data, port, TOKEN)
        .env("SAFEPATH_RATE_PER_MINUTE", "0")
        .env("SAFEPATH_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> Option<Value> {
    let r = http
        .post(url)
        .bearer_auth(TOKEN)
        .json(&body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// What the clients were told, per round.
#[derive(Default)]
struct Acks {
    /// report id → text
    reports: BTreeMap<u64, String>,
    /// user → the node of the last acknowledged step
    settled: HashMap<String, String>,
}

const STEPS: [&str; 6] = ["微信被封了", "1", "菜单", "2", "返回", "账号被盗了怎么办"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_repeated_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = reqwest::Client::new();
    let acks = Arc::new(Mutex::new(Acks::default()));
    let mut seq = 0u64;
    for round in 0..ROUNDS {
        let port = common::free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = start(&data, port);
        common::wait_healthy(&base).await;

        // Conversations: a few quick steps, then quiet for longer than the flush interval.
        let mut convs = Vec::new();
        for c in 0..3 {
            let (http, base, acks) = (http.clone(), base.clone(), acks.clone());
            let user = format!("r{round}-u{c}");
            convs.push(tokio::spawn(async move {
                for (i, text) in STEPS.iter().enumerate().take(2 + (round + c) % 4) {
                    let body = json!({"user": user, "text": text});
                    let v = post(&http, format!("{base}/v1/messages"), body)
                        .await
                        .unwrap_or_else(|| {
                            panic!("step {i} of {user} failed while the server is up")
                        });
                    acks.lock()
                        .unwrap()
                        .settled
                        .insert(user.clone(), v["node"].as_str().unwrap().to_owned());
                }
            }));
        }
        for c in convs {
            c.await.unwrap();
        }
        // Reports: recorded continuously until the kill.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut writers = Vec::new();
        for w in 0..4u64 {
            let (http, base, acks, stop) = (http.clone(), base.clone(), acks.clone(), stop.clone());
            let start = seq + w * 1_000_000;
            writers.push(tokio::spawn(async move {
                let mut n = start;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let text = format!("代解封 先交押金{n}元 加V jf{n}");
                    if let Some(v) =
                        post(&http, format!("{base}/v1/reports"), json!({"text": text})).await
                    {
                        let id = v["id"].as_u64().unwrap();
                        let prev = acks.lock().unwrap().reports.insert(id, text);
                        assert!(prev.is_none(), "report id {id} given twice");
                    }
                }
                n
            }));
        }
        tokio::time::sleep(Duration::from_millis(1_200 + 150 * round as u64)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in writers {
            seq = seq.max(w.await.unwrap());
        }
        seq += 1;
    }

    // After the last kill: open the directory as a fresh process would.
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&data).expect("no corruption: it opens"));
    let session = Session::new(common::engine(), store.clone(), 3600).unwrap();
    let acks = acks.lock().unwrap();
    let stored: BTreeMap<u64, String> = store
        .reports(0, 0, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.text))
        .collect();
    assert!(
        acks.reports.len() > 20,
        "the test recorded too little: {}",
        acks.reports.len()
    );
    for (id, text) in &acks.reports {
        assert_eq!(
            stored.get(id),
            Some(text),
            "acknowledged report {id} is intact"
        );
    }
    assert_eq!(acks.settled.len(), ROUNDS * 3);
    for (user, node) in &acks.settled {
        let raw = store
            .load_state(&session.user_key("api", user))
            .unwrap()
            .unwrap_or_else(|| panic!("the conversation of {user} is lost"));
        let state = decode_state(&raw).expect("a readable state");
        assert_eq!(state.node.as_deref(), Some(node.as_str()), "{user}");
    }
    eprintln!(
        "{} kills; {} acknowledged reports and {} conversations all intact ({} reports stored)",
        ROUNDS,
        acks.reports.len(),
        acks.settled.len(),
        stored.len()
    );
}
