//! Storage behind the session: conversation state per user, the scam-report log, the contact
//! reputation counts and the salt for user-id hashes. [`Store`] is the trait every backend
//! implements; [`SledStore`] is the embedded default on the data directory: a sled database with
//! a tree per kind of record (conversations, reports, their dedup keys, the team's labels on
//! them, reputation, settings).
//!
//! The store sees only hashed user keys and redacted text: the session hashes and the guard
//! redacts before anything arrives here.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::limit::{MemoryBuckets, Rate};
use crate::report::{Label, Labelled, Report};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the data directory {path} is in use by another safepath process (or was just closed); stop the other process or use another --data directory")]
    Locked { path: String },
    #[error("{path} is not a safepath data directory ({why}); point --data at an empty or safepath directory")]
    Foreign { path: String, why: String },
    #[error("the store cannot write right now ({0}); check free disk space and permissions of the data directory")]
    Write(String),
    #[error("the store cannot read ({0}); the data directory may be damaged")]
    Read(String),
}

/// How often earlier reports named a contact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Reputation {
    pub count: u64,
    pub first_seen: u64,
    pub last_seen: u64,
}

pub trait Store: Send + Sync {
    /// A random salt made when the store was created, for hashing user ids.
    fn salt(&self) -> Result<Vec<u8>, StoreError>;
    /// Whether the store serves reads and takes writes now (`/healthz`).
    fn health(&self) -> Result<(), StoreError> {
        self.salt().map(drop)
    }
    fn load_state(&self, user: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn save_state(&self, user: &str, state: &[u8]) -> Result<(), StoreError>;
    /// Deletes everything kept about a user (their conversation).
    fn delete_user(&self, user: &str) -> Result<(), StoreError>;
    /// Appends a report durably (on disk before it returns) unless one with the same `dedup`
    /// key exists. Returns the report's id and whether it is new.
    fn append_report(&self, dedup: &str, report: Report) -> Result<(u64, bool), StoreError>;
    /// Reports with an id above `after`, made at or after `since` (unix seconds), oldest first,
    /// at most `limit`.
    fn reports(&self, after: u64, since: u64, limit: usize) -> Result<Vec<Report>, StoreError>;
    /// Sets (or replaces) the team's label on report `id`, durably (on disk before it returns).
    /// `Ok(false)`: there is no report `id`, and nothing was written.
    fn set_label(&self, id: u64, label: &Label) -> Result<bool, StoreError>;
    /// The labels of the reports `ids`, in their order (`None`: not labelled).
    fn labels(&self, ids: &[u64]) -> Result<Vec<Option<Label>>, StoreError>;
    /// [`Store::reports`], each with its label.
    fn labelled_reports(
        &self,
        after: u64,
        since: u64,
        limit: usize,
    ) -> Result<Vec<Labelled>, StoreError> {
        let reports = self.reports(after, since, limit)?;
        let ids: Vec<u64> = reports.iter().map(|r| r.id).collect();
        let labels = self.labels(&ids)?;
        Ok(reports
            .into_iter()
            .zip(labels)
            .map(|(report, label)| Labelled { report, label })
            .collect())
    }
    /// Reputation of each contact key (zero counts for unknown ones).
    fn reputation(&self, keys: &[String]) -> Result<Vec<Reputation>, StoreError>;
    /// Counts one more sighting of each contact key.
    fn bump(&self, keys: &[String], now: u64) -> Result<(), StoreError>;
    /// Deletes conversations last touched before `before`, a bounded step at a time: looks at
    /// up to `limit` conversations after `cursor` (where the last step stopped; `None`: from the
    /// start) and returns how many it forgot and where to go on (`None`: the end was reached).
    /// A long-running process sweeps this way, so that it never reads the whole store at once
    /// (which doubled sled's memory for a million users).
    fn expire_states_step(
        &self,
        before: u64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(usize, Option<String>), StoreError>;
    /// The whole sweep, step after step; returns how many conversations it forgot.
    fn expire_states(&self, before: u64) -> Result<usize, StoreError> {
        let (mut n, mut cursor) = (0, None);
        loop {
            let (gone, next) = self.expire_states_step(before, cursor.as_deref(), 10_000)?;
            n += gone;
            match next {
                Some(c) => cursor = Some(c),
                None => return Ok(n),
            }
        }
    }
    /// Makes everything written so far durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// Takes a token from the rate-limit bucket `key`: `None` lets the message pass, `Some(ms)`
    /// says how long to wait. Buckets are shared by every process on the store.
    fn take_token(&self, key: &str, rate: Rate, now_ms: u64) -> Result<Option<u64>, StoreError>;
    /// A small operator setting (a group's guard switch), durable once set.
    fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
}

const FORMAT: &[u8] = b"safepath-store-1";

/// The embedded store: sled in the data directory, a tree per kind of record.
///
/// sled refuses every write for good after one failed (a full disk), though reads go on. So
/// after a write error the store checks, at most once a second, whether the data directory takes
/// writes again (a probe file); when it does, it reopens sled, and writes work again without a
/// restart. Until then [`Store::health`] reports the failure.
pub struct SledStore {
    dir: PathBuf,
    cache_mb: u64,
    /// `None` only between dropping a failed sled and opening it again.
    trees: RwLock<Option<Arc<Trees>>>,
    /// 0 while writes work; after one failed, when recovery was last tried (`now()`).
    /// An atomic, so that every read and write checks it without a lock.
    failing: AtomicU64,
    opened: Instant,
    /// One process owns a sled directory, so its buckets can live in memory.
    buckets: MemoryBuckets,
}

/// One open sled database and its trees.
struct Trees {
    db: sled::Db,
    /// Hashed user key → stamped conversation state.
    states: sled::Tree,
    reports: sled::Tree,
    dedup: sled::Tree,
    /// Report id (big-endian) → the team's label (JSON). A tree of its own, so that data
    /// directories from before labels read as they are: every report unlabelled.
    labels: sled::Tree,
    reputation: sled::Tree,
    meta: sled::Tree,
}

/// How often recovery from failed writes is tried.
const RECOVERY_EVERY: Duration = Duration::from_secs(1);
/// The probe written before sled is reopened: room for a few of sled's segments.
const PROBE_BYTES: usize = 2 << 20;

pub(crate) fn write_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Write(e.to_string())
}
pub(crate) fn read_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Read(e.to_string())
}

