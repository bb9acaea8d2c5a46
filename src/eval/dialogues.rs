//! `safepath eval --dialogues DIR`: whole conversations as data, scored turn by turn.
//!
//! In: a directory of JSON-lines files, one conversation a line:
//! `{"id", "lang", "category", "source", "note", "turns": [{"say", "forwarded", "expect": {…}}]}`.
//! Only `turns` and each turn's `say` are required; of a turn's expectations, what is given is
//! what is checked (see [`Expect`]). Each conversation is played through a real [`Session`] on
//! its own fresh store in a scratch directory, so no conversation sees another's state, reports
//! or contact reputation. Out: [`DialogueScores`] — turn accuracy, how many conversations had no
//! failed turn, how many never fell out of scope where they should not have, overall and per
//! file, category and language, and which checks failed how often.
//!
//! It measures; it does not judge what the right answer is. The expectations are written by
//! people from the source documents, and may name intents and nodes the catalog does not have
//! yet (proposals); those are listed apart, so a typo is not mistaken for a proposal unseen.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::dialogue::Command;
use crate::engine::Engine;
use crate::intent::OUT_OF_SCOPE;
use crate::reply::Reply;
use crate::session::{Session, SessionError, DEFAULT_IDLE_SECS};
use crate::store::{SledStore, StoreError};
use crate::Lang;

/// The channel the conversations are played on.
const CHANNEL: &str = "dialogues";

/// One name, or any of several.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum OneOf {
    One(String),
    Any(Vec<String>),
}

impl OneOf {
    fn names(&self) -> &[String] {
        match self {
            OneOf::One(s) => std::slice::from_ref(s),
            OneOf::Any(v) => v,
        }
    }

    fn admits(&self, got: &str) -> bool {
        self.names().iter().any(|n| n == got)
    }

    fn shown(&self) -> String {
        self.names().join(" | ")
    }
}

/// What one turn's reply must show. Every field is optional; an absent field is not checked.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    /// The intent the reply answers (one, or any of a list).
    pub intent: Option<OneOf>,
    /// The dialogue node shown (one, or any of a list).
    pub node: Option<OneOf>,
    /// Nodes the reply must not be.
    pub not_node: Vec<String>,
    /// `true`: the reply is not the "out of scope" answer.
    pub not_out_of_scope: Option<bool>,
    /// Texts the rendered reply (notices, text, choices) must contain; an entry that is a list is
    /// satisfied by any of its texts.
    pub reply_contains: Vec<OneOf>,
    /// Texts the rendered reply must not contain.
    pub reply_lacks: Vec<String>,
    /// Whether the message was recorded as a scam report.
    pub recorded: Option<bool>,
    /// The language the conversation is answered in after this turn (`zh` or `en`).
    pub lang: Option<Lang>,
    /// Kinds of secret found and hidden in the message (`verification_code`, `password`, …);
    /// `[]` requires none.
    pub secrets: Option<Vec<String>>,
    /// The scam verdict on the message: `scam`, `suspicious` or `clean`.
    pub verdict: Option<String>,
}

/// One turn as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TurnSpec {
    /// What the person sends. `/report`, `/menu`, `/cancel` and `/start` are sent as the
    /// messaging-app frontend sends them (a command, not text); anything else is a message.
    pub say: String,
    /// The message was forwarded from elsewhere.
    #[serde(default)]
    pub forwarded: bool,
    #[serde(default)]
    pub expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: Option<String>,
    lang: Option<String>,
    category: Option<String>,
    source: Option<String>,
    #[allow(dead_code)] // for the people who read and write the files
    note: Option<String>,
    turns: Vec<TurnSpec>,
}

/// One conversation, read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: String,
    /// The file's name without `.jsonl`.
    pub file: String,
    /// As given, else the file's name.
    pub category: String,
    /// The language the person writes in (`zh`, `en`, `zh-Hant`, `yue`…); `-` when not given.
    pub lang: String,
    pub source: Option<String>,
    pub turns: Vec<TurnSpec>,
}

/// Reads one file; an error names the file and line. `file` is its name without `.jsonl`.
pub fn read(file: &str, content: &str) -> Result<Vec<Conversation>, String> {
    let mut out = Vec::new();
    let name = format!("{file}.jsonl");
    for (at, raw) in super::numbered_lines(&name, content) {
        let line: Line = serde_json::from_str(raw).map_err(|e| format!("{at}: {e}"))?;
        if line.turns.is_empty() {
            return Err(format!("{at}: a conversation needs at least one turn"));
        }
        if let Some(t) = line.turns.iter().find(|t| t.say.trim().is_empty()) {
            return Err(format!("{at}: an empty `say` ({:?})", t.say));
        }
        out.push(Conversation {
            id: line.id.unwrap_or(at),
            file: file.to_owned(),
            category: line.category.unwrap_or_else(|| file.to_owned()),
            lang: line.lang.unwrap_or_else(|| "-".into()),
            source: line.source,
            turns: line.turns,
        });
    }
    Ok(out)
}

