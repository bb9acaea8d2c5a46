//! Secrets a user types never reach the disk or the logs, even at the most verbose log level:
//! the real binaries run with `SAFEPATH_LOG=trace`, their whole output and data directory are
//! searched afterwards. And a code typed in any script, anywhere in a message, is never in any
//! output of the engine (its analysis, `classify`'s lines).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use serde_json::json;

const CODE: &str = "482913";
const PASSWORD: &str = "Mima@2026pw";
/// A code read out in Chinese numerals.
const CODE_ZH: &str = "七三九一零五";
/// A bank card's PIN, a numeric password, a payment PIN told in a story.
const CARD_PIN: &str = "660913";
const NUMERIC_PASSWORD: &str = "19870203";
const PAYMENT_PIN: &str = "250617";
/// A code sent on its own after the message that announced it.
const SPLIT_CODE: &str = "553017";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_safepath"))
}

fn assert_clean(what: &str, bytes: &[u8]) {
    for secret in [
        CODE,
        PASSWORD,
        CODE_ZH,
        CARD_PIN,
        NUMERIC_PASSWORD,
        PAYMENT_PIN,
        SPLIT_CODE,
    ] {
        assert!(
            !common::contains(bytes, secret),
            "{secret} found in {what}:\n{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

fn secret_messages() -> Vec<String> {
    vec![
        format!("客服让我报验证码 验证码是 {CODE} 能帮我解封吗"),
        format!("我的密码是 {PASSWORD} 帮我登录看看"),
        format!("my verification code is {CODE}, please unblock me"),
        format!("解封微信 先付300 加V jf8899 验证码 {CODE}"),
        format!("他让我念验证码，我念了 {CODE_ZH}"),
        format!("ATM密码是 {CARD_PIN} 会不会有事"),
        format!("我的密码是{NUMERIC_PASSWORD}，生日那个"),
        format!("他问我支付密码我说了 {PAYMENT_PIN}"),
    ]
}

/// A code announced in one message and sent in the next: only a conversation can tell.
fn split_messages() -> [String; 2] {
    ["验证码是".to_owned(), format!("{SPLIT_CODE} 快点帮我")]
}

#[test]
fn the_terminal_chat_keeps_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = bin()
        .args(["--data", data.to_str().unwrap(), "chat"])
        .env("SAFEPATH_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for m in secret_messages().into_iter().chain(split_messages()) {
            writeln!(stdin, "{m}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    // The secret warning was given, and the code is not echoed back.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("隐藏"), "{stdout}");
    assert_clean("the chat's output", &out.stdout);
    assert_clean("the chat's logs", &out.stderr);
    assert_clean("the data directory", &common::all_bytes_under(&data));
}

/// The first page of `GET /v1/reports`, as it came.
async fn reports_page(http: &reqwest::Client, base: &str) -> Vec<u8> {
    let r = http
        .get(format!("{base}/v1/reports"))
        .bearer_auth("privacy-token");
    r.send().await.unwrap().bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_http_api_keeps_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let port = common::free_port();
    let mut child = common::serve_command(&data, port, "privacy-token")
        .env("SAFEPATH_LOG", "trace")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    common::wait_healthy(&base).await;
    for (i, m) in secret_messages().into_iter().enumerate() {
        for (path, body) in [
            ("/v1/messages", json!({"user": "u", "text": m})),
            ("/v1/tickets", json!({"id": format!("T{i}"), "text": m})),
            (
                "/v1/reports",
                json!({"text": m, "note": format!("agent saw code {CODE}")}),
            ),
        ] {
            let r = http
                .post(format!("{base}{path}"))
                .bearer_auth("privacy-token")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{path}");
            assert_clean(path, &r.bytes().await.unwrap());
        }
    }
    for m in split_messages() {
        let r = http
            .post(format!("{base}/v1/messages"))
            .bearer_auth("privacy-token")
            .json(&json!({"user": "split", "text": m}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        assert_clean("/v1/messages", &r.bytes().await.unwrap());
    }
    // The team labels every report, with a note that quotes a code and a labeller named by a
    // password: neither may be kept.
    let page: serde_json::Value =
        serde_json::from_slice(&reports_page(&http, &base).await).unwrap();
    for r in page["reports"].as_array().unwrap() {
        let id = r["id"].as_u64().unwrap();
        let l = http
            .post(format!("{base}/v1/reports/{id}/label"))
            .bearer_auth("privacy-token")
            .json(&json!({"label": "scam", "by": PASSWORD, "note": format!("验证码 {CODE} 是骗子要的")}))
            .send()
            .await
            .unwrap();
        assert!(l.status().is_success());
        assert_clean("a label", &l.bytes().await.unwrap());
    }
    let reports = reports_page(&http, &base).await;
    assert!(
        common::contains(&reports, "jf8899"),
        "the scam itself is reported"
    );
    assert_clean("the reports", &reports);
    // A graceful stop flushes everything; then search it all.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    assert_clean("the server's logs", &std::fs::read(&log).unwrap());
    assert_clean("the data directory", &common::all_bytes_under(&data));

    // Retraining on the labelled reports keeps no secret either, in its output or its models.
    let labels = dir.path().join("labels.jsonl");
    common::write_report_lines(&serde_json::from_slice(&reports).unwrap(), &labels);
    let gate = dir.path().join("gate.jsonl");
    std::fs::write(&gate, "{\"text\":\"今晚一起吃饭吗\",\"scam\":false}\n").unwrap();
    let out = bin()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SAFEPATH_LOG", "trace")
        .env_remove("SAFEPATH_MODEL")
        .args(["--data", data.to_str().unwrap(), "train", "--with-labels"])
        .arg("--labels")
        .arg(&labels)
        .arg("--gate")
        .arg(&gate)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("labelled reports:"));
    assert_clean("train's output", &out.stdout);
    assert_clean("train's logs", &out.stderr);
    assert_clean(
        "the data directory and its models",
        &common::all_bytes_under(&data),
    );
}

/// The digits of a code written in one of the ways people type them.
fn written(digits: &[u8], script: usize, seps: &[&str]) -> String {
    const LOWER: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    const SPOKEN: [&str; 10] = ["〇", "幺", "两", "三", "四", "五", "六", "拐", "八", "勾"];
    const FINANCIAL: [&str; 10] = ["零", "壹", "貳", "叁", "肆", "伍", "陸", "柒", "捌", "玖"];
    let one = |i: usize, d: u8| -> String {
        let d = usize::from(d);
        match script {
            0 => d.to_string(),
            1 => char::from_u32(0xFF10 + d as u32).unwrap().to_string(),
            2 => LOWER[d].to_owned(),
            3 => SPOKEN[d].to_owned(),
            4 => FINANCIAL[d].to_owned(),
            // Mixed: ASCII and Chinese numerals in turn (`4八2九1三`).
            _ if i.is_multiple_of(2) => d.to_string(),
            _ => LOWER[d].to_owned(),
        }
    };
    let mut out = String::new();
    for (i, &d) in digits.iter().enumerate() {
        if i > 0 {
            out.push_str(seps[i % seps.len()]);
        }
        out.push_str(&one(i, d));
    }
    out
}

/// How a code is announced: before it (`验证码是`) or after it (`是验证码`).
const CUES_BEFORE: &[&str] = &[
    "验证码是",
    "验证码：",
    "驗證碼係 ",
    "个码是 ",
    "the code is ",
    "my verification code: ",
    "otp ",
    "动态码 ",
    "校验码为",
    "yzm ",
    "我发了 ",
    "I sent him ",
];
const CUES_AFTER: &[&str] = &[" 是验证码", " is my code", " 这个是不是验证码"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::fuzz_cases()))]

    /// A code in any script, spaced or not, announced before or after, anywhere in random text,
    /// is redacted: neither as written nor in any other form is it in the analysis (redacted
    /// text, normalised text, signals and evidence) or in `classify`'s line.
    #[test]
    fn a_code_in_any_script_anywhere_never_reaches_any_output(
        before in "[\\p{Han}a-zA-Z ,，。!?😀]{0,30}",
        after in "[\\p{Han}a-zA-Z ,，。!?😀]{0,30}",
        digits in proptest::collection::vec(0u8..10, 4..=8),
        script in 0usize..6,
        spaced in proptest::sample::select(vec![
            vec![""], vec![" "], vec!["-"], vec!["·"], vec![" ", ""], vec!["", "", " "],
        ]),
        cue in 0..CUES_BEFORE.len() + CUES_AFTER.len(),
    ) {
        // Words are apart from the random text (`aotp` is no word); the code touches it. A
        // story (`我发了`, `I sent him`) is weaker evidence than a secret word: the code is known
        // by its shape, six digits standing alone in a sentence of its own (a letter glued to it
        // would make an id, `482913a`; a digit another number; `QQ 我发了 …` a QQ number).
        let story = (10..CUES_BEFORE.len()).contains(&cue);
        let digits: Vec<u8> = if story {
            digits.iter().copied().cycle().take(6).collect()
        } else {
            digits
        };
        let code = written(&digits, script, &spaced);
        let msg = if story {
            format!("{before}。{}{code}，{after}", CUES_BEFORE[cue])
        } else if cue < CUES_BEFORE.len() {
            format!("{before} {}{code}{after}", CUES_BEFORE[cue])
        } else {
            format!("{before} {code}{} {after}", CUES_AFTER[cue - CUES_BEFORE.len()])
        };
        let ascii: String = digits.iter().map(|d| d.to_string()).collect();
        let e = common::engine();
        let a = e.analyze(&msg);
        let analysis = serde_json::to_string(&a).unwrap();
        let mut line = Vec::new();
        safepath::classify::run(
            &e,
            std::io::Cursor::new(format!("{msg}\n")),
            &mut line,
            safepath::classify::Options { jobs: 1, progress: false },
        )
        .unwrap();
        let line = String::from_utf8(line).unwrap();
        for out in [&analysis, &line] {
            prop_assert!(!out.contains(&code), "{} → {}", msg, out);
        }
        for text in [&a.redacted, &a.text] {
            prop_assert!(!text.contains(&ascii), "{} → {}", msg, text);
        }
        prop_assert!(!a.secrets.is_empty());
    }
}