/// The stored state carries the time of its last turn in its first 8 bytes (big-endian), so
/// expiry does not need to decode it.
pub(crate) fn unstamp(v: &[u8]) -> Option<(u64, &[u8])> {
    let at = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    Some((at, &v[8..]))
}

pub(crate) fn stamp(now: u64, state: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + state.len());
    v.extend_from_slice(&now.to_be_bytes());
    v.extend_from_slice(state);
    v
}

/// sled's page cache, in MiB, unless the operator says otherwise (`--cache-mb`), for all the
/// trees (BENCHMARKS.md: memory and turn rate by size).
pub const DEFAULT_CACHE_MB: u64 = 32;

impl SledStore {
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        SledStore::open_with_cache(dir, DEFAULT_CACHE_MB)
    }

    /// Opens with a page cache of `cache_mb` MiB.
    pub fn open_with_cache(dir: &Path, cache_mb: u64) -> Result<SledStore, StoreError> {
        if dir.exists() && !dir.join("db").exists() && !dir.join("conf").exists() {
            let foreign = std::fs::read_dir(dir)
                .map_err(read_err)?
                .filter_map(|e| e.ok())
                .any(|e| !e.file_name().to_string_lossy().starts_with('.'));
            if foreign {
                return Err(StoreError::Foreign {
                    path: dir.display().to_string(),
                    why: "it holds other files".into(),
                });
            }
        }
        std::fs::create_dir_all(dir).map_err(write_err)?;
        let trees = Trees::open(dir, cache_mb)?;
        let log = dir.join(upgrade::LOG_DIR);
        if log.exists() {
            let moved = upgrade::import_conversation_log(&log, &trees.states)?;
            trees.db.flush().map_err(write_err)?;
            // Only once sled has them on disk: a crash before this line imports again, to the
            // same end.
            std::fs::remove_dir_all(&log).map_err(write_err)?;
            tracing::info!(
                moved,
                "moved the conversations of the earlier conversation log into the store"
            );
        }
        Ok(SledStore {
            dir: dir.to_path_buf(),
            cache_mb,
            trees: RwLock::new(Some(Arc::new(trees))),
            failing: AtomicU64::new(0),
            opened: Instant::now(),
            buckets: MemoryBuckets::default(),
        })
    }

    /// The open trees, after trying to recover if writes have been failing.
    fn trees(&self) -> Result<Arc<Trees>, StoreError> {
        self.recover_if_due();
        self.trees
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Write("the store is being reopened".into()))
    }

    /// Milliseconds since the store was opened, plus one (0 in `failing` means "writes work").
    fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64 + 1
    }

    /// Runs a write; a failure starts the recovery checks.
    fn write<T>(&self, op: impl FnOnce(&Trees) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let result = op(&*self.trees()?);
        if let Err(StoreError::Write(e)) = &result {
            let first = (self.failing)
                .compare_exchange(0, self.now(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if first {
                tracing::warn!(error = %e, "a write to the store failed; retrying every second");
            }
        }
        result
    }

    /// Once a second while writes fail, in one thread: if the directory takes a probe write
    /// again, reopen sled (the failed instance never writes again).
    fn recover_if_due(&self) {
        let at = self.failing.load(Ordering::Acquire);
        let now = self.now();
        if at == 0 || now.saturating_sub(at) < RECOVERY_EVERY.as_millis() as u64 {
            return;
        }
        if (self.failing)
            .compare_exchange(at, now, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return; // another thread is trying now
        }
        if let Err(e) = self.probe_write() {
            tracing::debug!(error = %e, "the data directory still takes no writes");
            return;
        }
        let mut trees = self.trees.write().unwrap_or_else(|e| e.into_inner());
        // sled's lock on its files goes with the last handle; requests in flight hold theirs
        // for one operation.
        drop(trees.take());
        match Trees::open(&self.dir, self.cache_mb) {
            Ok(t) => {
                *trees = Some(Arc::new(t));
                self.failing.store(0, Ordering::Release);
                tracing::warn!("the store takes writes again");
            }
            Err(e) => tracing::warn!(error = %e, "reopening the store failed; retrying"),
        }
    }

    fn probe_write(&self) -> Result<(), StoreError> {
        let path = self.dir.join(".write-probe");
        let result = std::fs::File::create(&path)
            .and_then(|mut f| {
                f.write_all(&vec![0; PROBE_BYTES])?;
                f.sync_data()
            })
            .map_err(write_err);
        let _ = std::fs::remove_file(&path);
        result
    }
}

/// Whether sled could not open because another process holds its lock: sled says so only in
/// words (an error of kind `Other`, "could not acquire lock on …"), which a test pins.
fn is_locked(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
        || e.to_string().starts_with("could not acquire lock")
}

impl Trees {
    fn open(dir: &Path, cache_mb: u64) -> Result<Trees, StoreError> {
        let path = dir.display().to_string();
        let cfg = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mb << 20)
            .flush_every_ms(Some(500));
        let mut tries = 0;
        let db = loop {
            match cfg.open() {
                Ok(db) => break db,
                // sled's file lock outlives a dropped Db briefly.
                Err(sled::Error::Io(e)) if is_locked(&e) && tries < 20 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(sled::Error::Io(e)) if is_locked(&e) => {
                    return Err(StoreError::Locked { path });
                }
                Err(e @ sled::Error::Corruption { .. }) | Err(e @ sled::Error::Unsupported(_)) => {
                    return Err(StoreError::Foreign {
                        path,
                        why: e.to_string(),
                    })
                }
                Err(e) => return Err(write_err(e)),
            }
        };
        let tree = |name: &str| db.open_tree(name).map_err(write_err);
        let meta = tree("meta")?;
        match meta.get("format").map_err(read_err)? {
            Some(f) if f.as_ref() == FORMAT => {}
            Some(f) => {
                return Err(StoreError::Foreign {
                    path,
                    why: format!("its format is {:?}", String::from_utf8_lossy(&f)),
                })
            }
            None => {
                let mut salt = [0u8; 32];
                getrandom::fill(&mut salt).map_err(write_err)?;
                meta.insert("salt", &salt[..]).map_err(write_err)?;
                meta.insert("format", FORMAT).map_err(write_err)?;
                db.flush().map_err(write_err)?;
            }
        }
        Ok(Trees {
            states: tree("states")?,
            reports: tree("reports")?,
            dedup: tree("report_keys")?,
            labels: tree("labels")?,
            reputation: tree("reputation")?,
            meta,
            db,
        })
    }
}