/// Reads every `*.jsonl` file of a directory, in name order; ids must be unique across them.
pub fn read_dir(dir: &Path) -> Result<Vec<Conversation>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{}: no *.jsonl dialogue files", dir.display()));
    }
    let mut out = Vec::new();
    for path in files {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.extend(read(&stem, &text)?);
    }
    let mut seen = HashSet::new();
    if let Some(dup) = out.iter().find(|c| !seen.insert(c.id.as_str())) {
        return Err(format!(
            "{}: the id `{}` is used twice",
            dir.display(),
            dup.id
        ));
    }
    Ok(out)
}

/// One expectation a reply did not meet.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    /// The expectation's field name.
    pub check: &'static str,
    pub want: String,
    pub got: String,
}

/// A turn that failed at least one check.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailedTurn {
    pub conversation: String,
    /// 1-based.
    pub turn: usize,
    pub say: String,
    pub node: String,
    pub intent: String,
    pub failures: Vec<Failure>,
}

/// Counts for a group of conversations.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Figures {
    pub conversations: usize,
    /// Conversations with no failed turn.
    pub succeeded: usize,
    /// Conversations where no reply was the "out of scope" answer, except at a turn that
    /// expected it.
    pub in_scope: usize,
    /// Turns with at least one expectation.
    pub turns: usize,
    pub turns_passed: usize,
    /// Of those, the turns after the first: the follow-ups (issue #29: the second message).
    pub followups: usize,
    pub followups_passed: usize,
    pub turn_accuracy: f64,
    pub followup_accuracy: f64,
    pub success_rate: f64,
    pub in_scope_rate: f64,
}

impl Figures {
    fn add(&mut self, c: &Played) {
        self.conversations += 1;
        self.succeeded += usize::from(c.turns == c.passed);
        self.in_scope += usize::from(c.in_scope);
        self.turns += c.turns;
        self.turns_passed += c.passed;
        self.followups += c.followups;
        self.followups_passed += c.followups_passed;
    }

    fn finish(&mut self) {
        self.turn_accuracy = ratio(self.turns_passed, self.turns);
        self.followup_accuracy = ratio(self.followups_passed, self.followups);
        self.success_rate = ratio(self.succeeded, self.conversations);
        self.in_scope_rate = ratio(self.in_scope, self.conversations);
    }
}

