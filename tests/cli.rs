//! The real binary: `check`, `classify`, `chat` and `reports`, as scripts use them.

use assert_cmd::Command;
use safepath::report::{Label, LabelKind, Report};
use safepath::scam::Verdict;
use safepath::store::{SledStore, Store};

fn safepath(data: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("safepath").unwrap();
    c.env_remove("SAFEPATH_INTENTS").env("SAFEPATH_DATA", data);
    c
}

fn copy_intents(to: &std::path::Path) {
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/intents")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

#[test]
fn check_passes_on_the_shipped_catalog() {
    let d = tempfile::tempdir().unwrap();
    let out = safepath(d.path()).arg("check").assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("catalog OK"));
}

/// Runs `check` on a catalog directory, expects failure, returns what it printed.
fn check_fails(dir: &std::path::Path) -> String {
    let out = safepath(dir)
        .arg("--intents")
        .arg(dir)
        .arg("check")
        .assert()
        .failure();
    String::from_utf8_lossy(&out.get_output().stderr).to_string()
}

fn rewrite(file: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from} not in {}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn check_names_file_and_entry_of_every_problem() {
    let d = tempfile::tempdir().unwrap();
    copy_intents(d.path());
    let f = d.path().join("deletion.toml");
    rewrite(&f, "'注销|销号", "'(注销|销号"); // unbalanced group
    rewrite(&f, "en = \"\"\"A grey button", "xx = \"\"\"A grey button"); // unknown field
    let common = d.path().join("common.toml");
    let asks = "\n[[node]]\nid = \"asks\"\nsources = [\"human-appeal-guide.zh.txt\"]\nzh = \"请把收到的验证码发给我们\"\nen = \"Please send us the code you received\"\n";
    std::fs::write(&common, std::fs::read_to_string(&common).unwrap() + asks).unwrap();

    // A parse error names the file; fix it and the regex error shows, with file and entry.
    assert!(check_fails(d.path()).contains("deletion.toml: TOML parse error"));
    rewrite(&f, "xx = \"\"\"A grey", "en = \"\"\"A grey");
    let err = check_fails(d.path());
    assert!(
        err.contains("deletion.toml: intent `account_deletion`: bad regex"),
        "{err}"
    );
    rewrite(&f, "'(注销|销号", "'注销|销号");
    let err = check_fails(d.path());
    assert!(
        err.contains("node `asks`: the reply asks for a secret"),
        "{err}"
    );
    let half = "\n[[node]]\nid = \"half\"\nfactual = false\nzh = \"只有中文\"\n";
    std::fs::write(&common, std::fs::read_to_string(&common).unwrap() + half).unwrap();
    let err = check_fails(d.path());
    assert!(
        err.contains("common.toml: node `half`: the English (en) text is missing"),
        "{err}"
    );
}

#[test]
fn classify_streams_one_object_per_line_and_survives_bad_lines() {
    let d = tempfile::tempdir().unwrap();
    let mut input = Vec::new();
    input.extend_from_slice("{\"text\": \"怎么注销微信账号\"}\n".as_bytes());
    input.extend_from_slice(b"my password is Sunshine2024\n");
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"\xff\xfe broken\n");
    input.extend_from_slice(b"{\"text\": 5}\n");
    input.extend_from_slice("专业解封 加V: jf8899 先解后付\n".as_bytes());
    let out = safepath(d.path())
        .arg("classify")
        .write_stdin(input)
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert_eq!(lines[0]["intent"], "account_deletion");
    assert_eq!(lines[0]["lang"], "zh");
    assert_eq!(lines[1]["intent"], "share_secret");
    assert_eq!(lines[1]["secrets"][0], "password");
    assert!(!stdout.contains("Sunshine2024"));
    assert_eq!(lines[2]["line"], 4);
    assert!(lines[3]["error"].as_str().unwrap().contains("text"));
    assert_eq!(lines[4]["scam"]["verdict"], "scam");
    assert!(lines[4]["scam"]["signals"].as_array().unwrap().len() >= 2);
}