/// Reading the conversation log that versions before this one kept next to sled
/// (`conversations/*.seg`), once, to move its conversations into the `states` tree.
mod upgrade {
    use std::path::Path;

    use super::{read_err, write_err, StoreError};

    pub const LOG_DIR: &str = "conversations";
    /// Each record: `[u32 body length][u32 crc32 of the body]` (little-endian), then the body:
    /// kind, key length, key, value.
    const HEADER: usize = 8;
    const MAX_BODY: usize = 1 << 20;
    const PUT: u8 = 1;
    const DELETE: u8 = 2;

    /// Replays the segments in order into `states` (a later record of a key replaces an
    /// earlier one, a delete removes it; records the log had erased are passed over) and returns
    /// how many conversations it holds afterwards. A damaged record is skipped, a torn one at the
    /// end of a segment (a crash mid-write) ends that segment: what the log itself did.
    pub fn import_conversation_log(dir: &Path, states: &sled::Tree) -> Result<usize, StoreError> {
        let mut segments: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let id = e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok()?;
                Some((id, e.path()))
            })
            .collect();
        segments.sort_unstable();
        tracing::warn!(
            segments = segments.len(),
            "moving the conversations of the earlier conversation log into sled (once; about 10 s a \
             million)"
        );
        let mut damaged = 0;
        for (i, (_, path)) in segments.iter().enumerate() {
            tracing::info!("segment {} of {}", i + 1, segments.len());
            let bytes = std::fs::read(path).map_err(read_err)?;
            let mut at = 0;
            while let Some(header) = bytes.get(at..at + HEADER) {
                let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
                let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
                if !(2..=MAX_BODY).contains(&len) {
                    damaged += 1;
                    break; // no length to go on by
                }
                let Some(body) = bytes.get(at + HEADER..at + HEADER + len) else {
                    break; // torn at the end
                };
                at += HEADER + len;
                let key_len = usize::from(body[1]);
                if crc32fast::hash(body) != crc || 2 + key_len > len {
                    damaged += 1;
                    continue;
                }
                let (key, value) = body[2..].split_at(key_len);
                // One record at a time: sled batches of a segment's records held ~2–4 GB at a
                // million conversations.
                match body[0] {
                    PUT => drop(states.insert(key, value).map_err(write_err)?),
                    DELETE => drop(states.remove(key).map_err(write_err)?),
                    _ => {}
                }
            }
        }
        if damaged > 0 {
            tracing::warn!(
                damaged,
                "records of the earlier conversation log were damaged and are left behind"
            );
        }
        Ok(states.len())
    }
}