/// What one conversation came to.
#[derive(Default)]
struct Played {
    turns: usize,
    passed: usize,
    followups: usize,
    followups_passed: usize,
    in_scope: bool,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// How often one kind of expectation was checked and failed.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct CheckCount {
    pub checked: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DialogueScores {
    pub overall: Figures,
    pub by_file: BTreeMap<String, Figures>,
    pub by_category: BTreeMap<String, Figures>,
    pub by_lang: BTreeMap<String, Figures>,
    pub checks: BTreeMap<&'static str, CheckCount>,
    /// Intents and nodes expected that the catalog does not have (proposals, or typos), with
    /// how many turns expect each.
    pub unknown_names: BTreeMap<String, usize>,
    /// Ids of the conversations with a failed turn.
    pub failed_conversations: Vec<String>,
    #[serde(skip)]
    pub failed_turns: Vec<FailedTurn>,
}

/// The intents and nodes the conversations expect that the catalog does not have (`intent x`,
/// `node y`), with how many turns expect each: proposals, or typos.
pub fn unknown_names(c: &Catalog, conversations: &[Conversation]) -> BTreeMap<String, usize> {
    let intents: BTreeSet<&str> = c.intents.iter().map(|i| i.id.as_str()).collect();
    let mut out = BTreeMap::new();
    for e in conversations
        .iter()
        .flat_map(|c| &c.turns)
        .map(|t| &t.expect)
    {
        for name in e.intent.iter().flat_map(|o| o.names()) {
            if !intents.contains(name.as_str()) {
                *out.entry(format!("intent {name}")).or_default() += 1;
            }
        }
        for name in e.node.iter().flat_map(|o| o.names()) {
            if !c.nodes.contains_key(name) {
                *out.entry(format!("node {name}")).or_default() += 1;
            }
        }
    }
    out
}

/// The command a frontend would send for a `say` written as one (`/report`), if it is one.
fn frontend_command(say: &str) -> Option<Command> {
    match say.trim() {
        "/report" => Some(Command::Goto("report_scam".into())),
        "/menu" | "/start" => Some(Command::Menu),
        "/cancel" => Some(Command::Restart),
        _ => None,
    }
}

/// Plays every conversation on its own store under `scratch` (created if missing; the caller
/// removes it) and scores the replies.
pub fn score(
    engine: &Arc<Engine>,
    conversations: &[Conversation],
    scratch: &Path,
) -> Result<DialogueScores, StoreError> {
    let c = engine.catalog();
    let oos_node = c
        .intent(OUT_OF_SCOPE)
        .and_then(|i| i.entry.clone())
        .unwrap_or_else(|| OUT_OF_SCOPE.into());
    let mut s = DialogueScores {
        unknown_names: unknown_names(c, conversations),
        ..DialogueScores::default()
    };
    for (n, conv) in conversations.iter().enumerate() {
        let store = SledStore::open(&scratch.join(n.to_string()))?;
        let session = Session::new(engine.clone(), Arc::new(store), DEFAULT_IDLE_SECS)?;
        let user = conv.id.as_str();
        let mut played = Played {
            in_scope: true,
            ..Played::default()
        };
        for (t, spec) in conv.turns.iter().enumerate() {
            let e = &spec.expect;
            let reply = match frontend_command(&spec.say) {
                Some(cmd) => session.command(CHANNEL, user, cmd, None),
                None => session.turn(CHANNEL, user, &spec.say, spec.forwarded),
            };
            let (node, intent, failures) = match reply {
                Ok(r) => {
                    let expected_oos = e.node.as_ref().is_some_and(|o| o.admits(&oos_node))
                        || e.intent.as_ref().is_some_and(|o| o.admits(OUT_OF_SCOPE));
                    if r.node == oos_node && !expected_oos {
                        played.in_scope = false;
                    }
                    let lang = session.lang_known(CHANNEL, user);
                    let f = check(e, &r, &oos_node, lang, &mut s.checks);
                    (r.node, r.intent, f)
                }
                Err(SessionError::Store(e)) => return Err(e),
                Err(err) => {
                    let f = Failure {
                        check: "say",
                        want: "a reply".into(),
                        got: err.to_string(),
                    };
                    (String::new(), String::new(), vec![f])
                }
            };
            if !failures.is_empty() {
                s.failed_turns.push(FailedTurn {
                    conversation: conv.id.clone(),
                    turn: t + 1,
                    say: spec.say.clone(),
                    node,
                    intent,
                    failures: failures.clone(),
                });
            }
            // A turn that could not be sent counts as failed, expected or not.
            if *e != Expect::default() || !failures.is_empty() {
                let ok = usize::from(failures.is_empty());
                played.turns += 1;
                played.passed += ok;
                if t > 0 {
                    played.followups += 1;
                    played.followups_passed += ok;
                }
            }
        }
        if played.turns != played.passed {
            s.failed_conversations.push(conv.id.clone());
        }
        for figures in [
            &mut s.overall,
            s.by_file.entry(conv.file.clone()).or_default(),
            s.by_category.entry(conv.category.clone()).or_default(),
            s.by_lang.entry(conv.lang.clone()).or_default(),
        ] {
            figures.add(&played);
        }
    }
    for f in std::iter::once(&mut s.overall)
        .chain(s.by_file.values_mut())
        .chain(s.by_category.values_mut())
        .chain(s.by_lang.values_mut())
    {
        f.finish();
    }
    Ok(s)
}

/// The expectations of one turn the reply does not meet; counts every check made.
fn check(
    e: &Expect,
    r: &Reply,
    oos_node: &str,
    lang: Option<Lang>,
    counts: &mut BTreeMap<&'static str, CheckCount>,
) -> Vec<Failure> {
    let mut out = Vec::new();
    let mut verdict = |check: &'static str, ok: bool, want: String, got: String| {
        let n = counts.entry(check).or_default();
        n.checked += 1;
        if !ok {
            n.failed += 1;
            out.push(Failure { check, want, got });
        }
    };
    if let Some(want) = &e.intent {
        verdict(
            "intent",
            want.admits(&r.intent) || want.admits(&r.flow),
            want.shown(),
            r.intent.clone(),
        );
    }
    if let Some(want) = &e.node {
        verdict("node", want.admits(&r.node), want.shown(), r.node.clone());
    }
    if !e.not_node.is_empty() {
        let ok = !e.not_node.contains(&r.node);
        verdict(
            "not_node",
            ok,
            format!("not {}", e.not_node.join(" | ")),
            r.node.clone(),
        );
    }
    if let Some(want) = e.not_out_of_scope {
        let got = r.node != oos_node;
        verdict(
            "not_out_of_scope",
            got == want,
            format!("not_out_of_scope {want}"),
            r.node.clone(),
        );
    }
    let plain = r.to_plain();
    // A fact is the same fact in either script: replies to someone writing traditional
    // characters are converted, so both sides are compared simplified.
    let simple = fast2s::convert(&plain);
    let has = |t: &str| simple.contains(fast2s::convert(t).as_str());
    for want in &e.reply_contains {
        let ok = want.names().iter().any(|t| has(t));
        verdict("reply_contains", ok, want.shown(), excerpt(&plain));
    }
    for bad in &e.reply_lacks {
        let ok = !has(bad);
        verdict("reply_lacks", ok, format!("no \"{bad}\""), excerpt(&plain));
    }
    if let Some(want) = e.recorded {
        verdict(
            "recorded",
            r.reported == want,
            want.to_string(),
            r.reported.to_string(),
        );
    }
    if let Some(want) = e.lang {
        let got = lang.map_or("-", Lang::code);
        verdict("lang", lang == Some(want), want.code().into(), got.into());
    }
    if let Some(want) = &e.secrets {
        let got: Vec<&str> = r.secrets.to_vec();
        let ok = want.len() == got.len() && want.iter().all(|w| got.contains(&w.as_str()));
        verdict("secrets", ok, want.join(","), got.join(","));
    }
    if let Some(want) = &e.verdict {
        let got = r.scam.verdict.name();
        verdict("verdict", want == got, want.clone(), got.into());
    }
    out
}