#[test]
fn chat_runs_on_a_fresh_machine_and_reports_export() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let out = safepath(&data)
        .arg("chat")
        .write_stdin(
            "vx被封了七天咋解开\n1\n内部渠道解封,收费200,加急另收100,加V: fast_jf\n/quit\n",
        )
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("人脸识别"), "{stdout}");
    assert!(stdout.contains("已记录"), "{stdout}");
    let out = safepath(&data)
        .args(["reports", "export", "--format", "jsonl"])
        .assert()
        .success();
    let jsonl = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert_eq!(jsonl.lines().count(), 1);
    let r: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(r["channel"], "terminal");
    assert_eq!(r["verdict"], "scam");
    let out = safepath(&data)
        .args(["reports", "export", "--format", "csv"])
        .assert()
        .success();
    let csv = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert_eq!(csv.lines().count(), 2);
    assert!(csv.contains("wechat_id:fast_jf"));
    let out = safepath(&data)
        .args(["reports", "stats"])
        .assert()
        .success();
    let stats: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(stats["total"], 1);
    assert_eq!(stats["top_indicators"][0][0], "wechat_id:fast_jf");
    safepath(&data)
        .args(["reports", "export", "--since", "2999-01-01"])
        .assert()
        .success()
        .stdout("");
    safepath(&data)
        .args(["reports", "export", "--since", "yesterday"])
        .assert()
        .failure();
}

/// Reports with the team's labels, written straight into a data directory: two the detector
/// called scams (the team agrees on one), one suspicious and unlabelled.
fn labelled_store(data: &std::path::Path, labels: &[(&str, Option<LabelKind>)]) {
    let store = SledStore::open(data).unwrap();
    for (i, (text, label)) in labels.iter().enumerate() {
        let report = Report {
            id: 0,
            time: 1_764_000_000 + i as u64,
            channel: "api".into(),
            user: "agent".into(),
            text: text.to_string(),
            verdict: if i < 2 {
                Verdict::Scam
            } else {
                Verdict::Suspicious
            },
            score: 0.9,
            signals: Vec::new(),
            indicators: Vec::new(),
            note: None,
        };
        let (id, _) = store.append_report(&format!("k{i}"), report).unwrap();
        if let Some(kind) = label {
            let l = Label {
                label: *kind,
                by: format!("hash-of-agent-{i}"),
                time: 1_764_100_000 + i as u64,
                note: None,
            };
            assert!(store.set_label(id, &l).unwrap());
        }
    }
}

