//! One suite for every store backend: sled (always) and Redis (when `SAFEPATH_TEST_REDIS` names a
//! server, e.g. `redis://127.0.0.1:6399`; `.ci/run` starts one). No behaviour may differ.
//! With `SAFEPATH_REQUIRE_REDIS=1` (CI) a missing server is a failure, not a skip.

mod common;

use std::sync::Arc;

use safepath::limit::Rate;
use safepath::report::Report;
use safepath::scam::Verdict;
use safepath::session::Session;
use safepath::store::{SledStore, Store};
use safepath::store_redis::RedisStore;

/// A fresh store; `reopen` gives a second handle on the same data (another instance for Redis,
/// the same directory after a restart for sled).
trait Backend {
    fn fresh(db: u8) -> Option<Self>
    where
        Self: Sized;
    fn store(&self) -> Arc<dyn Store>;
    fn reopen(&mut self) -> Arc<dyn Store>;
}

struct Sled {
    dir: tempfile::TempDir,
    store: Option<Arc<dyn Store>>,
}

impl Backend for Sled {
    fn fresh(_: u8) -> Option<Sled> {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        Some(Sled {
            dir,
            store: Some(store),
        })
    }
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone().unwrap()
    }
    fn reopen(&mut self) -> Arc<dyn Store> {
        drop(self.store.take());
        let s: Arc<dyn Store> = Arc::new(SledStore::open(self.dir.path()).unwrap());
        self.store = Some(s.clone());
        s
    }
}

struct Redis {
    url: String,
    store: Arc<dyn Store>,
}

impl Backend for Redis {
    fn fresh(db: u8) -> Option<Redis> {
        let Ok(base) = std::env::var("SAFEPATH_TEST_REDIS") else {
            assert!(
                std::env::var("SAFEPATH_REQUIRE_REDIS").is_err(),
                "SAFEPATH_REQUIRE_REDIS is set but SAFEPATH_TEST_REDIS is not"
            );
            eprintln!("skipped: set SAFEPATH_TEST_REDIS=redis://127.0.0.1:6379 to run on Redis");
            return None;
        };
        let url = format!("{}/{db}", base.trim_end_matches('/'));
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut con = client
            .get_connection()
            .expect("the test redis is reachable");
        let _: () = redis::cmd("FLUSHDB").query(&mut con).unwrap();
        let store: Arc<dyn Store> = Arc::new(RedisStore::open(&url, 3600, None).unwrap());
        Some(Redis { url, store })
    }
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
    fn reopen(&mut self) -> Arc<dyn Store> {
        Arc::new(RedisStore::open(&self.url, 3600, None).unwrap())
    }
}

fn report(text: &str, time: u64) -> Report {
    Report {
        id: 0,
        time,
        channel: "test".into(),
        user: "u".into(),
        text: text.into(),
        verdict: Verdict::Scam,
        score: 0.95,
        signals: Vec::new(),
        indicators: Vec::new(),
        note: None,
    }
}

fn labels_are_kept_beside_reports_and_survive_a_reopen<B: Backend>(db: u8) {
    use safepath::report::{Label, LabelKind};
    let Some(mut b) = B::fresh(db) else { return };
    let s = b.store();
    let (a, _) = s.append_report("la", report("scam text", 1000)).unwrap();
    let (c, _) = s
        .append_report("lc", report("ordinary text", 1001))
        .unwrap();
    let label = |kind, by: &str| Label {
        label: kind,
        by: by.into(),
        time: 2000,
        note: None,
    };
    // No such report: refused, nothing written.
    assert!(!s.set_label(c + 1000, &label(LabelKind::Scam, "x")).unwrap());
    assert!(s.set_label(a, &label(LabelKind::Scam, "h1")).unwrap());
    assert!(s.set_label(c, &label(LabelKind::Scam, "h1")).unwrap());
    // The newest label wins.
    assert!(s.set_label(c, &label(LabelKind::NotScam, "h2")).unwrap());
    drop(s);
    let s = b.reopen();
    assert_eq!(
        s.labels(&[a, c, c + 1000]).unwrap(),
        vec![
            Some(label(LabelKind::Scam, "h1")),
            Some(label(LabelKind::NotScam, "h2")),
            None
        ]
    );
    let listed = s.labelled_reports(0, 0, 10).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].report.text, "scam text");
    assert_eq!(listed[1].label.as_ref().unwrap().label, LabelKind::NotScam);
    assert!(s.labels(&[]).unwrap().is_empty());
}

