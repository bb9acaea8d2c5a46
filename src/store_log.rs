//! The conversations of the embedded store: a log of records in segment files, and an index in
//! memory from a user key's fingerprint to where its last record is.
//!
//! Why not a sled tree: a conversation is ~80 bytes read and rewritten on every turn, and a
//! million of them cost sled ~46 MB just to open (its page table) plus a cache ~1.7× its setting
//! (BENCHMARKS.md). Here a conversation costs 17 bytes of index, a turn one `pread` and one
//! `pwrite` through the operating system's page cache, which is not this process's memory.
//!
//! - **Records**: `[u32 length][u32 crc32][kind][key length][key][value]`, little-endian, in
//!   `conversations/NNNNNNNN.seg`. A put carries the stamped state, a delete nothing.
//! - **Writes** append to the newest segment (a new one every 32 MiB); they
//!   reach the operating system at once (a killed process loses nothing) and the disk within half
//!   a second (a background `fsync`), or at once on [`ConversationLog::sync`].
//! - **Opening** replays the segments in order; a torn record at the end of the last one (a crash
//!   mid-write) is cut off, a damaged one elsewhere is skipped with a warning.
//! - **Space**: once the files hold twice what is live (and more than 64 MiB), every write also
//!   copies a few live records from the oldest segment to the newest, and the oldest segment is
//!   deleted when it is empty of them. Always the oldest: a delete record is then never dropped
//!   while an older record it deletes survives.
//! - A fingerprint is 64 bits of the key's hash; the stored key is compared on every read, so a
//!   collision (about 1 in 30 million at a million users) can only make a conversation start
//!   afresh, never show one user another's.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::store::{read_err, unstamp, write_err, StoreError};

const SEGMENT_BYTES: u64 = 32 << 20;
/// Below this the files are never compacted.
const COMPACT_FLOOR: u64 = 64 << 20;
/// How much of a segment one step of compaction or expiry reads.
const WALK_STEP: usize = 16 << 10;
/// How much opening reads at a time.
const REPLAY_STEP: usize = 1 << 20;
const HEADER: usize = 8;
/// A record's body: kind, key length, a key of at most 255 bytes, and the stamped state, which
/// the session bounds far below this.
const MAX_BODY: usize = 1 << 20;
/// A record overwritten when its conversation was forgotten: read past, never applied.
const ERASED: u8 = 0;
const PUT: u8 = 1;
const DELETE: u8 = 2;
/// A first read large enough for nearly every record.
const READ_AHEAD: usize = 256;

/// Where a record starts: segment id in the high half, offset in the low half.
type Addr = u64;

fn addr(segment: u32, offset: u32) -> Addr {
    u64::from(segment) << 32 | u64::from(offset)
}

fn split(a: Addr) -> (u32, u32) {
    ((a >> 32) as u32, a as u32)
}

/// The fingerprints are hashes already: the index uses them as they are.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Of the key's bytes, so that a record read back needs no conversion to be looked up.
fn fingerprint(key: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(key);
    h.finish()
}

/// The body length a record's header gives.
fn body_len(header: &[u8; HEADER]) -> usize {
    u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize
}

/// One record read back.
struct Record<'a> {
    kind: u8,
    key: &'a [u8],
    value: &'a [u8],
    /// Its whole length on disk, header included.
    len: usize,
    /// Its bytes on disk.
    raw: &'a [u8],
}

