//! Hot reload against the real `safepath serve` binary: a real SIGHUP (and `POST
//! /v1/admin/reload`) swaps the catalog and the models without a restart or a lost
//! conversation; a broken catalog is refused and the old one answers on. And the team's labels
//! reach the model: reports labelled through the API, `train --with-labels`, a SIGHUP.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TOKEN: &str = "reload-token-0123456789";

/// Ends the child when dropped (a failed test included).
struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(data: &Path, intents: Option<&Path>) -> Server {
        let port = common::free_port();
        let mut cmd = common::serve_command(data, port, TOKEN);
        cmd.env("SAFEPATH_RATE_PER_MINUTE", "0")
            .env_remove("SAFEPATH_MODEL")
            .env_remove("SAFEPATH_INTENTS")
            .stderr(Stdio::null());
        if let Some(dir) = intents {
            cmd.arg("--intents").arg(dir);
        }
        let server = Server {
            child: cmd.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        common::wait_healthy(&server.base).await;
        server
    }

    async fn post(&self, path: &str, body: Value) -> (reqwest::StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> String {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        r.text().await.unwrap()
    }

    /// The `version` label of `safepath_engine_info`, and the refused reloads, from /metrics.
    async fn engine(&self) -> (String, u64) {
        let m = self.get("/metrics").await;
        let version = m
            .lines()
            .find_map(|l| l.strip_prefix("safepath_engine_info{version=\""))
            .and_then(|l| l.split('"').next())
            .unwrap_or_else(|| panic!("no engine version in\n{m}"))
            .to_owned();
        let refused = m
            .lines()
            .find_map(|l| l.strip_prefix("safepath_engine_reloads_refused_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no refused reloads in\n{m}"));
        assert!(
            m.contains("safepath_engine_loaded_timestamp_seconds "),
            "{m}"
        );
        (version, refused)
    }

    fn sighup(&self) {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP failed");
    }

    /// Waits (up to 60 s: a catalog compiles in about a second on a loaded machine) until
    /// /metrics shows something other than `before`.
    async fn engine_changes(&self, before: &(String, u64)) -> (String, u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = self.engine().await;
            if &now != before {
                return now;
            }
            assert!(Instant::now() < deadline, "the engine never changed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn copy_intents(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/intents")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

fn rewrite(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from} not in {}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

/// The text of the choice numbered 1 in a reply.
fn first_choice(reply: &Value) -> String {
    reply["choices"][0]["label"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_catalog_refuses_a_broken_one_and_keeps_conversations() {
    let dir = tempfile::tempdir().unwrap();
    let intents = dir.path().join("intents");
    copy_intents(&intents);
    let s = Server::start(&dir.path().join("data"), Some(&intents)).await;
    let first = s.engine().await;
    assert_eq!(first.1, 0);

    // A conversation is under way: the self-unblock step offers its choices.
    let (status, started) = s
        .post(
            "/v1/messages",
            json!({"user": "u1", "text": "vx被封了怎么解封"}),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    let choice = first_choice(&started);
    assert!(!choice.is_empty(), "{started}");

    // A broken catalog: refused with its reasons, the old one answers on.
    let deletion = intents.join("deletion.toml");
    rewrite(&deletion, "'注销|销号", "'(注销|销号");
    let (status, refused) = s.post("/v1/admin/reload", json!({})).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "reload_refused");
    let msg = refused["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("deletion.toml") && msg.contains("bad regex"),
        "{msg}"
    );
    s.sighup();
    let after_hup = s.engine_changes(&(first.0.clone(), 1)).await;
    assert_eq!(
        after_hup,
        (first.0.clone(), 2),
        "refused twice, same version"
    );

    // Fixed, with the first choice's label changed: a SIGHUP loads it.
    rewrite(&deletion, "'(注销|销号", "'注销|销号");
    let renamed = format!("{choice}（新）");
    let label = format!("zh = \"{choice}\"");
    let file = std::fs::read_dir(&intents)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read_to_string(p).unwrap().contains(&label))
        .unwrap();
    rewrite(&file, &label, &format!("zh = \"{renamed}\""));
    s.sighup();
    let reloaded = s.engine_changes(&after_hup).await;
    assert_ne!(reloaded.0, first.0, "a new version");
    assert_eq!(reloaded.1, 2);

    // The conversation went on across both reloads: the user's "1" picks the step's choice.
    let (status, next) = s
        .post("/v1/messages", json!({"user": "u1", "text": "1"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(next["node"], "self_unblock.face", "{next}");
    let (_, fresh) = s
        .post(
            "/v1/messages",
            json!({"user": "u2", "text": "vx被封了怎么解封"}),
        )
        .await;
    assert_eq!(first_choice(&fresh), renamed, "the new catalog answers");
}

/// Five variations of a vote-link scam (a link that asks the friend to log in: how accounts are
/// stolen), which neither the catalog nor the shipped model knows.
const VARIATIONS: [&str; 5] = [
    "帮我投一票好吗，点开链接选3号就行，谢谢啦",
    "亲，在参加比赛，麻烦帮忙投个票，链接进去登录一下就能投",
    "帮忙给我家孩子投个票吧，点链接第12号，谢谢",
    "朋友帮个忙投票，进去用微信授权登录，选8号",
    "在吗？帮我投一下票，链接里面找7号，感谢感谢",
];
const UNSEEN: &str = "老铁，帮我投个票呗，链接里第5号就是我";

#[tokio::test(flavor = "multi_thread")]
async fn a_label_reaches_the_model_after_training_and_a_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Server::start(&data, None).await;
    let ticket = json!({"id": "T-1", "text": UNSEEN});
    let (_, before) = s.post("/v1/tickets", ticket.clone()).await;
    assert_eq!(before["scam"]["verdict"], "clean", "{before}");

    for text in VARIATIONS {
        let (status, r) = s.post("/v1/reports", json!({"text": text})).await;
        assert_eq!(status, 201, "{r}");
        let id = r["id"].as_u64().unwrap();
        let (status, l) = s
            .post(
                &format!("/v1/reports/{id}/label"),
                json!({"label": "scam", "by": "agent-7"}),
            )
            .await;
        assert_eq!(status, 200, "{l}");
    }
    // The server holds the data directory: its reports go to `train` as a file.
    let page: Value = serde_json::from_str(&s.get("/v1/reports?limit=1000").await).unwrap();
    let labels = dir.path().join("labels.jsonl");
    assert_eq!(common::write_report_lines(&page, &labels), 5);
    let gate = dir.path().join("gate.jsonl");
    std::fs::write(
        &gate,
        [
            json!({"text": "今晚一起吃饭吗", "scam": false}),
            json!({"text": "专业解封微信 先解后付 加V jf8899", "scam": true}),
            json!({"text": "微信被封了怎么解封", "intent": "self_unblock"}),
        ]
        .map(|v| v.to_string())
        .join("\n"),
    )
    .unwrap();

    let before_engine = s.engine().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_safepath"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("SAFEPATH_INTENTS")
        .env_remove("SAFEPATH_MODEL")
        .arg("--data")
        .arg(&data)
        .args(["train", "--with-labels", "--labels"])
        .arg(&labels)
        .arg("--gate")
        .arg(&gate)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    let told = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{printed}\n{told}");
    assert!(told.contains("5 scam and 0 not_scam added"), "{told}");
    assert!(printed.contains("installed in"), "{printed}");
    // Not yet: the running server still answers with the models it loaded.
    let (_, still) = s.post("/v1/tickets", ticket.clone()).await;
    assert_eq!(still["scam"]["verdict"], "clean");

    s.sighup();
    let after = s.engine_changes(&before_engine).await;
    assert_eq!(after.1, 0, "nothing refused");
    let (_, caught) = s.post("/v1/tickets", ticket).await;
    assert_eq!(caught["scam"]["verdict"], "scam", "{caught}");
    assert_eq!(caught["deflect"], false);
    let signals: Vec<&str> = caught["scam"]["signals"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(signals.contains(&"similar_to_known_scams"), "{caught}");

    // A damaged model in the data directory is refused with its reason; the one loaded stays.
    std::fs::write(data.join("model").join("scam.bin"), b"not a model").unwrap();
    let (status, refused) = s.post("/v1/admin/reload", json!({})).await;
    assert_eq!(status, 422, "{refused}");
    let msg = refused["error"]["message"].as_str().unwrap();
    assert!(msg.contains("scam.bin"), "{msg}");
    assert_eq!(s.engine().await, (after.0.clone(), 1));
    let (_, still_caught) = s
        .post("/v1/tickets", json!({"id": "T-2", "text": UNSEEN}))
        .await;
    assert_eq!(still_caught["scam"]["verdict"], "scam");
}
