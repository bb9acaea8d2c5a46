//! The HTTP API over a real socket: every route, status code and error shape, auth included.

mod common;

use std::sync::Arc;

use reqwest::{Client, StatusCode};
use safepath::limit::Rate;
use safepath::session::Session;
use safepath::store::SledStore;
use serde_json::{json, Value};

const TOKEN: &str = "test-token-0123456789";

struct Server {
    base: String,
    http: Client,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(rate: Option<Rate>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(&dir.path().join("data")).unwrap());
        let session = Session::new(common::engine(), store, 3600)
            .unwrap()
            .with_rate(rate);
        let base = common::spawn_api(Arc::new(session), TOKEN).await;
        Server {
            base,
            http: Client::new(),
            _dir: dir,
        }
    }

    /// A request with the token.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path)
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::DELETE, path)
    }

    async fn get_json(&self, path: &str) -> Value {
        self.get(path).send().await.unwrap().json().await.unwrap()
    }

    async fn json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self.post(path).json(&body).send().await.unwrap();
        (r.status(), r.json().await.unwrap())
    }
}

fn error_code(v: &Value) -> &str {
    v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error shape: {v}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_is_required_except_on_health_metrics_and_docs() {
    let s = Server::start(None).await;
    for (method, path) in [
        ("POST", "/v1/tickets"),
        ("POST", "/v1/messages"),
        ("POST", "/v1/reports"),
        ("GET", "/v1/reports"),
        ("GET", "/v1/dashboard"),
        ("DELETE", "/v1/users/someone"),
        ("POST", "/v1/reports/1/label"),
        ("POST", "/v1/admin/reload"),
    ] {
        let url = format!("{}{path}", s.base);
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        for auth in [None, Some("wrong"), Some("test-token-012345678")] {
            let mut req = s.http.request(m.clone(), &url).json(&json!({"text": "x"}));
            if let Some(a) = auth {
                req = req.bearer_auth(a);
            }
            let r = req.send().await.unwrap();
            assert_eq!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} {auth:?}"
            );
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
            let v: Value = r.json().await.unwrap();
            assert_eq!(error_code(&v), "unauthorized");
            assert!(!v.to_string().contains(TOKEN));
        }
    }
    for path in ["/healthz", "/metrics", "/v1/openapi.json", "/"] {
        let r = s
            .http
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let h: Value = s
        .http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_routine_ticket_is_deflected_with_the_official_path() {
    let s = Server::start(None).await;
    let (st, v) = s
        .json(
            "/v1/tickets",
            json!({"id": "T-1", "text": "微信被封了怎么解封"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["id"], "T-1");
    assert_eq!(v["intent"], "self_unblock");
    assert_eq!(v["deflect"], true, "{v}");
    assert!(v["confidence"].as_f64().unwrap() >= 0.7);
    let answer = v["answer"].as_str().unwrap();
    assert!(answer.contains(v["text"].as_str().unwrap().trim_end()));
    assert_eq!(v["scam"]["verdict"], "clean");
    assert!(v["notices"].as_array().is_some());

    // English when asked for, whatever the text's language.
    let (_, en) = s
        .json(
            "/v1/tickets",
            json!({"id": "T-2", "text": "微信被封了怎么解封", "lang": "en"}),
        )
        .await;
    let en_text = en["text"].as_str().unwrap();
    let han = en_text
        .chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .count();
    assert!(
        han * 20 < en_text.chars().count(),
        "mostly English: {en_text}"
    );
    assert_eq!(en["intent"], "self_unblock");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ticket_naming_a_reported_contact_says_so() {
    // A contact's reputation lives in the store: such a ticket is not answered on the async
    // thread without it.
    let s = Server::start(None).await;
    let ad = "专业解封微信，先付300定金，加V:jf8899，包解封不成功不收费";
    s.json("/v1/tickets", json!({"id": "T-1", "text": ad}))
        .await;
    let (st, v) = s
        .json(
            "/v1/tickets",
            json!({"id": "T-2", "text": "有需要的加V: jf8899"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let signals = v["scam"]["signals"].as_array().unwrap();
    assert!(signals.iter().any(|x| x["name"] == "known_contact"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn scams_secrets_and_unclear_tickets_are_never_deflected() {
    let s = Server::start(None).await;
    let (_, scam) = s
        .json(
            "/v1/tickets",
            json!({"id": "T-3", "text": "专业解封微信，先付300定金，加V:jf8899，包解封不成功不收费"}),
        )
        .await;
    assert_eq!(scam["deflect"], false);
    assert_eq!(scam["scam"]["verdict"], "scam");
    assert!(!scam["scam"]["signals"].as_array().unwrap().is_empty());
    // The scam ticket reached the report log.
    let reports: Value = s.get_json("/v1/reports").await;
    let list = reports["reports"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{reports}");
    assert_eq!(list[0]["channel"], "ticket");

    let (_, secret) = s
        .json(
            "/v1/tickets",
            json!({"id": "T-4", "text": "客服你好 我的验证码是 482913 帮我解封"}),
        )
        .await;
    assert_eq!(secret["deflect"], false);
    assert_eq!(secret["secrets"], json!(["verification_code"]));
    assert!(!secret.to_string().contains("482913"));

    let (_, vague) = s
        .json("/v1/tickets", json!({"id": "T-5", "text": "你好"}))
        .await;
    assert_eq!(vague["deflect"], false);

    let (_, human) = s
        .json(
            "/v1/tickets",
            json!({"id": "T-6", "text": "我要转人工客服"}),
        )
        .await;
    assert_eq!(human["deflect"], false, "{human}");
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_keep_a_conversation_per_user_and_forget_deletes_it() {
    let s = Server::start(None).await;
    let (st, first) = s
        .json("/v1/messages", json!({"user": "u1", "text": "微信被封了"}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let choices = first["choices"].as_array().unwrap();
    assert!(!choices.is_empty(), "{first}");
    assert_eq!(choices[0]["id"], "1");
    let (_, second) = s
        .json("/v1/messages", json!({"user": "u1", "text": "1"}))
        .await;
    assert_ne!(second["node"], first["node"], "choice 1 moves the flow on");
    // Another user saying "1" has no choice to pick.
    let (_, other) = s
        .json("/v1/messages", json!({"user": "u2", "text": "1"}))
        .await;
    assert_ne!(other["node"], second["node"]);

    let r = s.delete("/v1/users/u1").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, after) = s
        .json("/v1/messages", json!({"user": "u1", "text": "1"}))
        .await;
    assert_eq!(after["node"], other["node"], "forgotten: like a new user");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_stable_error_shape() {
    let s = Server::start(None).await;
    let raw = |body: Vec<u8>| {
        s.post("/v1/messages")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (b"{not json".to_vec(), StatusCode::BAD_REQUEST, "bad_json"),
        (b"".to_vec(), StatusCode::BAD_REQUEST, "bad_json"),
        (
            br#"{"user": 5, "text": "hi"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            br#"{"text": "hi"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            br#"{"user": "u", "text": "   "}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_text",
        ),
        (
            b"{\"user\": \"u\", \"text\": \"\xff\xfe\"}".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_utf8",
        ),
        (
            serde_json::to_vec(&json!({"user": "u", "text": "封".repeat(30_000)})).unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "text_too_long",
        ),
        (
            serde_json::to_vec(&json!({"user": "u", "text": "a".repeat(600_000)})).unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (body, status, code) in cases {
        let r = raw(body).await.unwrap();
        assert_eq!(r.status(), status, "{code}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(error_code(&v), code);
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    let r = s.get("/v1/nothing-here").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(&r.json().await.unwrap()), "not_found");
    let r = s.get("/v1/reports?limit=abc").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = s.get("/v1/reports?since=yesterday").send().await.unwrap();
    assert_eq!(error_code(&r.json().await.unwrap()), "invalid_field");
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_are_recorded_once_and_paged() {
    let s = Server::start(None).await;
    let texts = [
        "解封微信 300元包成功 加V jf8899",
        "代解封，先交押金500，QQ 12345678",
        "帮忙辅助验证 给你200红包 加微信 fz_2026",
    ];
    let mut ids = Vec::new();
    for t in texts {
        let (st, v) = s
            .json(
                "/v1/reports",
                json!({"text": t, "note": "seen in group; code 482913"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        assert_eq!(v["new"], true);
        ids.push(v["id"].as_u64().unwrap());
    }
    // The same text again is not duplicated.
    let (st, again) = s.json("/v1/reports", json!({"text": texts[0]})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(again["id"].as_u64().unwrap(), ids[0]);
    assert_eq!(again["new"], false);

    let (st, bad) = s
        .json("/v1/reports", json!({"text": "x", "channel": "no spaces"}))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&bad), "invalid_field");

    let page1: Value = s.get_json("/v1/reports?limit=2").await;
    let got1: Vec<u64> = page1["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(got1, ids[..2]);
    let next = page1["next"].as_u64().unwrap();
    let page2: Value = s
        .get_json(&format!("/v1/reports?limit=2&after={next}"))
        .await;
    assert_eq!(page2["reports"][0]["id"].as_u64().unwrap(), ids[2]);
    assert!(page2["next"].is_null());
    // Notes are redacted like messages; the channel defaults to "api".
    assert!(!page1.to_string().contains("482913"), "{page1}");
    assert_eq!(page1["reports"][0]["channel"], "api");
    let future: Value = s.get_json("/v1/reports?since=2999-01-01").await;
    assert!(future["reports"].as_array().unwrap().is_empty());

    let dash: Value = s.get_json("/v1/dashboard").await;
    assert_eq!(dash["today"]["total"], 3);
    assert_eq!(dash["latest"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_team_labels_reports_and_the_label_travels_with_them() {
    let s = Server::start(None).await;
    let (_, scam) = s
        .json(
            "/v1/reports",
            json!({"text": "解封微信 300元包成功 加V jf8899"}),
        )
        .await;
    let (_, ham) = s
        .json(
            "/v1/reports",
            json!({"text": "明天下午三点开会，记得带电脑"}),
        )
        .await;
    let (scam, ham) = (scam["id"].as_u64().unwrap(), ham["id"].as_u64().unwrap());

    let (st, v) = s
        .json(
            &format!("/v1/reports/{scam}/label"),
            json!({"label": "scam", "by": "agent-alice", "note": "seen twice; code 482913"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["id"].as_u64(), Some(scam));
    assert_eq!(v["label"]["label"], "scam");
    // Who labelled is a salted hash; the note is redacted like any message.
    let by = v["label"]["by"].as_str().unwrap().to_owned();
    assert_eq!(by.len(), 32, "{v}");
    assert!(!v.to_string().contains("alice") && !v.to_string().contains("482913"));
    // Labelled again: the newest label wins.
    let (st, _) = s
        .json(
            &format!("/v1/reports/{ham}/label"),
            json!({"label": "scam"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s
        .json(
            &format!("/v1/reports/{ham}/label"),
            json!({"label": "not_scam"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);

    let page: Value = s.get_json("/v1/reports").await;
    let reports = page["reports"].as_array().unwrap();
    assert_eq!(reports[0]["label"]["label"], "scam");
    assert_eq!(reports[0]["label"]["by"], by.as_str());
    assert_eq!(reports[1]["label"]["label"], "not_scam");
    assert_ne!(reports[1]["label"]["by"], by.as_str(), "another labeller");
    assert!(!page.to_string().contains("482913"));

    // No such report; a label that is neither; an id that is no number; unknown fields.
    let (st, v) = s
        .json("/v1/reports/999999/label", json!({"label": "scam"}))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&v), "no_such_report");
    let (st, v) = s
        .json(
            &format!("/v1/reports/{scam}/label"),
            json!({"label": "spam"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&v), "invalid_field");
    let (st, v) = s
        .json("/v1/reports/abc/label", json!({"label": "scam"}))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&v), "invalid_field");
    let (st, _) = s
        .json(
            &format!("/v1/reports/{scam}/label"),
            json!({"label": "scam", "colour": "red"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    // A refusal changed nothing.
    let again: Value = s.get_json("/v1/reports").await;
    assert_eq!(again["reports"], page["reports"]);

    // The reports page counts labels and the detector's precision on them.
    let dash: Value = s.get_json("/v1/dashboard").await;
    let labels = &dash["today"]["labels"];
    assert_eq!(labels["scam"], 1, "{dash}");
    assert_eq!(labels["not_scam"], 1);
    assert_eq!(
        dash["latest"][0]["label"]["label"], "not_scam",
        "newest first"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_without_a_catalog_source_says_it_cannot_reload() {
    let s = Server::start(None).await;
    let (st, v) = s.json("/v1/admin/reload", json!({})).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(error_code(&v), "reload_unavailable");
}

#[tokio::test(flavor = "multi_thread")]
async fn flood_control_answers_429_per_user() {
    let s = Server::start(Some(Rate {
        per_minute: 1,
        burst: 2,
    }))
    .await;
    for _ in 0..2 {
        let (st, _) = s
            .json("/v1/messages", json!({"user": "flooder", "text": "你好"}))
            .await;
        assert_eq!(st, StatusCode::OK);
    }
    let (st, v) = s
        .json("/v1/messages", json!({"user": "flooder", "text": "你好"}))
        .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_code(&v), "rate_limited");
    let (st, _) = s
        .json("/v1/messages", json!({"user": "calm", "text": "你好"}))
        .await;
    assert_eq!(st, StatusCode::OK, "another user is not limited");
    let m = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    let text = m.text().await.unwrap();
    assert!(
        text.contains("safepath_rate_limited_total{channel=\"api\"} 1"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_turns_deflections_verdicts_and_latency() {
    let s = Server::start(None).await;
    s.json(
        "/v1/tickets",
        json!({"id": "a", "text": "微信被封了怎么解封"}),
    )
    .await;
    s.json(
        "/v1/messages",
        json!({"user": "m", "text": "我的验证码是 482913"}),
    )
    .await;
    s.json(
        "/v1/reports",
        json!({"text": "解封微信 300元包成功 加V jf8899"}),
    )
    .await;
    let r = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("text"));
    let text = r.text().await.unwrap();
    for needle in [
        "safepath_turns_total{channel=\"ticket\"} 1",
        "safepath_turns_total{channel=\"api\"} 1",
        "safepath_deflections_total 1",
        "safepath_intents_total{intent=\"self_unblock\"} 1",
        "safepath_secrets_redacted_total{kind=\"verification_code\"} 1",
        "safepath_reports_total{channel=\"api\"} 1",
        "safepath_scam_verdicts_total{verdict=\"clean\"}",
        "safepath_http_request_duration_seconds_bucket{le=",
        "safepath_http_requests_total{route=\"/v1/tickets\",status=\"200\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_names_every_route() {
    let s = Server::start(None).await;
    let doc: Value = s
        .http
        .get(format!("{}/v1/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let url = format!(
                "{}{}",
                s.base,
                path.replace("{user}", "x").replace("{id}", "1")
            );
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = s.http.request(m, url).send().await.unwrap();
            assert_ne!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
            assert_ne!(
                r.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
        }
    }
    assert_eq!(paths.len(), 11);
}

/// Every refusal, whichever layer makes it (a handler, an extractor, the router), is JSON in the
/// one shape, with the status that fits.
#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_has_the_error_shape() {
    let s = Server::start(None).await;
    let long_id = "u".repeat(257);
    let cases: Vec<(reqwest::Method, String, StatusCode, &str)> = vec![
        // A method a route does not take.
        (
            reqwest::Method::PUT,
            "/v1/tickets".into(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            reqwest::Method::GET,
            "/v1/messages".into(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            reqwest::Method::DELETE,
            "/v1/reports".into(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            reqwest::Method::POST,
            "/v1/dashboard".into(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            reqwest::Method::GET,
            "/v1/users/x".into(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            reqwest::Method::POST,
            "/healthz".into(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            reqwest::Method::DELETE,
            "/metrics".into(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            reqwest::Method::POST,
            "/".into(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        // A user id that decodes to no text, is too long, or is blank.
        (
            reqwest::Method::DELETE,
            "/v1/users/%FF%FE".into(),
            StatusCode::BAD_REQUEST,
            "invalid_utf8",
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/users/{long_id}"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            reqwest::Method::DELETE,
            "/v1/users/%20%20%09".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        // A page of no reports.
        (
            reqwest::Method::GET,
            "/v1/reports?limit=0".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            reqwest::Method::GET,
            "/v1/nothing".into(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            reqwest::Method::GET,
            "/nothing".into(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (method, path, status, code) in cases {
        let r = s.request(method.clone(), &path).send().await.unwrap();
        assert_eq!(r.status(), status, "{method} {path}");
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert!(
                r.headers().contains_key("allow"),
                "{method} {path}: Allow kept"
            );
        }
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("application/json"), "{method} {path}: {ct}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(error_code(&v), code, "{method} {path}: {v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bearer_scheme_is_case_insensitive() {
    let s = Server::start(None).await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = s
            .http
            .get(format!("{}/v1/reports", s.base))
            .header("authorization", format!("{scheme} {TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
    for wrong in [
        format!("Basic {TOKEN}"),
        format!("Bearer{TOKEN}"),
        TOKEN.to_owned(),
    ] {
        let r = s
            .http
            .get(format!("{}/v1/reports", s.base))
            .header("authorization", wrong.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{wrong}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_refusal_says_when_to_retry() {
    let s = Server::start(Some(Rate {
        per_minute: 2,
        burst: 1,
    }))
    .await;
    let (st, _) = s
        .json("/v1/messages", json!({"user": "f", "text": "你好"}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let r = s
        .post("/v1/messages")
        .json(&json!({"user": "f", "text": "你好"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Two a minute: the next token is at most 30 s away, and at least a second.
    let secs: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&secs), "Retry-After: {secs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reports_page_forbids_framing_and_foreign_scripts() {
    let s = Server::start(None).await;
    let r = s.http.get(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // Nothing inline for the policy to block: the script and style are the page's own files.
    let html = r.text().await.unwrap();
    assert!(!html.contains("<style"), "no inline style");
    for tag in html.split("<script").skip(1) {
        assert!(
            tag.starts_with(" src=\"/"),
            "only same-origin scripts: <script{tag}"
        );
    }
    for (path, kind) in [("/reports.js", "javascript"), ("/reports.css", "css")] {
        let r = s
            .http
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(r.headers()["content-type"].to_str().unwrap().contains(kind));
        assert!(html.contains(path), "the page loads {path}");
        assert!(!r.text().await.unwrap().is_empty());
    }
}

/// The page's figures are counted at most once a minute, whoever asks: eight viewers together
/// and a report recorded since all see the one count.
#[tokio::test(flavor = "multi_thread")]
async fn the_reports_page_counts_once_a_minute_for_every_viewer() {
    let s = Server::start(None).await;
    for t in [
        "解封微信 300元包成功 加V jf8899",
        "代解封，先交押金500，QQ 12345678",
    ] {
        let (st, _) = s.json("/v1/reports", json!({"text": t})).await;
        assert_eq!(st, StatusCode::CREATED);
    }
    let first = s.get_json("/v1/dashboard").await;
    assert_eq!(first["today"]["total"], 2);
    let (st, _) = s
        .json(
            "/v1/reports",
            json!({"text": "帮忙辅助验证 给你200红包 加微信 fz_2026"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let viewers: Vec<_> = (0..8)
        .map(|_| {
            let req = s.get("/v1/dashboard");
            tokio::spawn(async move { req.send().await.unwrap().json::<Value>().await.unwrap() })
        })
        .collect();
    for v in viewers {
        assert_eq!(v.await.unwrap(), first, "served from the minute's count");
    }
    // The report itself is in the log at once.
    let all = s.get_json("/v1/reports").await;
    assert_eq!(all["reports"].as_array().unwrap().len(), 3);
}

/// A desk may name any channel for its reports; the metrics count the frontends' own channels by
/// name and every other one as `other`, so clients cannot grow `/metrics` without bound.
#[tokio::test(flavor = "multi_thread")]
async fn channels_a_client_names_do_not_become_metric_labels() {
    let s = Server::start(None).await;
    let lines = |t: &str| t.lines().count();
    let metrics = || async {
        s.http
            .get(format!("{}/metrics", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    for i in 0..40 {
        let (st, v) = s
            .json(
                "/v1/reports",
                json!({"text": format!("代解封 先交押金{i}00 加V jf88{i}"), "channel": format!("desk-{i}")}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        if i == 0 {
            // The first one makes the `other` line (and the route's); the rest add none.
            let _ = metrics().await;
        }
    }
    let before = metrics().await;
    let (st, _) = s
        .json(
            "/v1/reports",
            json!({"text": "解封微信 300元包成功", "channel": "desk-new"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let after = metrics().await;
    assert!(!after.contains("desk-"), "{after}");
    assert!(
        after.contains("safepath_reports_total{channel=\"other\"} 41"),
        "{after}"
    );
    assert_eq!(lines(&after), lines(&before));
    // The report itself keeps the channel the desk named.
    let page = s.get_json("/v1/reports?limit=1000").await;
    assert_eq!(page["reports"][40]["channel"], "desk-new");
}
