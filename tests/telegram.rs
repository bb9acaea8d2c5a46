//! The real teloxide bot against a fake Bot API server on 127.0.0.1: getUpdates hands it the
//! updates a test pushes; sendMessage and the other methods are recorded (and can fail).

mod common;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use safepath::http::ServerLimits;
use safepath::session::Session;
use safepath::store::{SledStore, Store};
use safepath::telegram::{self, Mode, Tg};
use serde_json::{json, Value};
use teloxide::adaptors::throttle::Limits;
use tokio::sync::{oneshot, Notify};

const TOKEN: &str = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz";
const BOT_ID: u64 = 999;
const ADMIN: u64 = 42;
const GROUP: i64 = -100_777;
/// The team's admin chat (`SAFEPATH_ADMIN_CHAT`).
const ADMIN_CHAT: i64 = -100_555;

#[derive(Default)]
struct Inner {
    queue: VecDeque<Value>,
    next_update: u64,
    next_message: i64,
    /// Every call: (method in lower case, body).
    calls: Vec<(String, Value)>,
    /// How many sendMessage calls to refuse with a 429 first.
    refuse: usize,
    /// Users who are group admins; the bot is one (with delete rights) when `bot_admin`.
    admins: HashSet<u64>,
    bot_admin: bool,
    /// getUpdates never answers (recorded, then hangs), as a Bot API that has stopped responding.
    hang_updates: bool,
    /// The bot's `SAFEPATH_ADMIN_CHAT`.
    admin_chat: Option<i64>,
}