fn salt_and_state_survive_a_reopen<B: Backend>(db: u8) {
    let Some(mut b) = B::fresh(db) else { return };
    let s = b.store();
    let salt = s.salt().unwrap();
    assert_eq!(salt.len(), 32);
    assert_eq!(s.load_state("alice").unwrap(), None);
    s.save_state("alice", b"{\"v\":1}").unwrap();
    s.save_state("bob", b"x").unwrap();
    s.flush().unwrap();
    drop(s);
    let s = b.reopen();
    assert_eq!(
        s.salt().unwrap(),
        salt,
        "one salt per store, whatever the instance"
    );
    assert_eq!(
        s.load_state("alice").unwrap().as_deref(),
        Some(&b"{\"v\":1}"[..])
    );
    s.delete_user("alice").unwrap();
    assert_eq!(s.load_state("alice").unwrap(), None);
    assert_eq!(s.load_state("bob").unwrap().as_deref(), Some(&b"x"[..]));
}

fn reports_are_unique_deduplicated_and_paged<B: Backend>(db: u8) {
    let Some(b) = B::fresh(db) else { return };
    let s = b.store();
    let mut ids = Vec::new();
    for i in 0..25 {
        let (id, new) = s
            .append_report(&format!("k{i}"), report(&format!("r{i}"), 1000 + i))
            .unwrap();
        assert!(new);
        ids.push(id);
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "increasing ids: {ids:?}"
    );
    let (again, new) = s.append_report("k3", report("other", 5)).unwrap();
    assert_eq!((again, new), (ids[3], false));
    let all = s.reports(0, 0, usize::MAX).unwrap();
    assert_eq!(all.len(), 25);
    assert_eq!(all[3].text, "r3");
    assert_eq!(all[3].id, ids[3]);
    let page = s.reports(ids[9], 0, 10).unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), ids[10..20]);
    let recent = s.reports(0, 1020, 100).unwrap();
    assert_eq!(recent.len(), 5);
    assert!(s.reports(0, 0, 0).unwrap().is_empty());
}

fn concurrent_appends_never_share_an_id<B: Backend>(db: u8) {
    let Some(b) = B::fresh(db) else { return };
    let s = b.store();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| {
                        s.append_report(&format!("t{t}-{i}"), report("x", 1))
                            .unwrap()
                            .0
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200);
}

fn reputation_counts_sightings<B: Backend>(db: u8) {
    let Some(b) = B::fresh(db) else { return };
    let s = b.store();
    let keys = vec!["wechat_id:jf8899".to_string(), "qq:12345678".to_string()];
    assert!(s.reputation(&keys).unwrap().iter().all(|r| r.count == 0));
    s.bump(&keys, 100).unwrap();
    s.bump(&keys[..1], 200).unwrap();
    let r = s.reputation(&keys).unwrap();
    assert_eq!((r[0].count, r[0].first_seen, r[0].last_seen), (2, 100, 200));
    assert_eq!((r[1].count, r[1].first_seen, r[1].last_seen), (1, 100, 100));
}

fn idle_states_expire<B: Backend>(db: u8) {
    let Some(b) = B::fresh(db) else { return };
    let s = b.store();
    s.save_state("a", b"1").unwrap();
    s.save_state("b", b"2").unwrap();
    assert_eq!(
        s.expire_states(0).unwrap(),
        0,
        "nothing older than the epoch"
    );
    let later = safepath::session::now() + 10;
    assert_eq!(s.expire_states(later).unwrap(), 2);
    assert_eq!(s.load_state("a").unwrap(), None);
}