impl Store for SledStore {
    fn salt(&self) -> Result<Vec<u8>, StoreError> {
        self.trees()?
            .meta
            .get("salt")
            .map_err(read_err)?
            .map(|s| s.to_vec())
            .ok_or_else(|| StoreError::Read("the salt is missing".into()))
    }

    fn health(&self) -> Result<(), StoreError> {
        self.salt()?;
        match self.failing.load(Ordering::Acquire) {
            0 => Ok(()),
            _ => Err(StoreError::Write(
                "writes are failing (is the disk full?)".into(),
            )),
        }
    }

    fn load_state(&self, user: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let v = self.trees()?.states.get(user).map_err(read_err)?;
        Ok(v.as_deref().and_then(unstamp).map(|(_, s)| s.to_vec()))
    }

    fn save_state(&self, user: &str, state: &[u8]) -> Result<(), StoreError> {
        self.write(|t| {
            t.states
                .insert(user, stamp(crate::session::now(), state))
                .map_err(write_err)?;
            Ok(())
        })
    }

    fn delete_user(&self, user: &str) -> Result<(), StoreError> {
        self.write(|t| {
            t.states.remove(user).map_err(write_err)?;
            // Durable before the user is told it is forgotten.
            t.db.flush().map_err(write_err)?;
            Ok(())
        })
    }

    fn append_report(&self, dedup: &str, mut report: Report) -> Result<(u64, bool), StoreError> {
        self.write(|t| {
            let id = t.db.generate_id().map_err(write_err)? + 1;
            let claimed = t
                .dedup
                .compare_and_swap(dedup, None as Option<&[u8]>, Some(&id.to_be_bytes()[..]))
                .map_err(write_err)?;
            if let Err(cas) = claimed {
                let existing = cas
                    .current
                    .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                return Ok((existing, false));
            }
            report.id = id;
            let bytes = serde_json::to_vec(&report).map_err(write_err)?;
            t.reports
                .insert(id.to_be_bytes(), bytes)
                .map_err(write_err)?;
            // Durable before anyone is told "recorded".
            t.db.flush().map_err(write_err)?;
            Ok((id, true))
        })
    }