#[test]
fn exports_and_stats_carry_the_labels_and_the_detectors_precision() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    labelled_store(
        &data,
        &[
            ("代解封 先交500押金 加V jf8899", Some(LabelKind::Scam)),
            ("明天下午三点开会", Some(LabelKind::NotScam)),
            ("帮我看看这个链接", None),
        ],
    );
    let out = safepath(&data)
        .args(["reports", "export", "--format", "jsonl"])
        .assert()
        .success();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["label"]["label"], "scam");
    assert_eq!(lines[0]["label"]["by"], "hash-of-agent-0");
    assert_eq!(lines[1]["label"]["label"], "not_scam");
    assert!(lines[2]["label"].is_null());
    let out = safepath(&data)
        .args(["reports", "export", "--format", "csv"])
        .assert()
        .success();
    let csv = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let header = csv.lines().next().unwrap();
    assert!(header.ends_with("label,labelled_by,label_note"), "{header}");
    assert!(csv
        .lines()
        .nth(2)
        .unwrap()
        .contains(",not_scam,hash-of-agent-1,"));
    let out = safepath(&data)
        .args(["reports", "stats"])
        .assert()
        .success();
    let stats: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let l = &stats["labels"];
    assert_eq!(
        (l["scam"].as_u64(), l["not_scam"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (l["flagged"].as_u64(), l["flagged_right"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(l["precision"], 0.5);
}

/// Ordinary invitations labelled "scam" by mistake would teach the model to flag dinner plans:
/// the gate sees it on held-out lines and keeps the models in use.
#[test]
fn training_with_labels_refuses_models_worse_on_the_gate() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let wrong: Vec<(&str, Option<LabelKind>)> = [
        "明天一起去吃饭吧",
        "周末一起吃个饭吗",
        "晚上一起吃饭不",
        "中午一起吃饭好吗",
        "下班一起吃饭去",
    ]
    .into_iter()
    .map(|t| (t, Some(LabelKind::Scam)))
    .collect();
    labelled_store(&data, &wrong);
    let gate = d.path().join("gate.jsonl");
    std::fs::write(
        &gate,
        "{\"text\":\"今晚一起吃饭吗\",\"scam\":false}\n{\"text\":\"后天一起吃饭吧\",\"scam\":false}\n{\"text\":\"专业解封微信 先解后付 加V jf8899\",\"scam\":true}\n",
    )
    .unwrap();
    let train = || {
        let mut c = safepath(&data);
        c.current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("SAFEPATH_MODEL")
            .args(["train", "--with-labels"]);
        c
    };
    // Without held-out files there is no gate, and nothing is trained.
    let out = train().assert().failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("--gate"), "{err}");

    // The labels are read from the store (no server holds it here).
    let out = train().arg("--gate").arg(&gate).assert().code(1);
    let printed = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let told = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(told.contains("5 scam and 0 not_scam added"), "{told}");
    assert!(printed.contains("scam false-positive rate"), "{printed}");
    assert!(printed.contains("refused"), "{printed}");
    assert!(!data.join("model").exists(), "nothing installed");
}

/// A running server holds a sled data directory: `train --with-labels` says to pass its reports
/// as a file instead.
#[test]
fn training_with_labels_from_a_held_data_directory_says_what_to_do() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let _held = SledStore::open(&data).unwrap();
    let out = safepath(&data)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["train", "--with-labels", "--gate"])
        .arg(d.path().join("gate.jsonl"))
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("in use by another safepath process"), "{err}");
    assert!(err.contains("--labels FILE"), "{err}");
}

#[test]
fn a_foreign_data_directory_is_refused() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("thesis.docx"), b"important").unwrap();
    let out = safepath(d.path())
        .args(["reports", "stats"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("not a safepath data directory"), "{err}");
}