/// A long-running process sweeps a bounded step at a time; in steps it forgets exactly the idle
/// conversations, and reaches the end.
fn idle_states_expire_in_steps<B: Backend>(db: u8) {
    let Some(b) = B::fresh(db) else { return };
    let s = b.store();
    for i in 0..7 {
        s.save_state(&format!("old{i}"), b"1").unwrap();
    }
    // Conversations are stamped in whole seconds.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let cutoff = safepath::session::now();
    for i in 0..5 {
        s.save_state(&format!("new{i}"), b"2").unwrap();
    }
    let (mut forgotten, mut cursor, mut steps) = (0, None::<String>, 0);
    loop {
        let (n, next) = s.expire_states_step(cutoff, cursor.as_deref(), 3).unwrap();
        forgotten += n;
        steps += 1;
        assert!(steps < 20, "the sweep never reached the end");
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(forgotten, 7);
    for i in 0..7 {
        assert_eq!(s.load_state(&format!("old{i}")).unwrap(), None);
    }
    for i in 0..5 {
        assert!(s.load_state(&format!("new{i}")).unwrap().is_some());
    }
}

fn rate_buckets_and_settings<B: Backend>(db: u8) {
    let Some(mut b) = B::fresh(db) else { return };
    let s = b.store();
    let rate = Rate {
        per_minute: 60,
        burst: 2,
    };
    assert_eq!(s.take_token("u", rate, 10_000).unwrap(), None);
    assert_eq!(s.take_token("u", rate, 10_000).unwrap(), None);
    let wait = s.take_token("u", rate, 10_000).unwrap().expect("empty");
    assert!((900..=1000).contains(&wait), "{wait}");
    assert_eq!(s.take_token("u", rate, 11_000).unwrap(), None);
    assert_eq!(s.setting("guard/1").unwrap(), None);
    s.set_setting("guard/1", "on").unwrap();
    s.flush().unwrap();
    drop(s);
    let s = b.reopen();
    assert_eq!(s.setting("guard/1").unwrap().as_deref(), Some("on"));
}

fn a_conversation_continues_on_another_handle<B: Backend>(db: u8) {
    let Some(mut b) = B::fresh(db) else { return };
    let first = Session::new(common::engine(), b.store(), 3600).unwrap();
    let r1 = first.turn("api", "carol", "微信被封了", false).unwrap();
    assert!(!r1.choices.is_empty());
    first.store().flush().unwrap();
    drop(first);
    let second = Session::new(common::engine(), b.reopen(), 3600).unwrap();
    let r2 = second.turn("api", "carol", "1", false).unwrap();
    assert_ne!(r2.node, r1.node, "choice 1 of the first turn was picked");
    assert_ne!(r2.node, "menu");
}

macro_rules! suite {
    ($name:ident, $backend:ty) => {
        mod $name {
            use super::*;
            #[test]
            fn salt_and_state() {
                salt_and_state_survive_a_reopen::<$backend>(1);
            }
            #[test]
            fn reports() {
                reports_are_unique_deduplicated_and_paged::<$backend>(2);
            }
            #[test]
            fn concurrent_ids() {
                concurrent_appends_never_share_an_id::<$backend>(3);
            }
            #[test]
            fn reputation() {
                reputation_counts_sightings::<$backend>(4);
            }
            #[test]
            fn expiry() {
                idle_states_expire::<$backend>(5);
            }
            #[test]
            fn expiry_in_steps() {
                idle_states_expire_in_steps::<$backend>(8);
            }
            #[test]
            fn buckets_and_settings() {
                rate_buckets_and_settings::<$backend>(6);
            }
            #[test]
            fn conversation_across_handles() {
                a_conversation_continues_on_another_handle::<$backend>(7);
            }
            #[test]
            fn labels() {
                labels_are_kept_beside_reports_and_survive_a_reopen::<$backend>(9);
            }
        }
    };
}

suite!(on_sled, Sled);
suite!(on_redis, Redis);

/// Copies the data directory the version before this one wrote (`tests/data/upgrade-log-store`:
/// made by its `serve`, killed with SIGKILL: alice asked how to unblock, bob went to the
/// deletion page's "grey button" node, carol asked about a stolen account and was forgotten,
/// dave asked about a mini-program appeal), with its conversation log in `conversations/`.
fn data_dir_of_the_log_version() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let from =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/upgrade-log-store");
    for name in ["conf", "db", "conversations/00000000.seg"] {
        let to = dir.path().join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from.join(name), to).unwrap();
    }
    dir
}

/// The node each user of that directory reaches with the next message `say`, and the node a user
/// with no conversation reaches with it.
fn next_nodes(store: Arc<dyn Store>, say: &[(&str, &str)]) -> Vec<String> {
    let s = Session::new(common::engine(), store, 7 * 86_400).unwrap();
    say.iter()
        .map(|(user, text)| s.turn("api", user, text, false).unwrap().node)
        .collect()
}

/// The node a new user reaches with these messages, on a fresh store.
fn fresh_path(messages: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
    let s = Session::new(common::engine(), store, 7 * 86_400).unwrap();
    let mut node = String::new();
    for m in messages {
        node = s.turn("api", "x", m, false).unwrap().node;
    }
    node
}