#[derive(Clone)]
struct Fake {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

fn user(id: u64, lang: &str) -> Value {
    json!({"id": id, "is_bot": false, "first_name": format!("u{id}"), "language_code": lang})
}

fn member(id: u64, admin: bool) -> Value {
    if admin {
        json!({"status": "administrator", "user": {"id": id, "is_bot": id == BOT_ID, "first_name": "x"},
               "can_be_edited": false, "is_anonymous": false, "can_manage_chat": true,
               "can_change_info": false, "can_delete_messages": true, "can_manage_video_chats": false,
               "can_invite_users": true, "can_restrict_members": true, "can_promote_members": false})
    } else {
        json!({"status": "member", "user": {"id": id, "is_bot": id == BOT_ID, "first_name": "x"}})
    }
}

async fn api(
    State(f): State<Fake>,
    Path((_bot, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, Json<Value>) {
    let body = parse_body(&body);
    let method = method.to_ascii_lowercase();
    if method == "getupdates" && f.inner.lock().unwrap().hang_updates {
        f.inner.lock().unwrap().calls.push((method, body));
        f.changed.notify_waiters();
        return std::future::pending().await;
    }
    if method == "getupdates" {
        let offset = body["offset"].as_u64().unwrap_or(0);
        for _ in 0..20 {
            {
                let mut i = f.inner.lock().unwrap();
                while i
                    .queue
                    .front()
                    .is_some_and(|u| u["update_id"].as_u64().unwrap() < offset)
                {
                    i.queue.pop_front();
                }
                if !i.queue.is_empty() {
                    let ups: Vec<Value> = i.queue.iter().cloned().collect();
                    return (
                        axum::http::StatusCode::OK,
                        Json(json!({"ok": true, "result": ups})),
                    );
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        return (
            axum::http::StatusCode::OK,
            Json(json!({"ok": true, "result": []})),
        );
    }
    let mut i = f.inner.lock().unwrap();
    i.calls.push((method.clone(), body.clone()));
    f.changed.notify_waiters();
    let result = match method.as_str() {
        "getme" => {
            json!({"id": BOT_ID, "is_bot": true, "first_name": "safepath", "username": "safepath_bot",
                          "can_join_groups": true, "can_read_all_group_messages": true,
                          "supports_inline_queries": false, "has_main_web_app": false})
        }
        "sendmessage" => {
            if i.refuse > 0 {
                i.refuse -= 1;
                return (
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({"ok": false, "error_code": 429,
                                "description": "Too Many Requests: retry after 1",
                                "parameters": {"retry_after": 1}})),
                );
            }
            i.next_message += 1;
            json!({"message_id": 10_000 + i.next_message, "date": 1_700_000_000,
                   "chat": {"id": body["chat_id"], "type": "private", "first_name": "u"},
                   "text": body["text"]})
        }
        "getchatmember" => {
            let id = body["user_id"].as_u64().unwrap();
            let admin = if id == BOT_ID {
                i.bot_admin
            } else {
                i.admins.contains(&id)
            };
            member(id, admin)
        }
        _ => json!(true),
    };
    (
        axum::http::StatusCode::OK,
        Json(json!({"ok": true, "result": result})),
    )
}

/// A JSON body, or the text fields of a multipart one (teloxide sends setWebhook as multipart).
fn parse_body(b: &[u8]) -> Value {
    if let Ok(v) = serde_json::from_slice(b) {
        return v;
    }
    let text = String::from_utf8_lossy(b);
    let mut out = serde_json::Map::new();
    for part in text
        .split("Content-Disposition: form-data; name=\"")
        .skip(1)
    {
        if let Some((name, rest)) = part.split_once('"') {
            if let Some((_, value)) = rest.split_once("\r\n\r\n") {
                let value = value.split("\r\n--").next().unwrap_or("");
                out.insert(name.to_owned(), json!(value));
            }
        }
    }
    Value::Object(out)
}

struct Harness {
    fake: Fake,
    store: Arc<dyn Store>,
    session: Arc<Session>,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), String>>>,
    _dir: tempfile::TempDir,
    dir_path: std::path::PathBuf,
}

fn fast_limits() -> Limits {
    Limits {
        messages_per_sec_chat: 100,
        messages_per_min_chat: 6000,
        messages_per_min_channel_or_supergroup: 6000,
        messages_per_sec_overall: 1000,
    }
}

async fn start_fake() -> (Fake, String) {
    let fake = Fake {
        inner: Arc::new(Mutex::new(Inner::default())),
        changed: Arc::new(Notify::new()),
    };
    let app = Router::new()
        .route("/{bot}/{method}", post(api))
        .with_state(fake.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (fake, base)
}

impl Harness {
    async fn start() -> Harness {
        Harness::start_with(|_| Mode::Polling(Duration::ZERO), |_| {}).await
    }

    async fn start_with(
        mode: impl FnOnce(&str) -> Mode,
        setup: impl FnOnce(&mut Inner),
    ) -> Harness {
        let (fake, base) = start_fake().await;
        setup(&mut fake.inner.lock().unwrap());
        let admin_chat = fake.inner.lock().unwrap().admin_chat;
        let dir = tempfile::tempdir().unwrap();
        let dir_path = dir.path().join("data");
        let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir_path).unwrap());
        let session = Arc::new(Session::new(common::engine(), store.clone(), 3600).unwrap());
        let tg = Arc::new(Tg {
            live: Arc::new(safepath::live::Live::fixed(session.clone())),
            admins: [ADMIN].into_iter().collect(),
            admin_chat: admin_chat.map(teloxide::types::ChatId),
        });
        let bot = telegram::bot(TOKEN, Some(&base), fast_limits()).unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let mode = mode(&base);
        let done = tokio::spawn(telegram::run(
            bot,
            tg,
            mode,
            ServerLimits::default(),
            async {
                let _ = rx.await;
            },
        ));
        let h = Harness {
            fake,
            store,
            session,
            stop: Some(tx),
            done: Some(done),
            _dir: dir,
            dir_path,
        };
        h.wait_for(|i| i.calls.iter().filter(|c| c.0 == "setmycommands").count() == 2)
            .await;
        h
    }

    fn push(&self, mut update: Value) {
        let mut i = self.fake.inner.lock().unwrap();
        i.next_update += 1;
        update["update_id"] = json!(i.next_update);
        i.queue.push_back(update);
    }

    fn message(&self, chat: Value, from: Value, text: &str, extra: Value) {
        let id = 500 + self.fake.inner.lock().unwrap().next_update as i64;
        let mut m = json!({"message_id": id, "date": 1_700_000_000, "chat": chat, "from": from, "text": text});
        if let Value::Object(e) = extra {
            m.as_object_mut().unwrap().extend(e);
        }
        self.push(json!({"message": m}));
    }

    fn private(&self, uid: u64, lang: &str, text: &str) {
        self.message(
            json!({"id": uid, "type": "private", "first_name": "u"}),
            user(uid, lang),
            text,
            json!({}),
        );
    }

    fn group(&self, uid: u64, text: &str) -> i64 {
        let id = 500 + self.fake.inner.lock().unwrap().next_update as i64;
        self.message(
            json!({"id": GROUP, "type": "supergroup", "title": "Help group"}),
            user(uid, "zh-hans"),
            text,
            json!({}),
        );
        id
    }

    /// A group message by `uid` in reply to message `to` (by `to_uid`, saying `to_text`).
    fn group_reply(&self, uid: u64, text: &str, to: i64, to_uid: u64, to_text: &str) -> i64 {
        let id = 500 + self.fake.inner.lock().unwrap().next_update as i64;
        let chat = json!({"id": GROUP, "type": "supergroup", "title": "Help group"});
        let replied = json!({"message_id": to, "date": 1_700_000_000, "chat": chat.clone(),
                             "from": user(to_uid, "zh-hans"), "text": to_text});
        self.message(
            chat,
            user(uid, "zh-hans"),
            text,
            json!({"reply_to_message": replied}),
        );
        id
    }

    /// A button pressed by `uid` on a message in the admin chat.
    fn press_in_admin_chat(&self, uid: u64, data: &str) {
        self.push(json!({"callback_query": {
            "id": format!("cb{}", self.fake.inner.lock().unwrap().next_update),
            "from": user(uid, "zh-hans"), "chat_instance": "ci", "data": data,
            "message": {"message_id": 1, "date": 1_700_000_000,
                        "chat": {"id": ADMIN_CHAT, "type": "supergroup", "title": "Team"}, "text": "x"}}}));
    }

    /// Waits for a sendMessage whose text contains `needle`.
    async fn wait_text(&self, needle: &str) {
        self.wait_for(|i| {
            i.calls.iter().any(|c| {
                c.0 == "sendmessage" && c.1["text"].as_str().unwrap_or("").contains(needle)
            })
        })
        .await
    }

    /// Waits for message `id` to be deleted.
    async fn wait_deleted(&self, id: i64) {
        self.wait_for(|i| {
            i.calls
                .iter()
                .any(|c| c.0 == "deletemessage" && c.1["message_id"] == id)
        })
        .await
    }

    fn labelled_reports_count(&self) -> usize {
        let all = self.store.labelled_reports(0, 0, usize::MAX).unwrap();
        all.iter().filter(|r| r.label.is_some()).count()
    }

    /// The messages sent to `chat` so far.
    fn sent_to(&self, chat: i64) -> Vec<Value> {
        self.calls("sendmessage")
            .into_iter()
            .filter(|m| m["chat_id"] == chat)
            .collect()
    }

    fn press(&self, uid: u64, data: &str) {
        self.push(json!({"callback_query": {
            "id": format!("cb{}", self.fake.inner.lock().unwrap().next_update),
            "from": user(uid, "zh-hans"), "chat_instance": "ci", "data": data,
            "message": {"message_id": 1, "date": 1_700_000_000,
                        "chat": {"id": uid, "type": "private", "first_name": "u"}, "text": "menu"}}}));
    }

    async fn wait_for(&self, mut ok: impl FnMut(&Inner) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let notified = self.fake.changed.notified();
            if ok(&self.fake.inner.lock().unwrap()) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let calls = self.fake.inner.lock().unwrap().calls.clone();
                panic!("timed out; calls so far: {calls:#?}");
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
        }
    }

    /// Waits for the `n`-th sendMessage in total and returns all of them.
    async fn sent(&self, n: usize) -> Vec<Value> {
        self.wait_for(|i| i.calls.iter().filter(|c| c.0 == "sendmessage").count() >= n)
            .await;
        self.calls("sendmessage")
    }

    fn calls(&self, method: &str) -> Vec<Value> {
        self.fake
            .inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.0 == method)
            .map(|c| c.1.clone())
            .collect()
    }

    async fn stop(mut self) -> Self {
        let _ = self.stop.take().unwrap().send(());
        let r = tokio::time::timeout(Duration::from_secs(10), self.done.take().unwrap())
            .await
            .expect("the bot stops on shutdown");
        r.unwrap().unwrap();
        self
    }
}

fn text_of(m: &Value) -> &str {
    m["text"].as_str().unwrap()
}

fn buttons(m: &Value) -> Vec<(String, String)> {
    m["reply_markup"]["inline_keyboard"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .flat_map(|r| r.as_array().unwrap().iter())
                .map(|b| {
                    (
                        b["text"].as_str().unwrap().to_owned(),
                        b["callback_data"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn start_and_menu_in_both_languages_with_commands_registered() {
    let h = Harness::start().await;
    let cmds = h.calls("setmycommands");
    assert!(cmds.iter().any(|c| c["language_code"] == "zh"));
    let names: Vec<&str> = cmds[0]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    for c in [
        "start", "menu", "help", "report", "lang", "cancel", "privacy", "forget",
    ] {
        assert!(names.contains(&c), "{c} registered");
    }

    h.private(1, "zh-hans", "/start");
    let sent = h.sent(2).await;
    assert!(
        text_of(&sent[0]).contains("验证码"),
        "the safety promise: {}",
        text_of(&sent[0])
    );
    assert_eq!(sent[0]["parse_mode"], "HTML");
    assert!(
        !buttons(&sent[1]).is_empty(),
        "the menu comes with a keyboard"
    );
    assert!(buttons(&sent[1])[0].1.starts_with("c:"));

    h.private(2, "en", "/start");
    let sent = h.sent(4).await;
    assert!(
        text_of(&sent[2]).contains("never ask"),
        "{}",
        text_of(&sent[2])
    );
    assert!(
        buttons(&sent[3]).iter().all(|(label, _)| label.is_ascii()),
        "{:?}",
        buttons(&sent[3])
    );

    h.private(2, "en", "/privacy");
    let sent = h.sent(5).await;
    assert!(text_of(&sent[4]).contains("salted hash"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_self_unblock_flow_advances_through_keyboard_presses() {
    let h = Harness::start().await;
    h.private(7, "zh-hans", "vx被封了咋办");
    let first = h.sent(1).await.remove(0);
    let b = buttons(&first);
    assert!(!b.is_empty(), "{first}");
    h.press(7, &b[0].1);
    let second = h.sent(2).await.remove(1);
    h.wait_for(|i| i.calls.iter().any(|c| c.0 == "answercallbackquery"))
        .await;
    assert_ne!(
        text_of(&second),
        text_of(&first),
        "the press moved the flow on"
    );
    let b2 = buttons(&second);
    if let Some((_, data)) = b2.first() {
        h.press(7, data);
        let third = h.sent(3).await.remove(2);
        assert_ne!(text_of(&third), text_of(&second));
        h.wait_for(|i| {
            i.calls
                .iter()
                .filter(|c| c.0 == "answercallbackquery")
                .count()
                == 2
        })
        .await;
    }
    // A language button.
    let n = h.sent(0).await.len() + 1;
    h.private(7, "zh-hans", "/lang");
    let prompt = h.sent(n).await.remove(n - 1);
    let en = buttons(&prompt)
        .into_iter()
        .find(|(l, _)| l == "English")
        .unwrap();
    h.press(7, &en.1);
    let after = h.sent(n + 1).await.remove(n);
    assert!(text_of(&after).contains("English"), "{}", text_of(&after));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forwarded_scam_ad_is_checked_and_reported() {
    let h = Harness::start().await;
    h.message(
        json!({"id": 8, "type": "private", "first_name": "u"}),
        user(8, "zh-hans"),
        "专业解封微信，先付300定金，加V:jf8899，包解封不成功不收费",
        json!({"forward_origin": {"type": "hidden_user", "sender_user_name": "someone", "date": 1_700_000_000}}),
    );
    let reply = h.sent(1).await.remove(0);
    assert!(text_of(&reply).contains("已记录"), "{}", text_of(&reply));
    let reports = h.store.reports(0, 0, 10).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].channel, "telegram");
    assert!(reports[0].signals.iter().any(|s| s.weight > 0.0));

    // /report then a pasted message goes the same way.
    h.private(9, "zh-hans", "/report");
    h.sent(2).await;
    h.private(9, "zh-hans", "代解封 找我 加Q 12345678 500元");
    let r = h.sent(3).await.remove(2);
    assert!(text_of(&r).contains("已记录"), "{}", text_of(&r));
    assert_eq!(h.store.reports(0, 0, 10).unwrap().len(), 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn group_scams_are_answered_then_deleted_once_guard_is_on() {
    let h = Harness::start_with(
        |_| Mode::Polling(Duration::ZERO),
        |i| {
            i.admins.insert(ADMIN);
            i.bot_admin = true;
        },
    )
    .await;
    // Ordinary chat, an official-style warning and a question about a scam: silence.
    h.group(5, "大家晚上好，明天几点集合？");
    h.group(
        5,
        "官方提醒：任何要你付费解封、索要验证码的都是骗子，官方解封免费",
    );
    h.group(5, "有人说300能解封，这是骗子吗？");
    // A scam: answered in reply to it.
    let scam_id = h.group(6, "专业解封微信 先付300定金 加V:jf8899 包成功");
    let sent = h.sent(1).await;
    assert_eq!(sent.len(), 1, "only the scam is answered: {sent:#?}");
    assert_eq!(sent[0]["chat_id"], GROUP);
    assert_eq!(sent[0]["reply_parameters"]["message_id"], scam_id);
    // It names the scheme: paid unblocking, explained.
    assert!(
        text_of(&sent[0]).contains("代办解封"),
        "{}",
        text_of(&sent[0])
    );
    assert!(h.calls("deletemessage").is_empty());

    // A non-admin cannot turn the guard on; an admin can.
    h.group(5, "/guard on");
    let refused = h.sent(2).await.remove(1);
    assert!(text_of(&refused).contains("管理员"));
    h.group(ADMIN, "/guard@safepath_bot on");
    h.sent(3).await;
    let second = h.group(6, "代解封 先交押金500 QQ 12345678 包解封");
    h.wait_for(|i| i.calls.iter().any(|c| c.0 == "deletemessage"))
        .await;
    assert_eq!(h.calls("deletemessage")[0]["message_id"], second);
    let notice = h.sent(4).await.remove(3);
    assert!(notice["reply_parameters"].is_null());
    let reports = h.store.reports(0, 0, 10).unwrap();
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.channel == "telegram"));
    h.stop().await;
}

/// Group admins choose a dry run, then deletions; every action reaches the team's admin chat,
/// whose buttons label a deleted message "not a scam" (and put it back as a quote) or ban its
/// sender; trusted members are left alone; the team's /spam labels (and, guarded, deletes).
#[tokio::test(flavor = "multi_thread")]
async fn guard_modes_trusted_members_labels_and_the_admin_chat() {
    let h = Harness::start_with(
        |_| Mode::Polling(Duration::ZERO),
        |i| {
            i.admins.insert(ADMIN);
            i.bot_admin = true;
            i.admin_chat = Some(ADMIN_CHAT);
        },
    )
    .await;

    // Dry run: nothing happens in the group, the admin chat is told what would have gone.
    h.group(ADMIN, "/guard dry");
    let ack = h.sent(1).await.remove(0);
    assert!(text_of(&ack).contains("试运行"), "{}", text_of(&ack));
    h.group(6, "专业解封微信 先付300定金 加V:jf8899 包成功");
    let told = h.sent(2).await.remove(1);
    assert_eq!(told["chat_id"], ADMIN_CHAT);
    assert!(text_of(&told).contains("🧪"), "{}", text_of(&told));
    assert!(
        text_of(&told).contains("jf8899"),
        "the redacted text is shown"
    );
    let b = buttons(&told);
    assert!(b[0].1.starts_with(&format!("n:{GROUP}:")) && b[0].1.ends_with(":0"));
    assert_eq!(b[1].1, format!("b:{GROUP}:6"), "the bot may ban: {b:?}");
    assert!(h.calls("deletemessage").is_empty());
    assert_eq!(
        h.sent_to(GROUP).len(),
        1,
        "only the /guard answer in the group"
    );

    // On: deleted, and the admin chat's "not a scam" restores it as a quote and labels it.
    h.group(ADMIN, "/guard on");
    h.sent(3).await;
    let gone = h.group(6, "代解封 先交押金500 QQ 12345678 包解封");
    h.wait_for(|i| i.calls.iter().any(|c| c.0 == "deletemessage"))
        .await;
    assert_eq!(h.calls("deletemessage")[0]["message_id"], gone);
    h.wait_text("🗑").await;
    let deleted_notice = h
        .sent_to(ADMIN_CHAT)
        .into_iter()
        .find(|m| text_of(m).contains("🗑"))
        .unwrap();
    let undo = buttons(&deleted_notice)[0].1.clone();
    assert!(undo.ends_with(":1"), "{undo}");
    let report: u64 = undo.split(':').nth(2).unwrap().parse().unwrap();
    // Not an admin of the team: the press does nothing.
    h.press_in_admin_chat(5, &undo);
    h.press_in_admin_chat(ADMIN, &undo);
    h.wait_text("blockquote").await;
    let restored = h
        .sent_to(GROUP)
        .into_iter()
        .find(|m| text_of(m).contains("blockquote"))
        .unwrap();
    assert!(text_of(&restored).contains("QQ 12345678"), "{restored}");
    h.wait_for(|i| {
        i.calls.iter().any(|c| {
            c.0 == "sendmessage"
                && c.1["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("已标注为不是诈骗")
        })
    })
    .await;
    // One quote and one confirmation: the non-admin's press did nothing.
    let count = |needle: &str| {
        h.calls("sendmessage")
            .iter()
            .filter(|m| text_of(m).contains(needle))
            .count()
    };
    assert_eq!((count("blockquote"), count("已标注为不是诈骗")), (1, 1));
    let label = h.store.labels(&[report]).unwrap().remove(0).unwrap();
    assert_eq!(label.label, safepath::report::LabelKind::NotScam);
    assert!(!label.by.contains(&ADMIN.to_string()), "hashed");

    // Ban the sender: only from the team's admins.
    h.press_in_admin_chat(5, &format!("b:{GROUP}:6"));
    h.press_in_admin_chat(ADMIN, &format!("b:{GROUP}:6"));
    h.wait_for(|i| i.calls.iter().any(|c| c.0 == "banchatmember"))
        .await;
    let bans = h.calls("banchatmember");
    assert_eq!((bans.len(), bans[0]["user_id"].as_u64()), (1, Some(6)));

    // A trusted member is left alone; untrusted again, the guard acts.
    let hello = h.group(8, "大家好");
    h.group_reply(ADMIN, "/trust", hello, 8, "大家好");
    h.group(ADMIN, "/trusted");
    h.wait_text("\n8").await;
    let deletions = h.calls("deletemessage").len();
    h.group(8, "解封微信 300元包成功 加V jf7766");
    h.group(5, "/trusted"); // not a group admin: refused, and a marker that 8's message passed
    h.wait_for(|i| {
        i.calls.iter().filter(|c| c.0 == "sendmessage").count() >= 1
            && i.calls
                .iter()
                .rev()
                .find(|c| c.0 == "sendmessage")
                .is_some_and(|c| c.1["text"].as_str().unwrap_or("").contains("管理员"))
    })
    .await;
    assert_eq!(
        h.calls("deletemessage").len(),
        deletions,
        "trusted: untouched"
    );
    h.group_reply(ADMIN, "/untrust", hello, 8, "大家好");
    let again = h.group(8, "解封微信 300元包成功 加V jf5544");
    h.wait_deleted(again).await;

    // The team's /spam on a message the detector let pass: labelled scam, deleted (guard on).
    let missed = h.group(9, "老铁，帮我投个票呗，链接里第5号就是我");
    h.group_reply(
        ADMIN,
        "/spam",
        missed,
        9,
        "老铁，帮我投个票呗，链接里第5号就是我",
    );
    h.wait_deleted(missed).await;
    h.wait_text("已标注为诈骗").await;
    let labelled = h.store.labelled_reports(0, 0, 100).unwrap();
    let vote = labelled
        .iter()
        .find(|r| r.report.text.contains("投个票"))
        .expect("recorded as a report");
    assert_eq!(
        vote.label.as_ref().map(|l| l.label),
        Some(safepath::report::LabelKind::Scam)
    );
    // Anyone else's /spam does nothing.
    let n = h.labelled_reports_count();
    h.group_reply(5, "/spam", hello, 8, "大家好");
    h.group(ADMIN, "/trusted");
    h.wait_for(|i| {
        i.calls
            .iter()
            .rev()
            .find(|c| c.0 == "sendmessage")
            .is_some_and(|c| c.1["text"].as_str().unwrap_or("").contains("没有免检成员"))
    })
    .await;
    assert_eq!(h.labelled_reports_count(), n);
    h.stop().await;
}

/// In a private chat the team labels a message it replies to (a forward, say); anyone else's
/// /notspam is just text.
#[tokio::test(flavor = "multi_thread")]
async fn the_team_labels_a_replied_message_in_a_private_chat() {
    let h = Harness::start().await;
    let say = |uid: u64, text: &str| {
        let chat = json!({"id": uid, "type": "private", "first_name": "u"});
        let replied = json!({"message_id": 3, "date": 1_700_000_000, "chat": chat.clone(),
                             "from": user(uid, "zh-hans"), "text": "明天下午三点开会，带电脑"});
        h.message(
            chat,
            user(uid, "zh-hans"),
            text,
            json!({"reply_to_message": replied}),
        );
    };
    say(77, "/notspam");
    h.sent(1).await;
    assert_eq!(
        h.labelled_reports_count(),
        0,
        "not one of the team's admins"
    );
    say(ADMIN, "/notspam");
    h.wait_text("已标注为不是诈骗").await;
    let all = h.store.labelled_reports(0, 0, 10).unwrap();
    let labelled: Vec<_> = all.iter().filter(|r| r.label.is_some()).collect();
    assert_eq!(labelled.len(), 1);
    assert_eq!(labelled[0].report.text, "明天下午三点开会，带电脑");
    assert_eq!(
        labelled[0].label.as_ref().unwrap().label,
        safepath::report::LabelKind::NotScam
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typed_code_is_redacted_warned_about_and_never_stored_then_forget_deletes() {
    let h = Harness::start().await;
    h.private(11, "zh-hans", "客服说要验证码才能解封 验证码是 482913");
    let reply = h.sent(1).await.remove(0);
    let t = text_of(&reply);
    assert!(!t.contains("482913"));
    assert!(t.contains("隐藏"), "the secret warning: {t}");
    let key = h.session.user_key("telegram", "11");
    assert!(h.store.load_state(&key).unwrap().is_some());
    h.private(11, "zh-hans", "/forget");
    let bye = h.sent(2).await.remove(1);
    assert!(text_of(&bye).contains("已删除"));
    assert!(h.store.load_state(&key).unwrap().is_none());
    let h = h.stop().await;
    h.store.flush().unwrap();
    let bytes = common::all_bytes_under(&h.dir_path);
    assert!(!common::contains(&bytes, "482913"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_is_waited_out_and_the_message_still_arrives() {
    let h = Harness::start_with(|_| Mode::Polling(Duration::ZERO), |i| i.refuse = 1).await;
    h.private(12, "zh-hans", "/help");
    let sent = h.sent(2).await;
    assert_eq!(
        text_of(&sent[0]),
        text_of(&sent[1]),
        "the same message, retried"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_commands_only_for_admins() {
    let h = Harness::start().await;
    h.session
        .record(
            "test",
            "k",
            &h.session.analyze("专业解封微信 先付300定金 加V:jf8899"),
            None,
            safepath::session::now(),
        )
        .unwrap();
    h.private(ADMIN, "en", "/stats");
    let stats = h.sent(1).await.remove(0);
    assert!(
        text_of(&stats).contains("Reports, last 7 days: 1"),
        "{}",
        text_of(&stats)
    );
    h.private(ADMIN, "en", "/reports");
    let latest = h.sent(2).await.remove(1);
    assert!(text_of(&latest).contains("jf8899"));
    h.private(77, "en", "/reports");
    let other = h.sent(3).await.remove(2);
    assert!(
        !text_of(&other).contains("jf8899"),
        "not an admin: {}",
        text_of(&other)
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_mode_checks_the_secret_token() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let h = Harness::start_with(
        move |_| Mode::Webhook {
            url: url::Url::parse("https://bot.example.org/tg-hook").unwrap(),
            listen,
            secret: "s3cret-token".into(),
            extra: axum::Router::new(),
        },
        |_| {},
    )
    .await;
    h.wait_for(|i| i.calls.iter().any(|c| c.0 == "setwebhook"))
        .await;
    let set = h.calls("setwebhook");
    assert_eq!(set[0]["secret_token"], "s3cret-token");
    let update = json!({"update_id": 1, "message": {"message_id": 1, "date": 1_700_000_000,
        "chat": {"id": 3, "type": "private", "first_name": "u"}, "from": user(3, "en"), "text": "/help"}});
    let client = reqwest::Client::new();
    let url = format!("http://{listen}/tg-hook");
    let wrong = client
        .post(&url)
        .header("x-telegram-bot-api-secret-token", "nope")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client
        .post(&url)
        .header("x-telegram-bot-api-secret-token", "s3cret-token")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert!(right.status().is_success());
    let sent = h.sent(1).await;
    assert!(text_of(&sent[0]).contains("/report"));
    h.stop().await;
}

/// The `safepath telegram` binary against `fake`, its data in `data`, with `env` added; and a
/// harness that only talks to the fake (its own store is a spare one).
fn spawn_bot(
    fake: Fake,
    base: &str,
    data: &std::path::Path,
    env: &[(&str, &str)],
    stderr: std::process::Stdio,
) -> (std::process::Child, Harness) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_safepath"))
        .args(["--data", data.to_str().unwrap(), "telegram"])
        .env("TELOXIDE_TOKEN", TOKEN)
        .env("TELOXIDE_API_URL", base)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let spare = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&spare.path().join("d")).unwrap());
    let h = Harness {
        fake,
        session: Arc::new(Session::new(common::engine(), store.clone(), 1).unwrap()),
        store,
        stop: None,
        done: None,
        _dir: spare,
        dir_path: data.to_owned(),
    };
    (child, h)
}

/// The `safepath telegram` binary itself, at the most verbose log level: a typed code and
/// password reach neither its logs nor its data directory (teloxide's own tracing included).
#[tokio::test(flavor = "multi_thread")]
async fn the_bot_binary_logs_no_secret_even_at_trace() {
    let (fake, base) = start_fake().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("bot.log");
    let (mut child, h) = spawn_bot(
        fake,
        &base,
        &data,
        &[("SAFEPATH_LOG", "trace")],
        std::fs::File::create(&log).unwrap().into(),
    );
    h.wait_for(|i| i.calls.iter().filter(|c| c.0 == "setmycommands").count() == 2)
        .await;
    h.private(21, "zh-hans", "客服说要验证码 验证码是 482913");
    h.private(21, "zh-hans", "我的密码是 Mima@2026pw 帮我登录");
    let sent = h.sent(2).await;
    for m in &sent {
        assert!(!text_of(m).contains("482913") && !text_of(m).contains("Mima@2026pw"));
    }
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let logs = std::fs::read(&log).unwrap();
    assert!(
        common::contains(&logs, "update"),
        "the bot logged its updates"
    );
    for secret in ["482913", "Mima@2026pw"] {
        assert!(
            !common::contains(&logs, secret),
            "{secret} in the logs:\n{}",
            String::from_utf8_lossy(&logs)
        );
        assert!(!common::contains(&common::all_bytes_under(&data), secret));
    }
}

/// The bot binary reloads its catalog on SIGHUP: a broken one is refused (said on stderr) and
/// the bot answers on with the old one; a fixed one with new words is used from then on.
#[tokio::test(flavor = "multi_thread")]
async fn the_bot_binary_reloads_its_catalog_on_sighup() {
    let (fake, base) = start_fake().await;
    let dir = tempfile::tempdir().unwrap();
    let intents = dir.path().join("intents");
    std::fs::create_dir_all(&intents).unwrap();
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/intents")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, intents.join(p.file_name().unwrap())).unwrap();
    }
    let rewrite = |file: &str, from: &str, to: &str| {
        let path = intents.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    let log = dir.path().join("bot.log");
    let (mut child, h) = spawn_bot(
        fake,
        &base,
        &dir.path().join("data"),
        &[("SAFEPATH_INTENTS", intents.to_str().unwrap())],
        std::fs::File::create(&log).unwrap().into(),
    );
    h.wait_for(|i| i.calls.iter().filter(|c| c.0 == "setmycommands").count() == 2)
        .await;
    let hup = || {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    // The help text, asked for until it shows `marker` (a reload takes a moment).
    let help_shows = |marker: &'static str| {
        let h = &h;
        async move {
            for _ in 0..100 {
                let n = h.calls("sendmessage").len();
                h.private(21, "zh-hans", "/help");
                let sent = h.sent(n + 1).await;
                if text_of(&sent[n]).contains(marker) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            false
        }
    };
    assert!(help_shows("直接用一句话").await);

    rewrite("deletion.toml", "'注销|销号", "'(注销|销号");
    rewrite(
        "common.toml",
        "zh = \"\"\"直接用一句话",
        "zh = \"\"\"【新】直接用一句话",
    );
    hup();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !String::from_utf8_lossy(&std::fs::read(&log).unwrap()).contains("reload refused") {
        assert!(std::time::Instant::now() < deadline, "no refusal logged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logged = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).to_string();
    assert!(logged.contains("deletion.toml"), "{logged}");
    let n = h.calls("sendmessage").len();
    h.private(21, "zh-hans", "/help");
    let sent = h.sent(n + 1).await;
    assert!(
        !text_of(&sent[n]).contains("【新】"),
        "the old catalog answers on"
    );

    rewrite("deletion.toml", "'(注销|销号", "'注销|销号");
    hup();
    assert!(help_shows("【新】").await, "the fixed catalog is in use");
    let _ = child.kill();
    let _ = child.wait();
}

/// SIGTERM while the Bot API hangs a long poll once took 19 s (and not within 12 s in three more
/// tries). With a 2 s deadline the bot exits within twice that and a little.
#[tokio::test(flavor = "multi_thread")]
async fn the_bot_binary_stops_by_the_deadline_while_telegram_hangs() {
    const DEADLINE: u64 = 2;
    let (fake, base) = start_fake().await;
    fake.inner.lock().unwrap().hang_updates = true;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, h) = spawn_bot(
        fake,
        &base,
        &data,
        &[("SAFEPATH_SHUTDOWN_SECS", &DEADLINE.to_string())],
        std::process::Stdio::null(),
    );
    h.wait_for(|i| i.calls.iter().any(|c| c.0 == "getupdates"))
        .await;
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let start = std::time::Instant::now();
    let limit = Duration::from_secs(2 * DEADLINE + 2);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the bot was still running {limit:?} after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    eprintln!("exited {:?} after SIGTERM", start.elapsed());
}
