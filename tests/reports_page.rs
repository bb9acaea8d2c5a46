//! The team's reports page in headless Chromium: the chart and the table show the reports the
//! test recorded, and report text is shown as text, never run as HTML.
//!
//! Needs `chromium` (`.ci/run` installs Debian's). Without it the test says so and passes,
//! unless `SAFEPATH_REQUIRE_BROWSER=1` (set by CI) makes a missing browser a failure.

mod common;

use std::process::Command;
use std::sync::Arc;

use safepath::report;
use safepath::session::{now, Session};
use safepath::store::SledStore;

const TOKEN: &str = "page-token-abcdef";

fn browser() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reports_page_shows_the_recorded_reports() {
    let Some(chrome) = browser() else {
        assert!(
            std::env::var("SAFEPATH_REQUIRE_BROWSER").is_err(),
            "SAFEPATH_REQUIRE_BROWSER is set but no chromium was found"
        );
        eprintln!("skipped: no chromium on this machine (CI installs it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(&dir.path().join("data")).unwrap());
    let session = Arc::new(Session::new(common::engine(), store, 3600).unwrap());
    let texts = [
        "解封微信 300元包成功 加V jf8899",
        "代解封，先交押金500，QQ 12345678",
        "<img src=x onerror=alert(1)> 专业解封 先付200 加V jf8899",
    ];
    let mut ids = Vec::new();
    for t in texts {
        let a = session.analyze(t);
        let key = session.user_key("test", "agent");
        ids.push(session.record("test", &key, &a, None, now()).unwrap().0);
    }
    // The team has labelled the first one.
    let label = report::Label {
        label: report::LabelKind::Scam,
        by: "h".into(),
        time: now(),
        note: None,
    };
    assert!(session.store().set_label(ids[0], &label).unwrap());
    let url = format!("{}/#token={TOKEN}", common::spawn_api(session, TOKEN).await);

    let profile = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&url)
        .output()
        .await
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("data-loaded=\"1\""),
        "the page did not load its data:\n{dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The table: one row per report, the text shown (escaped) as it was recorded.
    assert_eq!(dom.matches("<tr class=\"report\">").count(), 3, "{dom}");
    assert!(dom.contains("代解封，先交押金500，QQ 12345678"));
    assert!(
        dom.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "report text is shown as text"
    );
    assert!(!dom.contains("<img src=\"x\""));
    // The chart: today's bar counts the three reports.
    let today = report::day(now());
    assert!(
        dom.contains(&format!("data-day=\"{today}\" data-count=\"3\"")),
        "{dom}"
    );
    // The signal counts and the most named contact.
    assert!(dom.contains("paid_unblock_offer"));
    assert!(dom.contains("wechat_id:jf8899"), "{dom}");
    assert!(dom.contains("id=\"today-total\">3<"));
    // Two label buttons a report; the label the team set is marked.
    assert_eq!(dom.matches("data-label=\"scam\"").count(), 3, "{dom}");
    assert_eq!(dom.matches("data-label=\"not_scam\"").count(), 3);
    assert_eq!(dom.matches("class=\"chosen\"").count(), 1, "{dom}");
    assert!(
        dom.contains("data-label=\"scam\" class=\"chosen\""),
        "{dom}"
    );
}