/// Missing or malformed secrets stop the network frontends with one clear line, never a panic.
#[test]
fn missing_or_malformed_tokens_are_one_line_errors() {
    let d = tempfile::tempdir().unwrap();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        (&["telegram"], &[], "TELOXIDE_TOKEN is not set"),
        (
            &["telegram"],
            &[("TELOXIDE_TOKEN", "not-a-token")],
            "TELOXIDE_TOKEN is malformed",
        ),
        (
            &["serve"],
            &[("SAFEPATH_API_TOKEN", "")],
            "SAFEPATH_API_TOKEN is empty",
        ),
        (
            &["--store", "postgres://x", "serve"],
            &[("SAFEPATH_API_TOKEN", "t")],
            "--store must be",
        ),
    ];
    for (args, env, expect) in cases {
        let mut c = safepath(d.path());
        c.env_remove("TELOXIDE_TOKEN")
            .env_remove("SAFEPATH_API_TOKEN")
            .env_remove("SAFEPATH_STORE");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn classify_with_several_workers_answers_every_line_in_input_order() {
    // Enough lines for many batches, so workers finish out of order and the writer must wait.
    let engine = safepath::engine::Engine::shipped().unwrap();
    let mut input = String::new();
    for i in 1..=2000 {
        if i % 97 == 0 {
            input.push_str("{\"text\": broken\n");
        } else if i % 101 == 0 {
            input.push('\n'); // blank lines are skipped, but still counted
        } else {
            input.push_str(&format!("{{\"text\": \"marker{i} 微信被封了怎么办\"}}\n"));
        }
    }
    let mut out = Vec::new();
    let options = safepath::classify::Options {
        jobs: 3,
        progress: false,
    };
    let (ok, bad) = safepath::classify::run(&engine, input.as_bytes(), &mut out, options).unwrap();
    let lines: Vec<serde_json::Value> = std::str::from_utf8(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected: Vec<usize> = (1..=2000).filter(|i| i % 101 != 0).collect();
    assert_eq!(lines.len(), expected.len());
    assert_eq!(bad, expected.iter().filter(|i| *i % 97 == 0).count());
    assert_eq!(ok + bad, lines.len());
    for (got, &i) in lines.iter().zip(&expected) {
        if i % 97 == 0 {
            assert_eq!(got["line"], i, "{got}");
        } else {
            let text = got["text"].as_str().unwrap();
            assert!(text.starts_with(&format!("marker{i} ")), "line {i}: {text}");
            assert_eq!(got["intent"], "self_unblock");
        }
    }
}

#[test]
fn check_names_a_route_to_a_node_that_does_not_exist() {
    let d = tempfile::tempdir().unwrap();
    copy_intents(d.path());
    rewrite(
        &d.path().join("unblock.toml"),
        "next = \"self_unblock.face\" }",
        "next = \"self_unblock.fase\" }",
    );
    let err = check_fails(d.path());
    assert!(
        err.contains("intent `self_unblock` route: leads to unknown node `self_unblock.fase`"),
        "{err}"
    );
}

fn copy_corpus(to: &std::path::Path) {
    for sub in ["intents", "scam"] {
        let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(sub);
        std::fs::create_dir_all(to.join(sub)).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, to.join(sub).join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn a_support_lead_adds_a_line_trains_and_scores() {
    let d = tempfile::tempdir().unwrap();
    let corpus = d.path().join("corpus");
    copy_corpus(&corpus);
    let added = corpus.join("intents/new.jsonl");
    std::fs::write(
        &added,
        "{\"text\": \"号让人拿走了 登不回去\", \"intent\": \"account_recovery\", \"source\": \"written\"}\n",
    )
    .unwrap();
    // The shipped model was not trained on the new line: check says so and what to run.
    let out = safepath(d.path())
        .arg("check")
        .arg("--corpus")
        .arg(&corpus)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("was not trained on the corpus") && err.contains("safepath train"),
        "{err}"
    );

    let model = d.path().join("model");
    let out = safepath(d.path())
        .args(["train", "--corpus"])
        .arg(&corpus)
        .arg("--out")
        .arg(&model)
        .assert()
        .success();
    let said = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(said.contains("out-of-fold accuracy"), "{said}");
    // The new models load, and check passes with them.
    safepath(d.path())
        .arg("--model")
        .arg(&model)
        .arg("check")
        .arg("--corpus")
        .arg(&corpus)
        .assert()
        .success();

    let set = d.path().join("set.jsonl");
    std::fs::write(
        &set,
        "{\"text\": \"微信被封了怎么自助解封\", \"intent\": \"self_unblock\"}\n{\"text\": \"专业解封 先解后付 加V jf8899\", \"scam\": true, \"family\": \"third_party_unblock\"}\n{\"text\": \"官方不会向您索要验证码\", \"scam\": false}\n",
    )
    .unwrap();
    let out = safepath(d.path())
        .arg("--model")
        .arg(&model)
        .arg("eval")
        .arg(&set)
        .assert()
        .success();
    let table = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        table.contains("intent accuracy 1.000")
            && table.contains("scam precision 1.000 recall 1.000"),
        "{table}"
    );
    let out = safepath(d.path())
        .args(["eval", "--json"])
        .arg(&set)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["accuracy"], 1.0);
    assert_eq!(v["scam"]["families"]["third_party_unblock"], 1.0);

    // A file that is not there, or not JSON lines, is a clear error.
    let out = safepath(d.path())
        .args(["eval", "nope.jsonl"])
        .assert()
        .failure();
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("reading nope.jsonl"));
    std::fs::write(&set, "{\"text\": 1}\n").unwrap();
    let out = safepath(d.path()).arg("eval").arg(&set).assert().failure();
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains(":1: no string `text`"));
}