/// Encodes a record (header included) into `out`.
fn encode(out: &mut Vec<u8>, kind: u8, key: &str, value: &[u8]) -> Result<(), StoreError> {
    let key_len = u8::try_from(key.len())
        .map_err(|_| StoreError::Write(format!("a key of {} bytes is too long", key.len())))?;
    let body_len = 2 + key.len() + value.len();
    if body_len > MAX_BODY {
        return Err(StoreError::Write(format!(
            "a conversation of {body_len} bytes is too large"
        )));
    }
    out.clear();
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(kind);
    out.push(key_len);
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(value);
    let crc = crc32fast::hash(&out[HEADER..]);
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// What the bytes at the start of `buf` are.
enum Parsed<'a> {
    Record(Record<'a>),
    /// The record is longer than `buf`: this many bytes are needed.
    Short(usize),
    /// Not a record (a torn write, or damage): its length, when the header is believable.
    Damaged(Option<usize>),
}

fn parse(buf: &[u8]) -> Parsed<'_> {
    let Some(header) = buf.first_chunk::<HEADER>() else {
        return Parsed::Short(HEADER);
    };
    let body_len = body_len(header);
    if !(2..=MAX_BODY).contains(&body_len) {
        return Parsed::Damaged(None);
    }
    let len = HEADER + body_len;
    let Some(body) = buf.get(HEADER..len) else {
        return Parsed::Short(len);
    };
    let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    let key_len = usize::from(body[1]);
    if crc32fast::hash(body) != crc
        || 2 + key_len > body.len()
        || ![ERASED, PUT, DELETE].contains(&body[0])
    {
        return Parsed::Damaged(Some(len));
    }
    Parsed::Record(Record {
        kind: body[0],
        key: &body[2..2 + key_len],
        value: &body[2 + key_len..],
        len,
        raw: &buf[..len],
    })
}

/// Where segment `id` of the log in `dir` is.
fn segment_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08}.seg"))
}

/// Logs a failure of something retried in the background once, until it succeeds again
/// (`failing` remembers that it was said).
fn warn_once(failing: &mut bool, result: Result<(), StoreError>, what: &str) {
    match result {
        Ok(()) => *failing = false,
        Err(e) if !*failing => {
            tracing::warn!(error = %e, "{what}");
            *failing = true;
        }
        Err(_) => {}
    }
}

struct Segment {
    file: Arc<File>,
    /// Bytes written (the next record goes here in the newest segment).
    end: u64,
}

struct Inner {
    index: HashMap<u64, Addr, BuildHasherDefault<Identity>>,
    segments: BTreeMap<u32, Segment>,
    active: u32,
    /// Records and bytes written since opening (for the average size).
    written: (u64, u64),
    /// How far the oldest segment has been copied out.
    compact_at: u64,
    dirty: bool,
    compact_failing: bool,
    buf: Vec<u8>,
}

/// See the module documentation.
pub struct ConversationLog {
    dir: PathBuf,
    inner: Arc<Mutex<Inner>>,
}

