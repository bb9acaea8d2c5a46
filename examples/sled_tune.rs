//! The sled settings of the conversation tree, compared on the store alone (BENCHMARKS.md,
//! "Conversations back in sled"): fills a fresh directory with N conversations (32-character
//! keys, 80-byte values, as the session stores them), then reads and rewrites them in a
//! scattered order, and prints the rate, the latency of one read-and-write, and resident memory.
//!
//!     cargo run --release --example sled_tune -- DIR
//!
//! Settings by environment: `N` (100000), `TURNS` (300000), `CACHE_MB` (32), `MODE` (`low`:
//! sled's default LowSpace, or `high`: HighThroughput), `FLUSH_MS` (500), `SEG_KB` (512).

use std::time::Instant;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| v.parse().expect("a number"))
}

fn rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

fn key(i: u64) -> String {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{h:016x}{:016x}", h.rotate_left(17))
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: sled_tune DIR (a fresh directory)"))?;
    let (n, turns) = (env("N", 100_000), env("TURNS", 300_000));
    let (cache, flush, seg) = (
        env("CACHE_MB", 32),
        env("FLUSH_MS", 500),
        env("SEG_KB", 512),
    );
    let high = std::env::var("MODE").is_ok_and(|m| m == "high");
    let mut cfg = sled::Config::new()
        .path(&dir)
        .cache_capacity(cache << 20)
        .flush_every_ms(Some(flush))
        .segment_size((seg << 10) as usize);
    if high {
        cfg = cfg.mode(sled::Mode::HighThroughput);
    }
    let db = cfg.open()?;
    let states = db.open_tree("states")?;
    anyhow::ensure!(states.is_empty(), "{dir} is not a fresh directory");
    let t = Instant::now();
    for i in 0..n {
        states.insert(key(i), vec![7u8; 80])?;
    }
    db.flush()?;
    eprintln!("filled {n} in {:.1} s", t.elapsed().as_secs_f64());
    let mut ns = Vec::with_capacity(turns as usize);
    let t = Instant::now();
    for j in 0..turns {
        let k = key(j.wrapping_mul(7919) % n);
        let one = Instant::now();
        let mut v = states.get(&k)?.map(|v| v.to_vec()).unwrap_or_default();
        v[0] = v[0].wrapping_add(1);
        states.insert(k, v)?;
        ns.push(one.elapsed().as_nanos() as u64);
    }
    let secs = t.elapsed().as_secs_f64();
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 * q) as usize).min(ns.len() - 1)] as f64 / 1000.0;
    println!(
        "mode={} cache={cache} MiB flush={flush} ms segment={seg} KiB, {n} conversations: \
         {:.0} turns/s, p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, resident {} MB",
        if high { "HighThroughput" } else { "LowSpace" },
        turns as f64 / secs,
        at(0.5),
        at(0.99),
        at(0.999),
        rss_mb()
    );
    Ok(())
}
