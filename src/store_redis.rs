//! The shared store: Redis, for several instances behind a load balancer. Same contract as the
//! embedded [`SledStore`](crate::store::SledStore) — one test suite runs against both.
//!
//! Keys (all under `safepath:`): `salt`, `state:{user}` (8-byte stamp + state, expiring by TTL),
//! `report:seq` (ids), `report:ids` (sorted set by id), `report:data` (hash id → JSON),
//! `report:key:{dedup}` (id), `report:label` (hash id → the team's label, JSON), `rep:{contact}` (hash count/first_seen/last_seen), `bucket:{key}`,
//! `setting:{key}`.
//!
//! Durability: a report is acknowledged once Redis has it; that it survives a Redis crash depends
//! on Redis's persistence (`appendonly yes`, `appendfsync always` for the sled guarantee).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::{Commands, Script};

use crate::limit::{Bucket, Rate};
use crate::report::{Label, Report};
use crate::store::{stamp, unstamp, Reputation, Store, StoreError};

const P: &str = "safepath:";

/// Appends a report unless its dedup key exists; the id comes from one counter, so ids stay
/// unique across instances. A missing counter (a new deployment, or Redis restarted without
/// persistence) starts at [`id_floor`], so an id handed out before a restart (and already in
/// someone's export) is never handed out again. KEYS: dedup key, seq,
/// ids, data. ARGV: report JSON starting with `{"id":0`; the counter's floor.
const APPEND: &str = r#"
local existing = redis.call('GET', KEYS[1])
if existing then return {tonumber(existing), 0} end
redis.call('SET', KEYS[2], ARGV[2], 'NX')
local id = redis.call('INCR', KEYS[2])
-- Lua's numbers print large integers in exponent form: the id as digits.
local sid = string.format('%d', id)
redis.call('SET', KEYS[1], sid)
redis.call('ZADD', KEYS[3], sid, sid)
redis.call('HSET', KEYS[4], sid, '{"id":' .. sid .. string.sub(ARGV[1], 8))
return {id, 1}
"#;

/// Labels a report that exists. KEYS: data, labels. ARGV: id, label JSON. Returns 1, or 0 when
/// there is no such report.
const LABEL: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"#;

/// One more sighting of a contact. KEYS: rep key. ARGV: now.
const BUMP: &str = r#"
redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSETNX', KEYS[1], 'first_seen', ARGV[1])
redis.call('HSET', KEYS[1], 'last_seen', ARGV[1])
return 1
"#;

/// Where the report counter starts when it is missing: the unix time in microseconds, above
/// every id handed out before as long as fewer than one report a microsecond was made (and
/// below 2^53 until the year 2255, so ids stay exact in JSON and in the sorted set's scores).
fn id_floor() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub struct RedisStore {
    pool: r2d2::Pool<redis::Client>,
    /// The salt for user keys: from the configuration, or the one found in (or first written
    /// to) Redis at start. Kept here and written back if Redis loses it, so that a Redis restart
    /// changes no user's key.
    salt: Vec<u8>,
    breaker: Breaker,
    /// Conversations expire this long after their last write.
    ttl_secs: u64,
    append: Script,
    label: Script,
    bump: Script,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Write(format!("redis: {e}"))
}

impl RedisStore {
    /// Connects (and checks the connection) to `url` (`redis://host:port/db`). `salt`: the
    /// salt for user keys from the configuration (`SAFEPATH_SALT`), which survives anything
    /// that happens to Redis; without it, the salt is kept in Redis.
    pub fn open(url: &str, ttl_secs: u64, salt: Option<&[u8]>) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError::Foreign {
            path: url.into(),
            why: e.to_string(),
        })?;
        let pool = r2d2::Pool::builder()
            .max_size(16)
            // Fail fast while Redis is down: the user still gets an answer.
            .connection_timeout(Duration::from_secs(1))
            .build(client)
            .map_err(|e| StoreError::Read(format!("cannot reach redis at {url}: {e}")))?;
        let mut con = pool
            .get()
            .map_err(|e| StoreError::Read(format!("redis unavailable: {e}")))?;
        let salt = match salt {
            Some(salt) => salt.to_vec(),
            None => {
                let mut fresh = [0u8; 32];
                getrandom::fill(&mut fresh).map_err(err)?;
                // The first instance sets the salt; every other one reads the same.
                let _: bool = con.set_nx(format!("{P}salt"), &fresh[..]).map_err(err)?;
                con.get(format!("{P}salt")).map_err(err)?
            }
        };
        drop(con);
        Ok(RedisStore {
            pool,
            salt,
            breaker: Breaker::default(),
            ttl_secs: ttl_secs.max(1),
            append: Script::new(APPEND),
            label: Script::new(LABEL),
            bump: Script::new(BUMP),
        })
    }

    fn con(&self) -> Result<r2d2::PooledConnection<redis::Client>, StoreError> {
        self.breaker.allow(Instant::now())?;
        let con = self
            .pool
            .get()
            .map_err(|e| StoreError::Read(format!("redis unavailable: {e}")));
        self.breaker.record(con.is_ok(), Instant::now());
        con
    }
}