impl ConversationLog {
    /// Opens (or creates) the log in `dir`, replaying it, and starts its background flush.
    pub fn open(dir: &Path) -> Result<ConversationLog, StoreError> {
        std::fs::create_dir_all(dir).map_err(write_err)?;
        let mut inner = Inner {
            index: HashMap::default(),
            segments: BTreeMap::new(),
            active: 0,
            written: (0, 0),
            compact_at: 0,
            dirty: false,
            compact_failing: false,
            buf: Vec::new(),
        };
        let mut ids: Vec<u32> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        for (i, &id) in ids.iter().enumerate() {
            inner.replay(dir, id, i + 1 == ids.len())?;
        }
        let log = ConversationLog {
            dir: dir.to_path_buf(),
            inner: Arc::new(Mutex::new(inner)),
        };
        {
            let mut inner = log.lock();
            // Writing goes on at the end of the last segment (cut clean by the replay), so that
            // short runs (a `chat`, a `reports export`) do not leave a file each; an empty
            // segment before it holds nothing and goes.
            let empty: Vec<u32> = (inner.segments.iter())
                .filter(|&(&id, s)| s.end == 0 && Some(&id) != ids.last())
                .map(|(&id, _)| id)
                .collect();
            for id in empty {
                inner.segments.remove(&id);
                std::fs::remove_file(segment_path(&log.dir, id)).map_err(write_err)?;
            }
            match inner.segments.last_key_value() {
                Some((&last, s)) if s.end < SEGMENT_BYTES => inner.active = last,
                last => {
                    let next = last.map_or(0, |(id, _)| id + 1);
                    inner.start_segment(&log.dir, next)?;
                }
            }
        }
        log.flush_in_background();
        Ok(log)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the index as valid as any step of a write.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many conversations the index holds.
    pub fn len(&self) -> usize {
        self.lock().index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stamped state stored under `key`.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let fp = fingerprint(key.as_bytes());
        let mut last = None;
        // Read without the lock: a record being erased by a concurrent forget can read as
        // damaged once; the index then says what is there now.
        for _ in 0..2 {
            let (file, at) = {
                let inner = self.lock();
                let Some(&at) = inner.index.get(&fp) else {
                    return Ok(None);
                };
                if last == Some(at) {
                    break;
                }
                let Some(s) = inner.segments.get(&split(at).0) else {
                    return Err(StoreError::Read(format!(
                        "segment {} is missing",
                        split(at).0
                    )));
                };
                (s.file.clone(), at)
            };
            last = Some(at);
            let offset = u64::from(split(at).1);
            let mut buf = vec![0; READ_AHEAD];
            let got = read_at_most(&file, &mut buf, offset)?;
            buf.truncate(got);
            if let Parsed::Short(need) = parse(&buf) {
                buf.resize(need, 0);
                let got = read_at_most(&file, &mut buf, offset)?;
                buf.truncate(got);
            }
            match parse(&buf) {
                Parsed::Record(r) if r.kind == PUT && r.key == key.as_bytes() => {
                    return Ok(Some(r.value.to_vec()))
                }
                Parsed::Record(_) => return Ok(None),
                _ => {}
            }
        }
        // Damaged on disk: the conversation starts afresh (its next save replaces the record)
        // rather than failing every turn of this user.
        let (segment, offset) = split(last.expect("read once"));
        tracing::warn!(
            segment,
            offset,
            "a conversation record is damaged; starting it afresh"
        );
        Ok(None)
    }

    /// Stores the stamped state `value` under `key`.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let at = inner.append_record(&self.dir, PUT, key, value)?;
        inner.index.insert(fingerprint(key.as_bytes()), at);
        // The state is stored: a compaction step that fails (a full disk) is tried again on
        // the next write, and said once, not on every one.
        let compacted = inner.compact_some(&self.dir);
        warn_once(
            &mut inner.compact_failing,
            compacted,
            "compacting the conversation log failed; retrying on later writes",
        );
        Ok(())
    }

    /// Forgets `key`: a delete record, the last state overwritten with zeros, and both on disk
    /// before it returns.
    pub fn remove(&self, key: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.remove(&self.dir, key)?;
        inner.sync()
    }

    /// Makes every write so far durable, without holding up writers while the disk works.
    pub fn sync(&self) -> Result<(), StoreError> {
        sync_unlocked(&self.inner)
    }

