//! Hostile input through the whole pipeline: never a panic, and a typed code never survives
//! redaction, whatever surrounds it. Also the catalog loader on damaged files and the HTTP JSON
//! layer on arbitrary bodies.
//!
//! Cases per property: 300 by default; CI runs a second pass with `SAFEPATH_FUZZ_CASES=20000`
//! (not `PROPTEST_CASES`, which would override every per-property count).

mod common;

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use safepath::catalog::Catalog;
use safepath::engine::Engine;
use tower::ServiceExt;

fn engine() -> &'static Engine {
    static E: OnceLock<Arc<Engine>> = OnceLock::new();
    E.get_or_init(common::engine)
}

fn cases() -> u32 {
    common::fuzz_cases()
}

/// The API router on a store in a directory that lives as long as the test binary.
fn router() -> &'static (axum::Router, tokio::runtime::Runtime) {
    static R: OnceLock<(axum::Router, tokio::runtime::Runtime)> = OnceLock::new();
    R.get_or_init(|| {
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        let session = Arc::new(common::session(&dir.path().join("data")));
        let api = Arc::new(safepath::http::Api::new(session, "t").unwrap());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        (safepath::http::router(api), rt)
    })
}

fn post(path: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let (app, rt) = router();
    rt.block_on(async {
        let req = Request::post(path)
            .header("authorization", "Bearer t")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    })
}

fn shipped_sources() -> Vec<(String, String)> {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/intents"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_text_is_analysed_without_panic(s in "\\PC{0,200}") {
        let a = engine().analyze(&s);
        prop_assert!(a.intent.confidence >= 0.0 && a.intent.confidence <= 1.0);
    }

    #[test]
    fn separators_controls_and_emoji_are_survived(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("解".to_string()), Just("封".to_string()), Just("\u{202e}".to_string()),
                Just("\u{200b}".to_string()), Just("😀".to_string()), Just("-".to_string()),
                Just("\u{0}".to_string()), Just("Ｖ".to_string()), Just(" ".to_string()),
                "[a-z0-9]{1,4}",
            ],
            0..400,
        )
    ) {
        let s: String = parts.concat();
        engine().analyze(&s);
    }

    #[test]
    fn a_typed_code_is_always_redacted(
        before in "[\\p{Han}a-z ,。]{0,30}",
        code in "[0-9]{6}",
        after in "[\\p{Han}a-z ,。]{0,30}",
    ) {
        let msg = format!("{before}验证码是{code}{after}");
        let a = engine().analyze(&msg);
        prop_assert!(!a.redacted.contains(&code), "{} → {}", msg, a.redacted);
        prop_assert!(!a.text.contains(&code));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases() / 100 + 10))]

    /// A damaged catalog file is refused with errors (or loads), never a panic.
    #[test]
    fn a_damaged_catalog_is_refused_not_a_panic(
        file in 0usize..6,
        at in 0.0f64..1.0,
        cut in 0usize..200,
        insert in prop_oneof![
            Just(String::new()), Just("[".to_string()), Just("\"".to_string()),
            Just("strong = [\"(\"]".to_string()), Just("\n[[intent]]\nid = \"x\"\n".to_string()),
            Just("{unknown_macro}".to_string()), Just("\u{0}".to_string()), "\\PC{0,20}",
        ],
    ) {
        let mut sources = shipped_sources();
        sources.sort();
        let (_, text) = &mut sources[file % 6];
        let mut pos = ((text.len() as f64) * at) as usize;
        while !text.is_char_boundary(pos) { pos -= 1; }
        let mut end = (pos + cut).min(text.len());
        while !text.is_char_boundary(end) { end -= 1; }
        text.replace_range(pos..end, &insert);
        if let Ok(c) = Catalog::from_sources(sources) {
            // Whatever loads must still answer.
            if let Ok(e) = Engine::new(c) {
                e.analyze("微信被封了怎么办");
            }
        }
    }

    /// Any body to the JSON routes gets a reply or an error of the stable shape.
    #[test]
    fn any_body_gets_a_reply_or_a_shaped_error(
        path in prop_oneof![Just("/v1/messages"), Just("/v1/tickets"), Just("/v1/reports")],
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            "\\PC{0,200}".prop_map(|s| s.into_bytes()),
            ("\\PC{0,5}", "\\PC{0,300}").prop_map(|(u, t)| serde_json::to_vec(
                &serde_json::json!({"user": u, "id": u, "text": t})).unwrap()),
            Just(b"{\"user\": [], \"text\": {}}".to_vec()),
            Just(b"null".to_vec()),
        ],
    ) {
        let (status, v) = post(path, body);
        match status {
            200 | 201 => prop_assert!(v.get("text").is_some() || v.get("id").is_some(), "{v}"),
            400 | 413 | 422 => prop_assert!(v["error"]["code"].is_string(), "{status} {v}"),
            other => prop_assert!(false, "unexpected status {other}: {v}"),
        }
    }
}

#[test]
fn floods_and_huge_messages_do_not_hang() {
    let e = engine();
    e.analyze(&"-".repeat(10_000));
    e.analyze(&"😀".repeat(10_000));
    e.analyze(&"解 ".repeat(20_000));
    e.analyze(&"a".repeat(64 * 1024));
    e.analyze(&"\u{202e}\u{202d}".repeat(10_000));
    e.analyze(&"\u{0}\u{7}\u{1b}[31m".repeat(5_000));
    e.analyze(&"👨‍👩‍👧‍👦🔥".repeat(5_000));
    e.analyze(&"解\u{200b}封".repeat(10_000));
}