/// A data directory from before labels reads as it is: every report unlabelled, and a label can
/// be set on it.
#[test]
fn reports_of_a_directory_from_before_labels_read_unlabelled() {
    use safepath::report::{Label, LabelKind};
    let dir = data_dir_of_the_log_version();
    let store = SledStore::open(dir.path()).unwrap();
    let before = store.reports(0, 0, usize::MAX).unwrap();
    let (id, _) = store
        .append_report("after-upgrade", report("代解封 加V jf8899", 1000))
        .unwrap();
    let listed = store.labelled_reports(0, 0, usize::MAX).unwrap();
    assert_eq!(listed.len(), before.len() + 1);
    assert!(listed.iter().all(|r| r.label.is_none()));
    let l = Label {
        label: LabelKind::Scam,
        by: "h".into(),
        time: 1,
        note: None,
    };
    assert!(store.set_label(id, &l).unwrap());
    assert_eq!(store.labels(&[id]).unwrap(), vec![Some(l)]);
}

/// The version before this one kept conversations in a log of its own; opening its data
/// directory moves them into sled once, so the conversations in progress go on (and the one that
/// was forgotten stays forgotten), even with a record torn in half at the end of the log.
#[test]
fn conversations_of_the_log_version_move_into_sled_and_continue() {
    let expected = [
        fresh_path(&["微信被封了怎么解封", "1"]),
        fresh_path(&["小程序被处罚了怎么申诉", "1"]),
        fresh_path(&["1"]),
    ];
    // Picking "1" means something else in each of those places (else the test proves nothing).
    assert_ne!(expected[0], expected[1]);
    assert_ne!(expected[0], expected[2]);
    for torn in [false, true] {
        let dir = data_dir_of_the_log_version();
        if torn {
            // A crash mid-write: the header and half of a record that replaces dave's state.
            let seg = dir.path().join("conversations/00000000.seg");
            let mut bytes = std::fs::read(&seg).unwrap();
            bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 1, 64, b'x']);
            std::fs::write(&seg, bytes).unwrap();
        }
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        assert!(
            !dir.path().join("conversations").exists(),
            "the log is removed once moved"
        );
        let got = next_nodes(
            store.clone(),
            &[("alice", "1"), ("dave", "1"), ("carol", "1")],
        );
        assert_eq!(got, expected, "torn tail: {torn}");
        store.flush().unwrap();
        drop(store);
        // Moved once: reopening keeps what was said since (alice went on), nothing older.
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        let again = next_nodes(store, &[("alice", "返回")]);
        assert_eq!(again, [fresh_path(&["微信被封了怎么解封", "1", "返回"])]);
    }
}

/// Redis restarted without persistence (here: its database emptied under running instances):
/// report ids are never handed out again, and user keys keep their salt — the one an instance
/// holds is written back, and one given by the configuration never depended on Redis.
#[test]
fn a_redis_that_lost_everything_reuses_no_id_and_keeps_the_salt() {
    let Some(mut backend) = Redis::fresh(12) else {
        return;
    };
    let store = backend.store();
    let url = backend.url.clone();
    let flush = || {
        let client = redis::Client::open(url.as_str()).unwrap();
        let _: () = redis::cmd("FLUSHDB")
            .query(&mut client.get_connection().unwrap())
            .unwrap();
    };
    let salt = store.salt().unwrap();
    let before: Vec<u64> = (0..3)
        .map(|i| {
            store
                .append_report(&format!("k{i}"), report("ad", 1))
                .unwrap()
                .0
        })
        .collect();
    flush();
    store.health().expect("healthy again at once");
    let after = store.append_report("k-after", report("ad", 1)).unwrap().0;
    assert!(
        before.iter().all(|&id| after > id),
        "id {after} after the loss, {before:?} before"
    );
    // An instance started after the loss hashes users as the running one does.
    assert_eq!(backend.reopen().salt().unwrap(), salt);

    // A salt from the configuration is used whatever Redis holds, before and after a loss.
    let configured = [7u8; 32];
    let with_config = RedisStore::open(&url, 3600, Some(&configured)).unwrap();
    assert_eq!(with_config.salt().unwrap(), configured);
    flush();
    assert_eq!(with_config.salt().unwrap(), configured);
}