    /// Forgets conversations stamped before `before`, looking at up to `limit` records after
    /// `cursor` (`segment:offset`, from [`ConversationLog::expire_step`] itself) in log order.
    pub fn expire_step(
        &self,
        before: u64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(usize, Option<String>), StoreError> {
        let (mut segment, mut offset) = cursor
            .and_then(|c| c.split_once(':'))
            .and_then(|(s, o)| Some((s.parse::<u32>().ok()?, o.parse::<u64>().ok()?)))
            .unwrap_or((0, 0));
        let (mut forgotten, mut seen) = (0, 0);
        while seen < limit {
            // The segment at or after the cursor's, as it is now.
            let Some((id, file, end)) = ({
                let inner = self.lock();
                inner
                    .segments
                    .range(segment..)
                    .next()
                    .map(|(&id, s)| (id, s.file.clone(), s.end))
            }) else {
                return Ok((forgotten, None));
            };
            if id != segment {
                (segment, offset) = (id, 0);
            }
            if offset >= end {
                (segment, offset) = (id + 1, 0);
                continue;
            }
            offset = walk(&file, offset, end, WALK_STEP, |r, at| {
                seen += 1;
                if r.kind == PUT && unstamp(r.value).is_none_or(|(t, _)| t < before) {
                    let mut inner = self.lock();
                    if inner.index.get(&fingerprint(r.key)) == Some(&addr(id, at as u32)) {
                        inner.remove(&self.dir, &String::from_utf8_lossy(r.key))?;
                        forgotten += 1;
                    }
                }
                Ok(seen < limit)
            })?
            .next(end);
        }
        Ok((forgotten, Some(format!("{segment}:{offset}"))))
    }

    /// Every half second, makes what was written durable (as sled's flush did).
    fn flush_in_background(&self) {
        let inner: Weak<Mutex<Inner>> = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("conversations-flush".into())
            .spawn(move || {
                let mut failing = false;
                loop {
                    std::thread::sleep(Duration::from_millis(500));
                    let Some(inner) = inner.upgrade() else { return };
                    warn_once(
                        &mut failing,
                        sync_unlocked(&inner),
                        "conversations cannot be flushed to disk; retrying",
                    );
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread to flush conversations; they reach the disk on every explicit flush");
        }
    }
}

/// Where a [`walk`] stopped.
enum Walked {
    /// Go on from here.
    At(u64),
    /// From here on the segment cannot be read as records: a torn end, or damage no length can
    /// step over.
    Unreadable(u64),
}

impl Walked {
    /// Where to go on, skipping what cannot be read.
    fn next(self, end: u64) -> u64 {
        match self {
            Walked::At(at) => at,
            Walked::Unreadable(_) => end,
        }
    }
}

/// Calls `each` with the records of `file` from `offset` (and where each starts) for about
/// `step` bytes, or until it answers false. A damaged record whose length is believable is
/// stepped over.
fn walk(
    file: &File,
    offset: u64,
    end: u64,
    step: usize,
    mut each: impl FnMut(&Record, u64) -> Result<bool, StoreError>,
) -> Result<Walked, StoreError> {
    let mut want = step;
    'read: loop {
        let len = (end.saturating_sub(offset)).min(want as u64) as usize;
        let mut buf = vec![0; len];
        let got = read_at_most(file, &mut buf, offset)?;
        let mut at = 0;
        loop {
            let here = offset + at as u64;
            match parse(&buf[at..got]) {
                Parsed::Record(r) => {
                    let go_on = each(&r, here)?;
                    at += r.len;
                    if !go_on {
                        return Ok(Walked::At(offset + at as u64));
                    }
                }
                Parsed::Damaged(Some(n)) if here + n as u64 <= end => {
                    tracing::warn!(offset = here, "skipping a damaged conversation record");
                    at += n;
                }
                Parsed::Short(need) if at == 0 && got == len && offset + (need as u64) <= end => {
                    // One record longer than a step: read it whole.
                    want = need;
                    continue 'read;
                }
                Parsed::Short(_) if here == end => return Ok(Walked::At(end)),
                Parsed::Short(_) if at > 0 => return Ok(Walked::At(here)),
                _ => return Ok(Walked::Unreadable(here)),
            }
        }
    }
}

/// [`Inner::sync`] with the lock held only to learn which file: turns go on during the `fsync`.
fn sync_unlocked(inner: &Mutex<Inner>) -> Result<(), StoreError> {
    let file = {
        let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
        if !inner.dirty {
            return Ok(());
        }
        inner.dirty = false;
        inner.segments[&inner.active].file.clone()
    };
    file.sync_data().map_err(|e| {
        inner.lock().unwrap_or_else(|e| e.into_inner()).dirty = true;
        write_err(e)
    })
}

/// Reads up to `buf.len()` bytes at `offset`; fewer only at the end of the file.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> Result<usize, StoreError> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_err(e)),
        }
    }
    Ok(got)
}

