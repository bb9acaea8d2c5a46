//! Flood control: a token bucket per key (a user, a group chat). The arithmetic lives here once;
//! each store keeps the buckets where its instances can all see them (in memory for the
//! single-process embedded store).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// How fast a key may send: `burst` messages at once, refilled at `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Rate {
    /// 20 messages a minute, 8 at once: far above a person typing, far below a flood.
    pub const USER: Rate = Rate {
        per_minute: 20,
        burst: 8,
    };
    /// A group chat as a whole (the bot's answers in it).
    pub const CHAT: Rate = Rate {
        per_minute: 60,
        burst: 20,
    };
}

/// A bucket as stored: tokens left and when they were counted (unix milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub tokens: f64,
    pub at_ms: u64,
}

impl Bucket {
    /// Takes one token from `bucket` (a full one when there is none yet). Returns the bucket to
    /// store and `None` when the message may pass, or `Some(ms)` to wait before the next token.
    pub fn take(bucket: Option<Bucket>, rate: Rate, now_ms: u64) -> (Bucket, Option<u64>) {
        let burst = f64::from(rate.burst.max(1));
        let per_ms = f64::from(rate.per_minute.max(1)) / 60_000.0;
        let mut b = bucket.unwrap_or(Bucket {
            tokens: burst,
            at_ms: now_ms,
        });
        let elapsed = now_ms.saturating_sub(b.at_ms) as f64;
        b.tokens = (b.tokens + elapsed * per_ms).min(burst);
        b.at_ms = now_ms.max(b.at_ms);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            (b, None)
        } else {
            let wait = ((1.0 - b.tokens) / per_ms).ceil() as u64;
            (b, Some(wait.max(1)))
        }
    }

    /// When a bucket is full again and can be forgotten.
    fn idle_after(&self, rate: Rate) -> u64 {
        let missing = f64::from(rate.burst) - self.tokens;
        self.at_ms + (missing * 60_000.0 / f64::from(rate.per_minute.max(1))).ceil() as u64
    }
}

/// Buckets in memory, bounded: full buckets are dropped when the table grows.
#[derive(Default)]
pub struct MemoryBuckets {
    table: Mutex<HashMap<String, (Bucket, Rate)>>,
}

/// Above this many keys, full buckets are swept out.
const SWEEP_AT: usize = 100_000;

impl MemoryBuckets {
    pub fn take(&self, key: &str, rate: Rate, now_ms: u64) -> Option<u64> {
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() >= SWEEP_AT && !t.contains_key(key) {
            t.retain(|_, (b, r)| b.idle_after(*r) > now_ms);
        }
        let old = t.get(key).map(|(b, _)| *b);
        let (b, wait) = Bucket::take(old, rate, now_ms);
        t.insert(key.to_owned(), (b, rate));
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Rate = Rate {
        per_minute: 60,
        burst: 3,
    };

    #[test]
    fn a_burst_passes_then_waits_then_refills() {
        let m = MemoryBuckets::default();
        for _ in 0..3 {
            assert_eq!(m.take("u", R, 1_000), None);
        }
        let wait = m.take("u", R, 1_000).expect("the fourth is refused");
        assert!((900..=1_000).contains(&wait), "{wait}");
        // Another key is not affected.
        assert_eq!(m.take("v", R, 1_000), None);
        // One second later one token is back.
        assert_eq!(m.take("u", R, 2_000), None);
        assert!(m.take("u", R, 2_000).is_some());
    }

    #[test]
    fn tokens_never_exceed_the_burst() {
        let (b, _) = Bucket::take(None, R, 0);
        let (b, w) = Bucket::take(Some(b), R, 10_000_000);
        assert_eq!(w, None);
        assert!(b.tokens <= 2.0 + 1e-9);
        // A clock going backwards does not mint tokens.
        let (b2, _) = Bucket::take(Some(b), R, 0);
        assert!(b2.tokens <= b.tokens);
    }
}
