//! The session: one turn of one user's conversation, over any [`Store`].
//!
//! In: a channel, a user id, a message. Out: the [`Reply`]. On the way it hashes the user id with
//! the store's salt (the raw id is never stored), loads the user's versioned state (an old,
//! unknown or damaged record starts a fresh conversation rather than failing; an idle one
//! expires), runs the pure engine, durably appends a report when one is due (and only then says
//! "recorded"), counts the contacts the report names, and saves the new state.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::dialogue::{Command, State};
use crate::engine::{Analysis, Engine, Turn, MAX_MESSAGE_BYTES};
use crate::guard::SecretKind;
use crate::limit::Rate;
use crate::metrics::Metrics;
use crate::reply::Reply;
use crate::report::Report;
use crate::scam::Indicator;
use crate::store::{Store, StoreError};
use crate::Lang;

/// The version of the stored state this binary writes (its first byte); it also reads versions
/// 1, 2 and 3.
pub const STATE_VERSION: u8 = 4;
/// Default idle time after which a conversation is forgotten: 7 days.
pub const DEFAULT_IDLE_SECS: u64 = 7 * 24 * 3600;

/// Runs blocking session work (store I/O) off an async frontend's threads; `None` if it panicked
/// (logged).
pub async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(error = %e, "a session task failed");
            None
        }
    }
}

/// Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Unix seconds.
pub fn now() -> u64 {
    now_ms() / 1000
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is too long ({0} bytes; the limit is {MAX_MESSAGE_BYTES})")]
    TooLong(usize),
    #[error("too many messages; try again in {} s", .0.div_ceil(1000))]
    RateLimited(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stored conversation in the format of version 1, `{"v": 1, "state": {…}}`: still read, so
/// conversations in progress survive an upgrade; no longer written.
#[derive(Deserialize)]
struct Envelope<S> {
    v: u32,
    state: S,
}

/// Encodes a state as stored: the version byte, then the state in postcard (varint lengths and
/// integers, no field names). A typical conversation takes ~70 bytes instead of ~190 in JSON:
/// the store's files are 40% smaller, and 32 MiB of sled's cache holds 100,000 active users
/// (BENCHMARKS.md). It does not lower sled's fixed cost per stored conversation.
pub fn encode_state(state: &State) -> Result<Vec<u8>, StoreError> {
    postcard::to_extend(state, vec![STATE_VERSION]).map_err(|e| StoreError::Write(e.to_string()))
}

/// Decodes a stored state of this version or of version 1 (JSON); `None` for anything else: an
/// unknown version, a damaged record, trailing bytes.
pub fn decode_state(bytes: &[u8]) -> Option<State> {
    match bytes.split_first()? {
        (&STATE_VERSION, rest) => match postcard::take_from_bytes(rest) {
            Ok((state, [])) => Some(state),
            _ => None,
        },
        // Versions 2 and 3 are version 4 without its last fields (`awaiting_secret`, then
        // `traditional`): postcard writes fields in order, and `None` and `false` as a zero
        // byte each.
        (&old @ (2 | 3), rest) => {
            let missing = usize::from(STATE_VERSION - old);
            let mut v4 = Vec::with_capacity(rest.len() + missing);
            v4.extend_from_slice(rest);
            v4.resize(rest.len() + missing, 0);
            match postcard::take_from_bytes(&v4) {
                Ok((state, [])) => Some(state),
                _ => None,
            }
        }
        (b'{', _) => serde_json::from_slice::<Envelope<State>>(bytes)
            .ok()
            .filter(|e| e.v == 1)
            .map(|e| e.state),
        _ => None,
    }
}

/// The first 16 bytes of a digest, in hex: the form of user keys and report dedup keys.
fn hex16(digest: &[u8]) -> String {
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Session {
    engine: Arc<Engine>,
    store: Arc<dyn Store>,
    salt: Vec<u8>,
    idle_secs: u64,
    rate: Option<Rate>,
    metrics: Arc<Metrics>,
}

/// Largest stored state per user; a bigger one (which bounded history and slots should never
/// produce) is saved with its history and slots dropped.
pub const MAX_STATE_BYTES: usize = 16 * 1024;

impl Session {
    pub fn new(
        engine: Arc<Engine>,
        store: Arc<dyn Store>,
        idle_secs: u64,
    ) -> Result<Session, StoreError> {
        let salt = store.salt()?;
        Ok(Session {
            engine,
            store,
            salt,
            idle_secs,
            rate: None,
            metrics: Arc::default(),
        })
    }

    /// Sets the per-user flood limit (`None`, the default: no limit).
    pub fn with_rate(mut self, rate: Option<Rate>) -> Session {
        self.rate = rate;
        self
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Takes a token from bucket `key` at `rate`; `Err(RateLimited)` when it is empty. A store
    /// that cannot answer lets the message through: flood control must not silence everyone.
    pub fn allow(&self, channel: &str, key: &str, rate: Rate) -> Result<(), SessionError> {
        match self.store.take_token(key, rate, now_ms()) {
            Ok(None) => Ok(()),
            Ok(Some(wait)) => {
                self.metrics.rate_limited(channel);
                Err(SessionError::RateLimited(wait))
            }
            Err(e) => {
                self.metrics.store_error();
                tracing::warn!(error = %e, "rate-limit bucket unavailable");
                Ok(())
            }
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The salted hash a user is stored under.
    pub fn user_key(&self, channel: &str, user: &str) -> String {
        let mut h = Sha256::new();
        h.update(&self.salt);
        h.update(channel.as_bytes());
        h.update([0]);
        h.update(user.as_bytes());
        hex16(&h.finalize())
    }

    fn load(&self, key: &str, now: u64) -> Result<State, StoreError> {
        let Some(bytes) = self.store.load_state(key)? else {
            return Ok(State::default());
        };
        let state = decode_state(&bytes);
        match state {
            Some(s) if now.saturating_sub(s.updated) <= self.idle_secs => Ok(s),
            Some(_) => Ok(State::default()),
            None => {
                tracing::warn!("a stored conversation could not be read; starting it afresh");
                Ok(State::default())
            }
        }
    }

    fn save(&self, key: &str, state: &State) -> Result<(), StoreError> {
        let mut bytes = encode_state(state)?;
        if bytes.len() > MAX_STATE_BYTES {
            let trimmed = State {
                history: Vec::new(),
                slots: Default::default(),
                ..state.clone()
            };
            bytes = encode_state(&trimmed)?;
        }
        self.store.save_state(key, &bytes)
    }

    /// The analysis of a message, with the reputation of the contacts it names.
    pub fn analyze(&self, text: &str) -> Analysis {
        self.analyze_in(text, None)
    }

    /// The same, in a conversation that expects a secret (see [`State::awaiting_secret`]).
    fn analyze_in(&self, text: &str, expecting: Option<SecretKind>) -> Analysis {
        self.engine
            .analyze_in(text, expecting, |inds: &[Indicator]| {
                let keys: Vec<String> = inds.iter().map(|i| i.key()).collect();
                match self.store.reputation(&keys) {
                    Ok(reps) => inds
                        .iter()
                        .cloned()
                        .zip(reps.into_iter().map(|r| r.count))
                        .collect(),
                    Err(e) => {
                        tracing::warn!(error = %e, "reputation lookup failed");
                        Vec::new()
                    }
                }
            })
    }

    pub fn check_text(text: &str) -> Result<(), SessionError> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(SessionError::TooLong(text.len()));
        }
        if text.trim().is_empty() {
            return Err(SessionError::Empty);
        }
        Ok(())
    }

    /// One turn. `forwarded`: the message was forwarded from elsewhere.
    pub fn turn(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        forwarded: bool,
    ) -> Result<Reply, SessionError> {
        Self::check_text(text)?;
        self.step(channel, user, |state| {
            let analysis = self.analyze_in(text, state.awaiting_secret);
            let turn = self.engine.respond(state, &analysis, forwarded);
            (analysis, turn)
        })
    }

    /// A frontend command (menu, restart, language, straight to a node) as a turn. `hint`: the
    /// language the user's app is set to, used while the conversation has none.
    pub fn command(
        &self,
        channel: &str,
        user: &str,
        command: Command,
        hint: Option<Lang>,
    ) -> Result<Reply, SessionError> {
        self.step(channel, user, |state| {
            let mut state = state.clone();
            state.lang = state.lang.or(hint);
            let blank = self.engine.analyze("");
            let turn = self.engine.command(&state, &blank, command);
            (blank, turn)
        })
    }

    /// Flood control, load, the engine's turn, the report it calls for, save.
    fn step(
        &self,
        channel: &str,
        user: &str,
        run: impl FnOnce(&State) -> (Analysis, Turn),
    ) -> Result<Reply, SessionError> {
        let key = self.user_key(channel, user);
        if let Some(rate) = self.rate {
            self.allow(channel, &key, rate)?;
        }
        let now = now();
        let state = self.load(&key, now)?;
        let (analysis, turn) = run(&state);
        let (reply, mut state) = self.conclude(channel, &key, &analysis, turn, now);
        state.updated = now;
        if let Err(e) = self.save(&key, &state) {
            self.metrics.store_error();
            tracing::error!(error = %e, "a conversation step could not be saved");
        }
        Ok(reply)
    }

    /// The language a user's conversation is in, once known.
    pub fn lang_known(&self, channel: &str, user: &str) -> Option<Lang> {
        self.load(&self.user_key(channel, user), now())
            .ok()
            .and_then(|s| s.lang)
    }

    /// Seconds of silence after which a conversation is forgotten.
    pub fn idle_secs(&self) -> u64 {
        self.idle_secs
    }

    /// A support-desk ticket: one message answered on a fresh conversation, nothing kept but a
    /// report when the ticket is a scam. `lang` fixes the reply language.
    pub fn ticket(&self, id: &str, text: &str, lang: Option<Lang>) -> Result<Reply, SessionError> {
        self.ticket_in(id, text, lang, true)
            .expect("a ticket that may use the store always answers")
    }

    /// The same ticket, answered only when it needs no store: no contact in it whose reputation
    /// must be looked up, no report due (`None` then: call [`Session::ticket`]). Most tickets
    /// need none, and an async frontend answers them on its own thread instead of handing each
    /// to a blocking one.
    pub fn ticket_without_store(
        &self,
        id: &str,
        text: &str,
        lang: Option<Lang>,
    ) -> Option<Result<Reply, SessionError>> {
        self.ticket_in(id, text, lang, false)
    }

    fn ticket_in(
        &self,
        id: &str,
        text: &str,
        lang: Option<Lang>,
        store: bool,
    ) -> Option<Result<Reply, SessionError>> {
        if let Err(e) = Self::check_text(text) {
            return Some(Err(e));
        }
        let analysis = if store {
            self.analyze(text)
        } else {
            let mut contacts = false;
            let a = self.engine.analyze_with(text, |_| {
                contacts = true;
                Vec::new()
            });
            if contacts {
                return None;
            }
            a
        };
        let state = State {
            lang,
            lang_locked: lang.is_some(),
            ..State::default()
        };
        let turn = self.engine.respond(&state, &analysis, false);
        if turn.report && !store {
            return None;
        }
        let key = self.user_key("ticket", id);
        let (reply, _) = self.conclude("ticket", &key, &analysis, turn, now());
        if reply.deflectable {
            self.metrics.deflection();
        }
        Some(Ok(reply))
    }

    /// Records the report a turn calls for (and says whether it was), counts and logs the turn.
    fn conclude(
        &self,
        channel: &str,
        key: &str,
        analysis: &Analysis,
        turn: Turn,
        now: u64,
    ) -> (Reply, State) {
        let mut reply = turn.reply;
        if turn.report {
            let lang = turn.state.lang.unwrap_or(Lang::Zh);
            let notice = match self.record(channel, key, analysis, None, now) {
                Ok(_) => "recorded",
                Err(e) => {
                    tracing::error!(error = %e, "a report could not be recorded");
                    reply.reported = false;
                    "not_recorded"
                }
            };
            reply
                .notices
                .insert(0, self.engine.catalog().notice(notice, lang).to_owned());
            reply.urgent += 1;
        }
        self.metrics.reply(channel, &reply);
        tracing::debug!(
            channel,
            intent = %reply.intent,
            verdict = reply.scam.verdict.name(),
            node = %reply.node,
            secrets = reply.secrets.len(),
            reported = reply.reported,
            "turn"
        );
        (reply, turn.state)
    }

    /// Appends a report for an analysed message (durable before it returns). Returns its id and
    /// whether it is new (the same user reporting the same text again is not duplicated).
    pub fn record(
        &self,
        channel: &str,
        user_key: &str,
        a: &Analysis,
        note: Option<String>,
        now: u64,
    ) -> Result<(u64, bool), StoreError> {
        let mut h = Sha256::new();
        h.update(user_key.as_bytes());
        h.update([0]);
        h.update(a.redacted.as_bytes());
        let dedup = hex16(&h.finalize());
        let report = Report {
            id: 0,
            time: now,
            channel: channel.into(),
            user: user_key.into(),
            text: a.redacted.clone(),
            verdict: a.scam.verdict,
            score: a.scam.score,
            signals: a.scam.signals.clone(),
            indicators: a.scam.indicators.clone(),
            note,
        };
        let (id, new) = self.store.append_report(&dedup, report).inspect_err(|_| {
            self.metrics.store_error();
        })?;
        if new {
            self.metrics.report(channel);
            let keys: Vec<String> = a
                .scam
                .indicators
                .iter()
                .filter(|i| i.kind.is_contact())
                .map(|i| i.key())
                .collect();
            if !keys.is_empty() {
                self.store.bump(&keys, now)?;
            }
        }
        Ok((id, new))
    }

    /// Deletes everything kept about a user's conversation.
    pub fn forget(&self, channel: &str, user: &str) -> Result<(), StoreError> {
        self.store.delete_user(&self.user_key(channel, user))
    }

    /// Forgets conversations idle for longer than the configured time.
    pub fn expire_idle(&self) -> Result<usize, StoreError> {
        self.store
            .expire_states(now().saturating_sub(self.idle_secs))
    }

    /// Sweeps idle conversations for as long as the process runs, `per_second` at a time, from
    /// a background thread: a long-running frontend never reads the whole store at once. An
    /// idle conversation is already treated as new when its user comes back; the sweep only
    /// gives the space back.
    pub fn sweep_in_background(self: &Arc<Self>, per_second: usize) {
        let session = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("sweep".into())
            .spawn(move || {
                let mut cursor: Option<String> = None;
                let mut forgotten = 0;
                // A store that keeps failing (a full disk) is reported once, not every second.
                let mut failing = false;
                while let Some(s) = session.upgrade() {
                    let before = now().saturating_sub(s.idle_secs);
                    match s
                        .store
                        .expire_states_step(before, cursor.as_deref(), per_second)
                    {
                        Ok((n, next)) => {
                            if failing {
                                tracing::info!("sweeping idle conversations works again");
                                failing = false;
                            }
                            forgotten += n;
                            if next.is_none() && forgotten > 0 {
                                tracing::info!(forgotten, "forgot idle conversations");
                                forgotten = 0;
                            }
                            cursor = next;
                        }
                        Err(e) if !failing => {
                            tracing::warn!(error = %e, "sweeping idle conversations failed; retrying every second");
                            failing = true;
                        }
                        Err(_) => {}
                    }
                    drop(s);
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread to sweep idle conversations");
        }
    }
}
