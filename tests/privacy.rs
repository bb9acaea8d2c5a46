//! Secrets a user types never reach the disk or the logs, even at the most verbose log level:
//! the real binaries run with `SAFEPATH_LOG=trace`, their whole output and data directory are
//! searched afterwards.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

const CODE: &str = "482913";
const PASSWORD: &str = "Mima@2026pw";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_safepath"))
}

fn assert_clean(what: &str, bytes: &[u8]) {
    for secret in [CODE, PASSWORD] {
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
    ]
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
        for m in secret_messages() {
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
    let reports = http
        .get(format!("{base}/v1/reports"))
        .bearer_auth("privacy-token")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
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
}