    fn reports(&self, after: u64, since: u64, limit: usize) -> Result<Vec<Report>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let t = self.trees()?;
        for kv in t.reports.range(after.saturating_add(1).to_be_bytes()..) {
            let (_, v) = kv.map_err(read_err)?;
            match serde_json::from_slice::<Report>(&v) {
                Ok(r) if r.time >= since => out.push(r),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable report"),
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn set_label(&self, id: u64, label: &Label) -> Result<bool, StoreError> {
        let bytes = serde_json::to_vec(label).map_err(write_err)?;
        self.write(|t| {
            let key = id.to_be_bytes();
            if !t.reports.contains_key(key).map_err(read_err)? {
                return Ok(false);
            }
            t.labels.insert(key, bytes).map_err(write_err)?;
            t.labels.flush().map_err(write_err)?;
            Ok(true)
        })
    }

    fn labels(&self, ids: &[u64]) -> Result<Vec<Option<Label>>, StoreError> {
        let t = self.trees()?;
        ids.iter()
            .map(|id| {
                let v = t.labels.get(id.to_be_bytes()).map_err(read_err)?;
                Ok(v.and_then(|v| match serde_json::from_slice(&v) {
                    Ok(l) => Some(l),
                    Err(e) => {
                        tracing::warn!(error = %e, id, "skipping an unreadable label");
                        None
                    }
                }))
            })
            .collect()
    }

    fn reputation(&self, keys: &[String]) -> Result<Vec<Reputation>, StoreError> {
        let t = self.trees()?;
        keys.iter()
            .map(|k| {
                Ok(t.reputation
                    .get(k)
                    .map_err(read_err)?
                    .and_then(|v| serde_json::from_slice(&v).ok())
                    .unwrap_or_default())
            })
            .collect()
    }

    fn bump(&self, keys: &[String], now: u64) -> Result<(), StoreError> {
        self.write(|t| {
            for k in keys {
                t.reputation
                    .fetch_and_update(k, |old| {
                        let mut r: Reputation = old
                            .and_then(|v| serde_json::from_slice(v).ok())
                            .unwrap_or(Reputation {
                                count: 0,
                                first_seen: now,
                                last_seen: now,
                            });
                        r.count += 1;
                        r.last_seen = now;
                        serde_json::to_vec(&r).ok()
                    })
                    .map_err(write_err)?;
            }
            t.reputation.flush().map_err(write_err)?;
            Ok(())
        })
    }

    fn expire_states_step(
        &self,
        before: u64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(usize, Option<String>), StoreError> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.write(|t| {
            let from = cursor.map_or(Unbounded, |c| Excluded(c.as_bytes().to_vec()));
            let (mut forgotten, mut seen, mut last) = (0, 0, None);
            for kv in t.states.range::<Vec<u8>, _>((from, Unbounded)) {
                let (k, v) = kv.map_err(read_err)?;
                // An unreadable stamp is as good as expired.
                if unstamp(&v).is_none_or(|(at, _)| at < before) {
                    t.states.remove(&k).map_err(write_err)?;
                    forgotten += 1;
                }
                seen += 1;
                last = Some(k);
                if seen == limit {
                    break;
                }
            }
            let next = (seen == limit)
                .then(|| last.map(|k| String::from_utf8_lossy(&k).into_owned()))
                .flatten();
            Ok((forgotten, next))
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.write(|t| t.db.flush().map(drop).map_err(write_err))
    }

    fn take_token(&self, key: &str, rate: Rate, now_ms: u64) -> Result<Option<u64>, StoreError> {
        Ok(self.buckets.take(key, rate, now_ms))
    }

    fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .trees()?
            .meta
            .get(format!("setting/{key}"))
            .map_err(read_err)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.write(|t| {
            t.meta
                .insert(format!("setting/{key}"), value.as_bytes())
                .map_err(write_err)?;
            t.meta.flush().map_err(write_err)?;
            Ok(())
        })
    }
}
