//! The engine and session-turn rows of BENCHMARKS.md, measured the way traffic arrives: every
//! message different.
//!
//! Criterion (`benches/engine.rs`) repeats the same few messages, which keeps the regex crate's
//! lazy DFAs warm and flatters the engine about threefold. This bench runs one core over the
//! first 200,000 lines of the deterministic corpus (`bench/corpus.py 1000000 42`, generated into
//! `target/bench/` when missing), each message once per pass, and reports throughput and the
//! latency distribution of single messages. Then the same messages as session turns on the
//! embedded store (load the state, respond, save), spread over 100,000 users whose conversations
//! already exist, with sled's default page cache (or `SAFEPATH_CACHE_MB`, as `--cache-mb` sets
//! it).
//!
//!     cargo bench --bench latency            # or: -- LINES

use std::path::PathBuf;
use std::time::Instant;

use std::sync::Arc;

use safepath::engine::Engine;
use safepath::scam::Verdict;
use safepath::session::Session;
use safepath::store::{SledStore, Store, DEFAULT_CACHE_MB};

fn corpus() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("target/bench/corpus-1000000-42.jsonl");
    if !path.exists() {
        eprintln!("generating {} …", path.display());
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("target/bench");
        let out = std::process::Command::new("python3")
            .arg(root.join("bench/corpus.py"))
            .args(["1000000", "42"])
            .output()
            .expect("python3 runs bench/corpus.py");
        assert!(out.status.success(), "bench/corpus.py failed");
        std::fs::write(&path, out.stdout).expect("corpus written");
    }
    path
}

fn main() {
    let lines: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let texts: Vec<String> = std::fs::read_to_string(corpus())
        .expect("corpus readable")
        .lines()
        .take(lines)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v["text"].as_str().expect("text").to_owned()
        })
        .collect();
    let engine = Engine::shipped().expect("shipped catalog");
    let mut ns: Vec<u64> = Vec::with_capacity(texts.len());
    let best = passes(&texts, &mut ns, |text| {
        std::hint::black_box(engine.analyze(std::hint::black_box(text)));
    });
    report("engine", "messages", texts.len(), best, &mut ns);

    const USERS: usize = 100_000;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cache_mb = std::env::var("SAFEPATH_CACHE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CACHE_MB);
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open_with_cache(dir.path(), cache_mb).expect("embedded store"));
    let session = Session::new(Arc::new(engine), store, 3600).expect("session");
    let users: Vec<String> = (0..USERS).map(|u| format!("u{u}")).collect();
    for (u, user) in users.iter().enumerate() {
        session
            .turn("bench", user, &texts[u % texts.len()], false)
            .expect("a first turn");
    }
    // Scam offers, reported at once (an fsync each: measured apart in criterion), are left out.
    // A turn that answers the bot's request for details still appends its report, as in use.
    let turns: Vec<(&str, &str)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| (users[i * 7919 % USERS].as_str(), t.as_str()))
        .filter(|(_, t)| session.engine().analyze(t).scam.verdict != Verdict::Scam)
        .collect();
    let best = passes(&turns, &mut ns, |(user, text)| {
        std::hint::black_box(session.turn("bench", user, text, false).expect("a turn"));
    });
    report(
        &format!("session turn on the embedded store ({cache_mb} MiB sled cache), {USERS} users,"),
        "turns",
        turns.len(),
        best,
        &mut ns,
    );
}

/// Three passes over `items`, each item timed alone into `ns` (the last pass's); the best
/// pass's seconds.
fn passes<T>(items: &[T], ns: &mut Vec<u64>, mut one: impl FnMut(&T)) -> f64 {
    let mut best = f64::MAX;
    for pass in 0..3 {
        ns.clear();
        let t = Instant::now();
        for item in items {
            let m = Instant::now();
            one(item);
            ns.push(m.elapsed().as_nanos() as u64);
        }
        let secs = t.elapsed().as_secs_f64();
        best = best.min(secs);
        eprintln!("pass {pass}: {:.0}/s", items.len() as f64 / secs);
    }
    best
}

fn report(what: &str, unit: &str, n: usize, best: f64, ns: &mut [u64]) {
    ns.sort_unstable();
    let q = |p: f64| ns[((ns.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    let mean = ns.iter().sum::<u64>() as f64 / ns.len() as f64 / 1000.0;
    println!(
        "{what} {n} distinct messages, one core: {:.0} {unit}/s (best pass); per item mean {mean:.1} µs, p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
        n as f64 / best,
        q(0.5),
        q(0.99),
        q(0.999),
        q(1.0),
    );
}