/// The start of a reply, on one line, for an error listing.
fn excerpt(text: &str) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut: String = one.chars().take(60).collect();
    if cut.len() < one.len() {
        cut.push('…');
    }
    cut
}

/// A rate to three places, or `-` when there was nothing to count.
fn rate(x: f64, of: usize) -> String {
    if of == 0 {
        "-".into()
    } else {
        format!("{x:.3}")
    }
}

fn row(f: &mut std::fmt::Formatter<'_>, name: &str, x: &Figures) -> std::fmt::Result {
    writeln!(
        f,
        "{name:28} {:>5} {:>8} {:>8} {:>6} {:>8} {:>9}",
        x.conversations,
        rate(x.success_rate, x.conversations),
        rate(x.in_scope_rate, x.conversations),
        x.turns,
        rate(x.turn_accuracy, x.turns),
        rate(x.followup_accuracy, x.followups)
    )
}

impl std::fmt::Display for DialogueScores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = &self.overall;
        writeln!(
            f,
            "turn accuracy {:.3} ({} of {} turns; follow-ups {:.3}, {} of {}), conversation success {:.3} ({} of {}), without an out-of-scope turn {:.3} ({} of {})",
            o.turn_accuracy, o.turns_passed, o.turns, o.followup_accuracy, o.followups_passed,
            o.followups, o.success_rate, o.succeeded, o.conversations, o.in_scope_rate,
            o.in_scope, o.conversations
        )?;
        for (title, groups) in [
            ("by category", &self.by_category),
            ("by file", &self.by_file),
            ("by language", &self.by_lang),
        ] {
            if groups.len() < 2 {
                continue;
            }
            writeln!(
                f,
                "{title:28} {:>5} {:>8} {:>8} {:>6} {:>8} {:>9}",
                "convs", "success", "in-scope", "turns", "turn-acc", "follow-up"
            )?;
            for (name, x) in groups {
                row(f, &format!("  {name}"), x)?;
            }
        }
        writeln!(f, "checks failed (of checked):")?;
        for (check, n) in &self.checks {
            writeln!(f, "  {check:18} {:4} of {:4}", n.failed, n.checked)?;
        }
        if !self.unknown_names.is_empty() {
            writeln!(
                f,
                "expected names not in the catalog (proposals, or typos):"
            )?;
            for (name, n) in &self.unknown_names {
                writeln!(f, "  {name:34} {n:4} turn(s)")?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for FailedTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "  [{} #{}] {:?} → {} ({}):",
            self.conversation, self.turn, self.say, self.node, self.intent
        )?;
        for x in &self.failures {
            write!(f, " {} want {}, got {};", x.check, x.want, x.got)?;
        }
        Ok(())
    }
}