impl Inner {
    /// Replays segment `id` into the index. The last segment's torn tail is cut off.
    fn replay(&mut self, dir: &Path, id: u32, last: bool) -> Result<(), StoreError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(segment_path(dir, id))
            .map_err(read_err)?;
        let size = file.metadata().map_err(read_err)?.len();
        let mut at = 0;
        let index = &mut self.index;
        while at < size {
            let walked = walk(&file, at, size, REPLAY_STEP, |r, here| {
                let fp = fingerprint(r.key);
                match r.kind {
                    PUT => {
                        index.insert(fp, addr(id, here as u32));
                    }
                    DELETE => {
                        index.remove(&fp);
                    }
                    _ => {}
                }
                Ok(true)
            })?;
            match walked {
                Walked::At(next) => at = next,
                Walked::Unreadable(from) if last => {
                    tracing::warn!(
                        segment = id,
                        bytes = size - from,
                        "cutting off a conversation record torn by a crash"
                    );
                    file.set_len(from).map_err(write_err)?;
                    at = from;
                    break;
                }
                Walked::Unreadable(from) => {
                    tracing::warn!(
                        segment = id,
                        bytes = size - from,
                        "skipping the unreadable end of a conversations segment"
                    );
                    at = size;
                }
            }
        }
        self.segments.insert(
            id,
            Segment {
                file: Arc::new(file),
                end: at,
            },
        );
        Ok(())
    }

    fn start_segment(&mut self, dir: &Path, id: u32) -> Result<(), StoreError> {
        // The background flush only syncs the newest segment: the one it replaces goes to disk
        // now.
        if !self.segments.is_empty() {
            self.sync()?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(segment_path(dir, id))
            .map_err(write_err)?;
        // The new file's name must survive a crash as much as what is written into it.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(write_err)?;
        self.segments.insert(
            id,
            Segment {
                file: Arc::new(file),
                end: 0,
            },
        );
        self.active = id;
        Ok(())
    }

    /// Encodes a record and appends it; returns where it starts.
    fn append_record(
        &mut self,
        dir: &Path,
        kind: u8,
        key: &str,
        value: &[u8],
    ) -> Result<Addr, StoreError> {
        let mut buf = std::mem::take(&mut self.buf);
        let appended = encode(&mut buf, kind, key, value).and_then(|()| self.append(dir, &buf));
        self.buf = buf;
        appended
    }

    /// Appends an encoded record to the newest segment; returns where it starts.
    fn append(&mut self, dir: &Path, record: &[u8]) -> Result<Addr, StoreError> {
        if self.segments[&self.active].end + record.len() as u64 > SEGMENT_BYTES {
            self.start_segment(dir, self.active + 1)?;
        }
        let s = self
            .segments
            .get_mut(&self.active)
            .expect("the active segment");
        // A failed write (a full disk) leaves `end` where it was: the next record overwrites
        // whatever part of this one reached the file.
        s.file.write_all_at(record, s.end).map_err(write_err)?;
        let at = addr(self.active, s.end as u32);
        s.end += record.len() as u64;
        self.written.0 += 1;
        self.written.1 += record.len() as u64;
        self.dirty = true;
        Ok(at)
    }

    fn remove(&mut self, dir: &Path, key: &str) -> Result<(), StoreError> {
        let fp = fingerprint(key.as_bytes());
        let Some(&old) = self.index.get(&fp) else {
            return Ok(());
        };
        self.append_record(dir, DELETE, key, &[])?;
        self.index.remove(&fp);
        // The state itself leaves the disk now, not at the next compaction: an erased record
        // of the same length takes its place.
        let (segment, offset) = split(old);
        if let Some(s) = self.segments.get(&segment) {
            let mut head = [0u8; HEADER];
            read_at_most(&s.file, &mut head, u64::from(offset))?;
            let body = body_len(&head);
            if (2..=MAX_BODY).contains(&body) {
                let mut erased = Vec::with_capacity(HEADER + body);
                encode(&mut erased, ERASED, "", &vec![0; body - 2])?;
                s.file
                    .write_all_at(&erased, u64::from(offset))
                    .map_err(write_err)?;
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        if self.dirty {
            self.segments[&self.active]
                .file
                .sync_data()
                .map_err(write_err)?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Whether the files hold more than twice what is live.
    fn wasteful(&self) -> bool {
        let average = self.written.1.checked_div(self.written.0).unwrap_or(128);
        let live = self.index.len() as u64 * average;
        let disk: u64 = self.segments.values().map(|s| s.end).sum();
        disk > COMPACT_FLOOR && disk > 2 * live && self.segments.len() > 1
    }

    /// One bounded step of compaction: the live records of the next stretch of the oldest
    /// segment are copied to the newest; an emptied segment is deleted (after what was copied
    /// out of it is on disk).
    fn compact_some(&mut self, dir: &Path) -> Result<(), StoreError> {
        if !self.wasteful() {
            return Ok(());
        }
        // Not the newest (`active`): `wasteful` asks for two segments at least.
        let (&oldest, s) = self.segments.iter().next().expect("segments");
        let (file, end) = (s.file.clone(), s.end);
        self.compact_at = walk(&file, self.compact_at, end, WALK_STEP, |r, at| {
            let fp = fingerprint(r.key);
            if r.kind == PUT && self.index.get(&fp) == Some(&addr(oldest, at as u32)) {
                let to = self.append(dir, r.raw)?;
                self.index.insert(fp, to);
            }
            Ok(true)
        })?
        .next(end);
        if self.compact_at >= end {
            // What moved must be durable before the only other copy goes.
            self.dirty = true;
            self.sync()?;
            self.segments.remove(&oldest);
            std::fs::remove_file(segment_path(dir, oldest)).map_err(write_err)?;
            self.compact_at = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::stamp;

    /// Changes the bytes of the first segment as a crash or a bad disk would.
    fn alter_first_segment(dir: &Path, change: impl FnOnce(&mut Vec<u8>)) {
        let seg = segment_path(dir, 0);
        let mut bytes = std::fs::read(&seg).unwrap();
        change(&mut bytes);
        std::fs::write(&seg, &bytes).unwrap();
    }

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{:032x}", i * 7919)).collect()
    }

    #[test]
    fn what_is_put_is_got_back_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let ks = keys(500);
        {
            let log = ConversationLog::open(dir.path()).unwrap();
            for (i, k) in ks.iter().enumerate() {
                log.put(k, &stamp(i as u64, format!("state {i}").as_bytes()))
                    .unwrap();
            }
            // A second version of some, and a deleted one.
            log.put(&ks[3], &stamp(9, b"newer")).unwrap();
            log.remove(&ks[4]).unwrap();
            assert_eq!(log.get(&ks[3]).unwrap(), Some(stamp(9, b"newer")));
        }
        let log = ConversationLog::open(dir.path()).unwrap();
        assert_eq!(log.len(), 499);
        assert_eq!(log.get(&ks[3]).unwrap(), Some(stamp(9, b"newer")));
        assert_eq!(log.get(&ks[4]).unwrap(), None);
        assert_eq!(log.get(&ks[7]).unwrap(), Some(stamp(7, b"state 7")));
        assert_eq!(log.get("never stored").unwrap(), None);
    }

    #[test]
    fn a_record_torn_by_a_crash_is_cut_off_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = ConversationLog::open(dir.path()).unwrap();
            log.put("a", &stamp(1, b"first")).unwrap();
            log.put("b", &stamp(2, b"second")).unwrap();
        }
        // Half of a third record, as a kill in the middle of the write would leave it.
        let seg = segment_path(dir.path(), 0);
        let whole = std::fs::metadata(&seg).unwrap().len();
        let mut rec = Vec::new();
        encode(&mut rec, PUT, "c", &stamp(3, b"third")).unwrap();
        alter_first_segment(dir.path(), |bytes| {
            bytes.extend_from_slice(&rec[..rec.len() / 2])
        });
        // Opened twice: the first opening cuts the tail, the second finds it cut.
        for _ in 0..2 {
            let log = ConversationLog::open(dir.path()).unwrap();
            assert_eq!(log.get("a").unwrap(), Some(stamp(1, b"first")));
            assert_eq!(log.get("b").unwrap(), Some(stamp(2, b"second")));
            assert_eq!(log.get("c").unwrap(), None);
        }
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), whole);
    }

    #[test]
    fn a_damaged_record_inside_the_log_loses_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = ConversationLog::open(dir.path()).unwrap();
            for k in ["a", "b", "c"] {
                log.put(k, &stamp(1, k.as_bytes())).unwrap();
            }
        }
        let second = HEADER + 2 + 1 + 9;
        alter_first_segment(dir.path(), |bytes| bytes[second + HEADER + 4] ^= 0xff);
        let log = ConversationLog::open(dir.path()).unwrap();
        assert_eq!(log.get("a").unwrap(), Some(stamp(1, b"a")));
        assert_eq!(log.get("b").unwrap(), None);
        assert_eq!(log.get("c").unwrap(), Some(stamp(1, b"c")));
    }

    #[test]
    fn a_record_damaged_under_a_running_process_starts_that_conversation_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let log = ConversationLog::open(dir.path()).unwrap();
        log.put("a", &stamp(1, b"first")).unwrap();
        log.put("b", &stamp(1, b"other")).unwrap();
        alter_first_segment(dir.path(), |bytes| bytes[HEADER + 3] ^= 0xff);
        assert_eq!(log.get("a").unwrap(), None);
        assert_eq!(log.get("b").unwrap(), Some(stamp(1, b"other")));
        log.put("a", &stamp(2, b"again")).unwrap();
        assert_eq!(log.get("a").unwrap(), Some(stamp(2, b"again")));
    }

    #[test]
    fn short_runs_go_on_in_the_same_file() {
        // A `chat` or a `reports export` a day for years must not leave a file (and a file
        // descriptor at the next start) each.
        let dir = tempfile::tempdir().unwrap();
        for run in 0..20u64 {
            let log = ConversationLog::open(dir.path()).unwrap();
            if run % 2 == 0 {
                log.put(&format!("user{run}"), &stamp(run, b"s")).unwrap();
            }
        }
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 1);
        let log = ConversationLog::open(dir.path()).unwrap();
        assert_eq!(log.len(), 10);
        assert_eq!(log.get("user18").unwrap(), Some(stamp(18, b"s")));
    }

    #[test]
    fn a_forgotten_state_leaves_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let log = ConversationLog::open(dir.path()).unwrap();
        log.put("k", &stamp(1, b"SECRET-LOOKING-STATE")).unwrap();
        log.remove("k").unwrap();
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            assert!(!bytes.windows(20).any(|w| w == b"SECRET-LOOKING-STATE"));
        }
        assert_eq!(log.get("k").unwrap(), None);
    }

    #[test]
    fn rewriting_the_same_conversations_keeps_the_files_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let ks = keys(2_000);
        let state = vec![7u8; 900];
        let log = ConversationLog::open(dir.path()).unwrap();
        // ~180 MiB written over 2,000 conversations of ~1 KiB: compaction must keep up.
        for round in 0..100u64 {
            for k in &ks {
                log.put(k, &stamp(round, &state)).unwrap();
            }
        }
        let disk: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(disk < 2 * COMPACT_FLOOR, "{disk} bytes on disk");
        drop(log);
        let log = ConversationLog::open(dir.path()).unwrap();
        assert_eq!(log.len(), ks.len());
        for k in &ks {
            assert_eq!(log.get(k).unwrap(), Some(stamp(99, &state)), "{k}");
        }
    }

    #[test]
    fn expiry_walks_the_log_in_steps_and_forgets_only_old_conversations() {
        let dir = tempfile::tempdir().unwrap();
        let ks = keys(300);
        let log = ConversationLog::open(dir.path()).unwrap();
        for (i, k) in ks.iter().enumerate() {
            log.put(k, &stamp(i as u64 % 3, b"s")).unwrap();
        }
        // Renewed: the old record of this one must not make it expire.
        log.put(&ks[0], &stamp(5, b"s")).unwrap();
        let (mut forgotten, mut cursor, mut steps) = (0, None, 0);
        loop {
            let (n, next) = log.expire_step(2, cursor.as_deref(), 7).unwrap();
            forgotten += n;
            steps += 1;
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert!(steps > 300 / 7, "{steps}");
        assert_eq!(forgotten, 199);
        assert_eq!(log.len(), 101);
        assert!(log.get(&ks[0]).unwrap().is_some());
        assert!(log.get(&ks[2]).unwrap().is_some());
        assert!(log.get(&ks[1]).unwrap().is_none());
    }
}
