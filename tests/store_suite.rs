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
        let store: Arc<dyn Store> = Arc::new(RedisStore::open(&url, 3600).unwrap());
        Some(Redis { url, store })
    }
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
    fn reopen(&mut self) -> Arc<dyn Store> {
        Arc::new(RedisStore::open(&self.url, 3600).unwrap())
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
        }
    };
}

suite!(on_sled, Sled);
suite!(on_redis, Redis);

/// Up to this version the embedded store kept conversations in a sled tree; opening such a data
/// directory moves them to the conversation log, so the conversations in progress go on.
#[test]
fn conversations_an_earlier_version_kept_in_sled_are_moved_and_continue() {
    let dir = tempfile::tempdir().unwrap();
    let now = safepath::session::now();
    {
        // The data directory as the earlier version left it (its format, salt and `states`).
        let s = SledStore::open(dir.path()).unwrap();
        drop(s);
        let db = sled::open(dir.path()).unwrap();
        let states = db.open_tree("states").unwrap();
        for (user, state) in [("alice", b"state-a"), ("bob", b"state-b")] {
            let mut v = now.to_be_bytes().to_vec();
            v.extend_from_slice(state);
            states.insert(user, v).unwrap();
        }
        db.flush().unwrap();
    }
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        s.load_state("alice").unwrap().as_deref(),
        Some(&b"state-a"[..])
    );
    s.save_state("bob", b"state-b2").unwrap();
    s.flush().unwrap();
    drop(s);
    // Moved once: the old tree is empty, so reopening does not bring the old `bob` back.
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        s.load_state("alice").unwrap().as_deref(),
        Some(&b"state-a"[..])
    );
    assert_eq!(
        s.load_state("bob").unwrap().as_deref(),
        Some(&b"state-b2"[..])
    );
    drop(s);
    let db = sled::open(dir.path()).unwrap();
    assert!(db.open_tree("states").unwrap().is_empty());
}