/// While Redis cannot be reached, every request would wait for the pool's timeout: after one
/// such failure the next ones fail at once for [`Breaker::OPEN`], then one is let through to try
/// again (and closes the breaker if Redis is back).
#[derive(Default)]
struct Breaker {
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    const OPEN: Duration = Duration::from_secs(1);

    fn allow(&self, now: Instant) -> Result<(), StoreError> {
        let mut open = self.open_until.lock().unwrap_or_else(|e| e.into_inner());
        match *open {
            Some(until) if now < until => Err(StoreError::Read(
                "redis unavailable (retrying every second)".into(),
            )),
            Some(_) => {
                // This request tries; the others keep failing fast until it is answered.
                *open = Some(now + Self::OPEN);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn record(&self, reached: bool, now: Instant) {
        let mut open = self.open_until.lock().unwrap_or_else(|e| e.into_inner());
        *open = (!reached).then_some(now + Self::OPEN);
    }
}

impl Store for RedisStore {
    fn salt(&self) -> Result<Vec<u8>, StoreError> {
        // Written back if Redis lost it (a restart without persistence), so that instances
        // started later hash users as the running ones do.
        let _: bool = self
            .con()?
            .set_nx(format!("{P}salt"), &self.salt[..])
            .map_err(err)?;
        Ok(self.salt.clone())
    }

    fn load_state(&self, user: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let v: Option<Vec<u8>> = self.con()?.get(format!("{P}state:{user}")).map_err(err)?;
        Ok(v.as_deref().and_then(unstamp).map(|(_, s)| s.to_vec()))
    }

    fn save_state(&self, user: &str, state: &[u8]) -> Result<(), StoreError> {
        let bytes = stamp(crate::session::now(), state);
        let _: () = self
            .con()?
            .set_ex(format!("{P}state:{user}"), bytes, self.ttl_secs)
            .map_err(err)?;
        Ok(())
    }

    fn delete_user(&self, user: &str) -> Result<(), StoreError> {
        let _: () = self.con()?.del(format!("{P}state:{user}")).map_err(err)?;
        Ok(())
    }

    fn append_report(&self, dedup: &str, mut report: Report) -> Result<(u64, bool), StoreError> {
        report.id = 0;
        let json = serde_json::to_string(&report).map_err(err)?;
        debug_assert!(json.starts_with(r#"{"id":0"#));
        let (id, new): (u64, u8) = self
            .append
            .key(format!("{P}report:key:{dedup}"))
            .key(format!("{P}report:seq"))
            .key(format!("{P}report:ids"))
            .key(format!("{P}report:data"))
            .arg(json)
            .arg(id_floor())
            .invoke(&mut *self.con()?)
            .map_err(err)?;
        Ok((id, new == 1))
    }

    fn reports(&self, after: u64, since: u64, limit: usize) -> Result<Vec<Report>, StoreError> {
        let mut out = Vec::new();
        let mut con = self.con()?;
        let mut from = after;
        while out.len() < limit {
            let ids: Vec<u64> = con
                .zrangebyscore_limit(
                    format!("{P}report:ids"),
                    format!("({from}"),
                    "+inf",
                    0,
                    1000,
                )
                .map_err(err)?;
            let Some(&last) = ids.last() else { break };
            let data: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(format!("{P}report:data"))
                .arg(&ids)
                .query(&mut *con)
                .map_err(err)?;
            for j in data.into_iter().flatten() {
                match serde_json::from_str::<Report>(&j) {
                    Ok(r) if r.time >= since => out.push(r),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "skipping an unreadable report"),
                }
                if out.len() >= limit {
                    break;
                }
            }
            from = last;
        }
        Ok(out)
    }

    fn set_label(&self, id: u64, label: &Label) -> Result<bool, StoreError> {
        let json = serde_json::to_string(label).map_err(err)?;
        let set: u8 = self
            .label
            .key(format!("{P}report:data"))
            .key(format!("{P}report:label"))
            .arg(id)
            .arg(json)
            .invoke(&mut *self.con()?)
            .map_err(err)?;
        Ok(set == 1)
    }

    fn labels(&self, ids: &[u64]) -> Result<Vec<Option<Label>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let data: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(format!("{P}report:label"))
            .arg(ids)
            .query(&mut *self.con()?)
            .map_err(err)?;
        Ok(data
            .into_iter()
            .map(|j| j.and_then(|j| serde_json::from_str(&j).ok()))
            .collect())
    }

    fn reputation(&self, keys: &[String]) -> Result<Vec<Reputation>, StoreError> {
        let mut con = self.con()?;
        keys.iter()
            .map(|k| {
                let (count, first, last): (Option<u64>, Option<u64>, Option<u64>) =
                    redis::cmd("HMGET")
                        .arg(format!("{P}rep:{k}"))
                        .arg(&["count", "first_seen", "last_seen"])
                        .query(&mut *con)
                        .map_err(err)?;
                Ok(Reputation {
                    count: count.unwrap_or(0),
                    first_seen: first.unwrap_or(0),
                    last_seen: last.unwrap_or(0),
                })
            })
            .collect()
    }

    fn bump(&self, keys: &[String], now: u64) -> Result<(), StoreError> {
        let mut con = self.con()?;
        for k in keys {
            let _: i64 = self
                .bump
                .key(format!("{P}rep:{k}"))
                .arg(now)
                .invoke(&mut *con)
                .map_err(err)?;
        }
        Ok(())
    }

    fn expire_states_step(
        &self,
        before: u64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(usize, Option<String>), StoreError> {
        // Redis expires them by TTL; this sweeps those written before `before` when the idle
        // time was shortened since. Redis's own cursor: SCAN says where to go on, 0 at the end.
        let mut con = self.con()?;
        let from: u64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(from)
            .arg("MATCH")
            .arg(format!("{P}state:*"))
            .arg("COUNT")
            .arg(limit)
            .query(&mut *con)
            .map_err(err)?;
        let mut n = 0;
        for k in keys {
            let v: Option<Vec<u8>> = con.get(&k).map_err(err)?;
            if v.as_deref()
                .and_then(unstamp)
                .is_none_or(|(t, _)| t < before)
            {
                let _: () = con.del(&k).map_err(err)?;
                n += 1;
            }
        }
        Ok((n, (next != 0).then(|| next.to_string())))
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn take_token(&self, key: &str, rate: Rate, now_ms: u64) -> Result<Option<u64>, StoreError> {
        let k = format!("{P}bucket:{key}");
        let mut con = self.con()?;
        // Optimistic: the same arithmetic as every store, retried if another instance wrote the
        // bucket in between.
        let wait: Option<u64> = redis::transaction(&mut *con, &[&k], |con, pipe| {
            let old: Option<String> = con.get(&k)?;
            let old = old
                .as_deref()
                .and_then(|s| serde_json::from_str::<Bucket>(s).ok());
            let (b, wait) = Bucket::take(old, rate, now_ms);
            let ttl =
                (60_000 * u64::from(rate.burst) / u64::from(rate.per_minute.max(1))).max(1000);
            pipe.pset_ex(&k, serde_json::to_string(&b).unwrap_or_default(), ttl)
                .ignore()
                .query::<()>(con)?;
            Ok(Some(wait))
        })
        .map_err(err)?;
        Ok(wait)
    }

    fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.con()?.get(format!("{P}setting:{key}")).map_err(err)
    }

    fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let _: () = self
            .con()?
            .set(format!("{P}setting:{key}"), value)
            .map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_fails_fast_while_redis_is_unreachable_and_lets_one_try_each_second() {
        let b = Breaker::default();
        let t0 = Instant::now();
        assert!(b.allow(t0).is_ok(), "closed at first");
        b.record(false, t0);
        let ms = Duration::from_millis;
        assert!(b.allow(t0 + ms(10)).is_err(), "open right after a failure");
        assert!(b.allow(t0 + ms(990)).is_err());
        // A second on, one request tries; the others still fail fast while it does.
        assert!(b.allow(t0 + ms(1_001)).is_ok());
        assert!(b.allow(t0 + ms(1_002)).is_err());
        // It failed again: open for another second.
        b.record(false, t0 + ms(1_500));
        assert!(b.allow(t0 + ms(2_400)).is_err());
        assert!(b.allow(t0 + ms(2_501)).is_ok());
        // Redis is back: closed.
        b.record(true, t0 + ms(2_510));
        assert!(b.allow(t0 + ms(2_511)).is_ok());
        assert!(b.allow(t0 + ms(2_512)).is_ok());
    }
}
