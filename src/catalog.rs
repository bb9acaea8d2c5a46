//! The knowledge of the product, loaded from the TOML files in `intents/` (compiled into the
//! binary, or read from `--intents DIR`) and compiled once into [`Patterns`] (see `patterns`).
//!
//! In: TOML text per file. Out: a validated [`Catalog`] — intents with their patterns, dialogue
//! nodes with Chinese and English replies, scam signals and contexts, notices, aliases — or every
//! problem found, each naming its file and entry ([`CatalogErrors`]).
//!
//! Structure is checked here (syntax, regexes, ids, translations, sources). Behaviour (examples
//! classify as labelled, no reply asks for a secret) is checked by [`crate::engine::Engine::audit`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::normalize::Normalizer;
pub use crate::patterns::{Compiled, Owner, Patterns};
use crate::Lang;

/// The intent ids other tools depend on (DESIGN.md). A catalog without one of them is refused.
pub const REQUIRED_INTENTS: &[&str] = &[
    "self_unblock",
    "unblock_helper_rules",
    "assist_friend",
    "permanent_ban",
    "appeal",
    "payment_restricted",
    "account_recovery",
    "account_deletion",
    "miniprogram_appeal",
    "penalty_explanation",
    "report_scam",
    "share_secret",
    "greeting",
    "thanks",
    "human_handoff",
    "out_of_scope",
];

/// Nodes and texts the engine itself refers to.
const REQUIRED_NODES: &[&str] = &["menu", "clarify", "scam_detected", "report_recorded"];
const REQUIRED_NOTICES: &[&str] = &[
    "safety",
    "fee",
    "secret",
    "page_wins",
    "not_recorded",
    "recorded",
];
const REQUIRED_TEXTS: &[&str] = &[
    "reasons_header",
    "restart",
    "back_empty",
    "language_set",
    "still_here",
    "invalid_choice",
    "answer_here",
    "no_choices",
    // The messaging-app frontend's.
    "start",
    "help",
    "privacy",
    "forgotten",
    "rate_limited",
    "unavailable",
    "lang_prompt",
    "group_warning",
    "group_deleted",
    "guard_on",
    "guard_off",
    "guard_admins_only",
];

/// A text in both languages.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    #[serde(default)]
    pub zh: String,
    #[serde(default)]
    pub en: String,
}

impl Texts {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }
    fn missing(&self) -> Option<&'static str> {
        if self.zh.trim().is_empty() {
            Some("Chinese (zh)")
        } else if self.en.trim().is_empty() {
            Some("English (en)")
        } else {
            None
        }
    }
}

// ---- the file format -------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    aliases: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    macros: BTreeMap<String, String>,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    commands: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    notice: BTreeMap<String, Texts>,
    #[serde(default)]
    text: BTreeMap<String, Texts>,
    #[serde(default)]
    intent: Vec<IntentDoc>,
    #[serde(default)]
    node: Vec<NodeDoc>,
    #[serde(default)]
    signal: Vec<SignalDoc>,
    #[serde(default)]
    context: Vec<ContextDoc>,
    #[serde(default)]
    scam: Option<ScamDoc>,
    #[serde(default)]
    dialogue: Option<DialogueDoc>,
    /// Follow-up topics (`how_long`, `materials`…): what a next message asks about, whatever
    /// the flow, as patterns. A flow answers a topic by naming a step in `followups`. When a
    /// message asks about several, the one listed first is answered.
    #[serde(default)]
    followup: Vec<FollowupDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowupDoc {
    topic: String,
    patterns: Vec<String>,
}

/// How a conversation goes on, whatever the flow.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DialogueDoc {
    /// A message that only asks how to go on (`然后呢`, `看不懂`, `what now`): said at a step
    /// with choices, the step is shown again instead of "out of scope".
    #[serde(default)]
    stay: Vec<String>,
    /// A message that asks something (`吗`, `怎么`, `?`, `how`…): in report mode a clean one is
    /// the person's question, answered, not recorded as the scam.
    #[serde(default)]
    question: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntentDoc {
    id: String,
    #[serde(default)]
    entry: Option<String>,
    #[serde(default)]
    label: Texts,
    #[serde(default)]
    strong: Vec<String>,
    #[serde(default)]
    weak: Vec<String>,
    #[serde(default)]
    veto: Vec<String>,
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    negatives: Vec<String>,
    #[serde(default)]
    deflect: bool,
    #[serde(default)]
    courtesy: bool,
    #[serde(default)]
    routes: Vec<RouteDoc>,
    /// Topic → the step of this flow that answers it, asked anywhere in the flow.
    #[serde(default)]
    followups: BTreeMap<String, String>,
    /// Intents whose messages, said in this flow, are this flow's follow-ups when one of its
    /// follow-ups applies (`申诉多久` at a mini program's appeal is the mini program's).
    #[serde(default)]
    absorbs: Vec<String>,
    /// A word of the message kept for the flow's texts (`{platform}`: the app the user names).
    #[serde(default)]
    capture: Option<CaptureDoc>,
    /// The contract intent (DESIGN.md) this finer one is reported as, in classify, eval and
    /// the API's `intent` (`scam_victim` counts as `report_scam`).
    #[serde(default)]
    counts_as: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaptureDoc {
    slot: String,
    pattern: String,
    /// Said in the texts when the message named none.
    fallback: Texts,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteDoc {
    when: Vec<String>,
    next: String,
    #[serde(default)]
    from: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeDoc {
    id: String,
    #[serde(default)]
    zh: String,
    #[serde(default)]
    en: String,
    #[serde(default)]
    choices: Vec<ChoiceDoc>,
    #[serde(default)]
    sensitive: bool,
    #[serde(default = "yes")]
    factual: bool,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    report_mode: bool,
    #[serde(default)]
    set: BTreeMap<String, String>,
    /// Topic → the step that answers it when asked at this node (before the flow's own).
    #[serde(default)]
    followups: BTreeMap<String, String>,
    /// A message said here that is for nothing else shows this step again instead of "out of
    /// scope" (the victim's steps: whatever a frightened person asks next).
    #[serde(default)]
    holds: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChoiceDoc {
    next: String,
    zh: String,
    en: String,
    #[serde(default)]
    set: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalDoc {
    name: String,
    weight: f32,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default)]
    negatable: bool,
    #[serde(default)]
    fee: bool,
    #[serde(default)]
    generic: bool,
    #[serde(default)]
    forbidden_in_replies: bool,
    #[serde(default)]
    zh: String,
    #[serde(default)]
    en: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextDoc {
    name: String,
    factor: f32,
    /// The highest score a message can keep when this context holds.
    #[serde(default)]
    ceiling: Option<f32>,
    patterns: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScamDoc {
    scam_at: f32,
    suspicious_at: f32,
    negations: Vec<String>,
    /// Phrases that hold a negation word and deny nothing after them (`别担心`, `不用等`).
    #[serde(default)]
    not_negating: Vec<String>,
    official_domains: Vec<String>,
    #[serde(default)]
    link_claims: Vec<String>,
    /// The learned model's scam probability at which `similar_to_known_scams` fires.
    #[serde(default = "default_learned_at")]
    learned_at: f32,
    /// … and at which it is sure enough to make a scam verdict alone.
    #[serde(default = "default_learned_sure")]
    learned_sure: f32,
}

fn default_learned_at() -> f32 {
    0.6
}

fn default_learned_sure() -> f32 {
    0.85
}

// ---- the compiled catalog --------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Intent {
    pub id: String,
    pub entry: Option<String>,
    pub label: Texts,
    pub examples: Vec<String>,
    pub negatives: Vec<String>,
    /// A confident answer from this intent's entry node fully answers a routine ticket.
    pub deflect: bool,
    /// Words that accompany a request ("thanks", "hello"): the intent answers only when no
    /// other intent has enough for an answer ("怎么注销微信 谢谢" is a deletion question).
    pub courtesy: bool,
    /// Intents whose messages said in this flow are its follow-ups when one applies.
    pub absorbs: Vec<String>,
    pub capture: Option<Capture>,
    /// The contract intent it is reported as, when it is a finer one of the catalog's own.
    pub counts_as: Option<String>,
}

/// A word of a message kept in a slot when the intent's flow is entered; its texts say it as
/// `{slot}`.
#[derive(Debug, Clone)]
pub struct Capture {
    pub slot: String,
    pub pattern: regex::Regex,
    pub fallback: Texts,
}

/// A more precise place in an intent's flow than its entry: taken when one of its patterns
/// fires and the message is for that intent, or carries on the flow the user is in ("人脸识别一直
/// 失败" → the face-check node; "还是不行" after the steps → the appeal).
#[derive(Debug, Clone)]
pub struct Route {
    /// The intent whose flow it belongs to.
    pub intent: usize,
    pub next: String,
    /// The nodes the user must be at (any node when empty).
    pub from: Vec<String>,
    /// Taken when this follow-up topic is asked (the route has no patterns of its own).
    pub topic: Option<usize>,
    /// Among routes that apply, the lowest wins: 0 a route with its own patterns, 1 a node's
    /// follow-up, 2 a flow's.
    pub rank: u8,
}

#[derive(Debug, Clone)]
pub struct Choice {
    pub next: String,
    pub label: Texts,
    pub set: BTreeMap<String, String>,
    /// Both labels normalised once at load, so a typed-out choice is matched without
    /// normalising every label on every turn.
    pub keys: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    /// A message for nothing else said here shows the step again, not "out of scope".
    pub holds: bool,
    pub text: Texts,
    pub choices: Vec<Choice>,
    pub sensitive: bool,
    pub sources: Vec<String>,
    pub report_mode: bool,
    pub set: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct SignalDef {
    pub name: String,
    pub weight: f32,
    pub negatable: bool,
    pub fee: bool,
    /// Common in ordinary ads and chat (prices, "DM me"): counts only when the message is about
    /// accounts — some non-generic signal fired, or a zero-weight topic signal did.
    pub generic: bool,
    pub forbidden_in_replies: bool,
    pub explain: Texts,
}

#[derive(Debug, Clone)]
pub struct ContextDef {
    pub name: String,
    pub factor: f32,
    pub ceiling: Option<f32>,
}

/// Words looked for together: whether a text holds any of them is one search.
#[derive(Debug, Clone)]
pub struct WordSet {
    finder: aho_corasick::AhoCorasick,
    /// Phrases in which a word of the set does not count (`别担心` for `别`).
    except: Option<aho_corasick::AhoCorasick>,
}

/// How far (in bytes) a phrase of [`WordSet`]'s exceptions may reach on either side of a word.
const EXCEPT_REACH: usize = 24;

impl WordSet {
    pub fn new(words: Vec<String>) -> Result<WordSet, aho_corasick::BuildError> {
        WordSet::except(words, Vec::new())
    }

    /// A set whose words do not count inside one of `phrases`.
    pub fn except(
        words: Vec<String>,
        phrases: Vec<String>,
    ) -> Result<WordSet, aho_corasick::BuildError> {
        let except = if phrases.is_empty() {
            None
        } else {
            Some(
                aho_corasick::AhoCorasick::builder()
                    .match_kind(aho_corasick::MatchKind::Standard)
                    .build(&phrases)?,
            )
        };
        Ok(WordSet {
            finder: aho_corasick::AhoCorasick::new(&words)?,
            except,
        })
    }

    /// Whether one of the words stands in `text[range]`, other than a one-character word
    /// between a character and its repeat (`要不要`, `收不收`, `有没有` ask a question and deny
    /// nothing) and a word inside one of the exceptions.
    pub fn any_in(&self, text: &str, range: std::ops::Range<usize>) -> bool {
        self.finder
            .find_iter(aho_corasick::Input::new(text).range(range))
            .any(|m| {
                let word = &text[m.range()];
                let asks = word.chars().nth(1).is_none() && {
                    let before = text[..m.start()].chars().next_back();
                    before.is_some() && before == text[m.end()..].chars().next()
                };
                !asks && !self.excepted(text, m.range())
            })
    }

    /// Whether `text[word]` lies inside one of the exceptions.
    fn excepted(&self, text: &str, word: std::ops::Range<usize>) -> bool {
        let Some(except) = &self.except else {
            return false;
        };
        // Phrases are whole characters, so a search from inside a character finds none there.
        let near =
            word.start.saturating_sub(EXCEPT_REACH)..(word.end + EXCEPT_REACH).min(text.len());
        except
            .find_overlapping_iter(aho_corasick::Input::new(text).range(near))
            .any(|p| p.start() <= word.start && word.end <= p.end())
    }
}

#[derive(Debug, Clone)]
pub struct ScamSettings {
    pub scam_at: f32,
    pub suspicious_at: f32,
    pub negations: WordSet,
    pub official_domains: Vec<String>,
    pub link_claims: Vec<String>,
    pub learned_at: f32,
    pub learned_sure: f32,
    /// The signals computed in code (`lookalike_link`, `known_contact`,
    /// `similar_to_known_scams`), when the catalog defines them: found once at load, not by
    /// name on every message.
    pub lookalike_link: Option<usize>,
    pub known_contact: Option<usize>,
    pub learned: Option<usize>,
}

/// A set of patterns as loading gathers them: compiled, as written, and whose each is.
type Gathered = (Vec<Compiled>, Vec<Arc<str>>, Vec<Owner>);

#[derive(Debug, Clone)]
pub struct Catalog {
    pub normalizer: Normalizer,
    pub intents: Vec<Intent>,
    pub nodes: HashMap<String, Node>,
    pub signals: Vec<SignalDef>,
    pub contexts: Vec<ContextDef>,
    pub scam: ScamSettings,
    pub notices: HashMap<String, Texts>,
    pub texts: HashMap<String, Texts>,
    /// Command word (normalised) → command name (`menu`, `back`, `restart`, `lang_zh`, `lang_en`).
    pub commands: HashMap<String, String>,
    pub routes: Vec<Route>,
    pub patterns: Patterns,
    /// The routes' patterns, apart: only a turn that may take a route reads them, not every
    /// analysis (`classify` has no use for them).
    pub route_patterns: Patterns,
    /// The follow-up topics' names (`Owner::Topic` indexes them).
    pub topics: Vec<String>,
}

/// One problem in the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogError {
    pub file: String,
    pub entry: String,
    pub message: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entry.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.entry, self.message)
        }
    }
}

/// Every problem found, so a support lead fixes them in one go.
#[derive(Debug, Clone, thiserror::Error)]
pub struct CatalogErrors(pub Vec<CatalogError>);

impl fmt::Display for CatalogErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the intent catalog has {} problem(s):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        write!(f, "fix them and run `safepath check` again")
    }
}

include!(concat!(env!("OUT_DIR"), "/shipped_catalog.rs"));

impl Catalog {
    /// The catalog compiled into the binary from `intents/`.
    pub fn shipped() -> Result<Catalog, CatalogErrors> {
        Catalog::from_sources(
            SHIPPED
                .iter()
                .map(|(name, text)| (name.to_string(), text.to_string())),
        )
    }

    /// Every `*.toml` file of a directory.
    pub fn from_dir(dir: &Path) -> Result<Catalog, CatalogErrors> {
        let fail = |message: String| {
            CatalogErrors(vec![CatalogError {
                file: dir.display().to_string(),
                entry: String::new(),
                message,
            }])
        };
        let entries = std::fs::read_dir(dir)
            .map_err(|e| fail(format!("cannot read the intents directory: {e}")))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| fail(e.to_string()))?.path();
            if path.extension().is_some_and(|x| x == "toml") {
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let bytes =
                    std::fs::read(&path).map_err(|e| fail(format!("cannot read {name}: {e}")))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| fail(format!("{name} is not valid UTF-8")))?;
                files.push((name, text));
            }
        }
        if files.is_empty() {
            return Err(fail("no .toml files in the intents directory".into()));
        }
        files.sort();
        Catalog::from_sources(files)
    }

    /// Parses, validates and compiles (file name, TOML text) pairs.
    pub fn from_sources(
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Catalog, CatalogErrors> {
        let mut errs = Vec::new();
        let mut docs = Vec::new();
        for (name, text) in files {
            match toml::from_str::<FileDoc>(&text) {
                Ok(doc) => docs.push((name, doc)),
                Err(e) => errs.push(CatalogError {
                    file: name,
                    entry: String::new(),
                    message: e.to_string().trim().replace('\n', " "),
                }),
            }
        }
        let mut b = Builder::default();
        for (file, doc) in &docs {
            b.collect(file, doc);
        }
        for (file, doc) in docs {
            b.compile(&file, doc);
        }
        errs.append(&mut b.errs);
        let catalog = b.finish(&mut errs);
        match catalog {
            Some(c) if errs.is_empty() => Ok(c),
            _ => Err(CatalogErrors(errs)),
        }
    }

    pub fn notice(&self, id: &str, lang: Lang) -> &str {
        self.notices
            .get(id)
            .map(|t| t.get(lang))
            .unwrap_or_default()
    }

    pub fn text(&self, id: &str, lang: Lang) -> &str {
        self.texts.get(id).map(|t| t.get(lang)).unwrap_or_default()
    }

    pub fn intent(&self, id: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| i.id == id)
    }

    /// The contract intent (DESIGN.md) an intent of the catalog is reported as: itself, or the
    /// one a finer intent `counts_as`.
    pub fn public_id<'a>(&'a self, id: &'a str) -> &'a str {
        self.intent(id)
            .and_then(|i| i.counts_as.as_deref())
            .unwrap_or(id)
    }
}

/// Accumulates the files into one catalog, recording every problem on the way.
#[derive(Default)]
struct Builder {
    errs: Vec<CatalogError>,
    macros: BTreeMap<String, String>,
    aliases: Vec<(String, String)>,
    sources: HashSet<String>,
    intents: Vec<Intent>,
    nodes: HashMap<String, (String, Node)>,
    signals: Vec<SignalDef>,
    contexts: Vec<ContextDef>,
    scam: Option<ScamSettings>,
    notices: HashMap<String, Texts>,
    texts: HashMap<String, Texts>,
    commands: HashMap<String, String>,
    routes: Vec<Route>,
    topics: Vec<String>,
    /// Nodes' follow-ups: (file, node, topic, next); their flow is known once every intent is.
    node_followups: Vec<(String, String, usize, String)>,
    pats: Vec<(String, Owner, String, String)>, // (pattern, owner, file, entry)
}

impl Builder {
    fn err(&mut self, file: &str, entry: &str, message: impl Into<String>) {
        self.errs.push(CatalogError {
            file: file.into(),
            entry: entry.into(),
            message: message.into(),
        });
    }

    /// First pass: the tables every pattern may use (macros, aliases, sources).
    fn collect(&mut self, file: &str, doc: &FileDoc) {
        for (k, v) in &doc.macros {
            if self.macros.insert(k.clone(), v.clone()).is_some() {
                self.err(file, &format!("macro `{k}`"), "defined twice");
            }
        }
        for (canonical, variants) in &doc.aliases {
            for v in variants {
                self.aliases.push((v.clone(), canonical.clone()));
            }
        }
        self.sources.extend(doc.sources.iter().cloned());
        for FollowupDoc { topic, patterns } in &doc.followup {
            if self.topics.contains(topic) {
                self.err(file, &format!("follow-up `{topic}`"), "defined twice");
                continue;
            }
            for p in patterns {
                let owner = Owner::Topic(self.topics.len());
                self.pats.push((
                    p.clone(),
                    owner,
                    file.into(),
                    format!("follow-up `{topic}`"),
                ));
            }
            self.topics.push(topic.clone());
        }
    }

    fn capture(&mut self, file: &str, entry: &str, c: CaptureDoc) -> Option<Capture> {
        self.check_texts(file, &format!("{entry} capture fallback"), &c.fallback);
        let pattern = self
            .expand(&c.pattern)
            .and_then(|p| regex::Regex::new(&p).map_err(|e| e.to_string()));
        match pattern {
            Ok(pattern) => Some(Capture {
                slot: c.slot,
                pattern,
                fallback: c.fallback,
            }),
            Err(e) => {
                self.err(file, entry, format!("capture pattern `{}`: {e}", c.pattern));
                None
            }
        }
    }

    /// A follow-up topic's number; an unknown name is an error.
    fn topic(&mut self, file: &str, entry: &str, name: &str) -> Option<usize> {
        let t = self.topics.iter().position(|t| t == name);
        if t.is_none() {
            self.err(
                file,
                entry,
                format!("unknown follow-up topic `{name}` (known: the `[followup]` table)"),
            );
        }
        t
    }

    fn compile(&mut self, file: &str, doc: FileDoc) {
        for (name, words) in doc.commands {
            for w in words {
                self.commands.insert(w.trim().to_lowercase(), name.clone());
            }
        }
        for (id, t) in doc.notice {
            self.check_texts(file, &format!("notice `{id}`"), &t);
            self.notices.insert(id, t);
        }
        for (id, t) in doc.text {
            self.check_texts(file, &format!("text `{id}`"), &t);
            self.texts.insert(id, t);
        }
        if let Some(s) = doc.scam {
            if self.scam.is_some() {
                self.err(file, "[scam]", "defined in two files");
            }
            let negations = WordSet::except(s.negations, s.not_negating).unwrap_or_else(|e| {
                self.err(file, "[scam]", format!("negations: {e}"));
                WordSet::new(Vec::new()).expect("no words build an automaton")
            });
            self.scam = Some(ScamSettings {
                scam_at: s.scam_at,
                suspicious_at: s.suspicious_at,
                negations,
                official_domains: s.official_domains,
                link_claims: s.link_claims,
                learned_at: s.learned_at,
                learned_sure: s.learned_sure,
                lookalike_link: None,
                known_contact: None,
                learned: None,
            });
        }
        let dialogue = doc.dialogue.unwrap_or_default();
        for p in dialogue.stay {
            self.pats
                .push((p, Owner::Stay, file.into(), "[dialogue] stay".into()));
        }
        for p in dialogue.question {
            self.pats.push((
                p,
                Owner::Question,
                file.into(),
                "[dialogue] question".into(),
            ));
        }
        for i in doc.intent {
            let entry = format!("intent `{}`", i.id);
            if self.intents.iter().any(|x| x.id == i.id) {
                self.err(file, &entry, "defined twice");
            }
            if i.id != "out_of_scope" && i.strong.is_empty() && i.weak.is_empty() {
                self.err(file, &entry, "has no patterns (`strong` or `weak`)");
            }
            self.check_texts(file, &format!("{entry} label"), &i.label);
            let n = self.intents.len();
            for (list, owner) in [
                (&i.strong, Owner::Strong(n)),
                (&i.weak, Owner::Weak(n)),
                (&i.veto, Owner::Veto(n)),
            ] {
                for p in list {
                    self.pats
                        .push((p.clone(), owner, file.into(), entry.clone()));
                }
            }
            for r in i.routes {
                if r.when.is_empty() {
                    self.err(
                        file,
                        &entry,
                        format!("route to `{}` has no `when` patterns", r.next),
                    );
                }
                for p in r.when {
                    let owner = Owner::Route(self.routes.len());
                    self.pats.push((p, owner, file.into(), entry.clone()));
                }
                self.routes.push(Route {
                    intent: n,
                    next: r.next,
                    from: r.from,
                    topic: None,
                    rank: 0,
                });
            }
            for (topic, next) in i.followups {
                if let Some(t) = self.topic(file, &entry, &topic) {
                    self.routes.push(Route {
                        intent: n,
                        next,
                        from: Vec::new(),
                        topic: Some(t),
                        rank: 2,
                    });
                }
            }
            let capture = i.capture.and_then(|c| self.capture(file, &entry, c));
            self.intents.push(Intent {
                id: i.id,
                entry: i.entry,
                label: i.label,
                examples: i.examples,
                negatives: i.negatives,
                deflect: i.deflect,
                courtesy: i.courtesy,
                absorbs: i.absorbs,
                capture,
                counts_as: i.counts_as,
            });
        }
        for s in doc.signal {
            let entry = format!("signal `{}`", s.name);
            let explain = Texts { zh: s.zh, en: s.en };
            if s.weight > 0.0 {
                self.check_texts(file, &entry, &explain);
            }
            let n = self.signals.len();
            for p in s.patterns {
                self.pats
                    .push((p, Owner::Signal(n), file.into(), entry.clone()));
            }
            self.signals.push(SignalDef {
                name: s.name,
                weight: s.weight,
                negatable: s.negatable,
                fee: s.fee,
                generic: s.generic,
                forbidden_in_replies: s.forbidden_in_replies,
                explain,
            });
        }
        for c in doc.context {
            let entry = format!("context `{}`", c.name);
            if !(0.0..=1.0).contains(&c.factor) {
                self.err(file, &entry, "factor must be between 0 and 1");
            }
            let n = self.contexts.len();
            for p in c.patterns {
                self.pats
                    .push((p, Owner::Context(n), file.into(), entry.clone()));
            }
            self.contexts.push(ContextDef {
                name: c.name,
                factor: c.factor,
                ceiling: c.ceiling,
            });
        }
        for n in doc.node {
            let entry = format!("node `{}`", n.id);
            let text = Texts { zh: n.zh, en: n.en };
            self.check_texts(file, &entry, &text);
            if n.factual && n.sources.is_empty() {
                self.err(
                    file,
                    &entry,
                    "states facts but names no `sources` (or mark it `factual = false`)",
                );
            }
            for s in &n.sources {
                if !self.sources.contains(s) {
                    self.err(
                        file,
                        &entry,
                        format!("unknown source `{s}` (known: the `sources` list)"),
                    );
                }
            }
            let mut choices = Vec::new();
            for c in n.choices {
                let label = Texts { zh: c.zh, en: c.en };
                self.check_texts(file, &format!("{entry} choice → {}", c.next), &label);
                choices.push(Choice {
                    next: c.next,
                    label,
                    set: c.set,
                    keys: Vec::new(),
                });
            }
            for (topic, next) in n.followups {
                if let Some(t) = self.topic(file, &entry, &topic) {
                    self.node_followups
                        .push((file.into(), n.id.clone(), t, next));
                }
            }
            let node = Node {
                holds: n.holds,
                id: n.id.clone(),
                text,
                choices,
                sensitive: n.sensitive,
                sources: n.sources,
                report_mode: n.report_mode,
                set: n.set,
            };
            if self.nodes.insert(n.id, (file.into(), node)).is_some() {
                self.err(file, &entry, "defined twice");
            }
        }
    }

    fn check_texts(&mut self, file: &str, entry: &str, t: &Texts) {
        if let Some(lang) = t.missing() {
            self.err(file, entry, format!("the {lang} text is missing"));
        }
    }

    /// Expands `{macro}` references, each as one group, macros inside macros too; an unknown
    /// name, or a macro that uses itself, is an error.
    fn expand(&self, pattern: &str) -> Result<String, String> {
        self.expand_within(pattern, 0)
    }

    fn expand_within(&self, pattern: &str, depth: usize) -> Result<String, String> {
        const DEEPEST: usize = 8;
        if depth > DEEPEST {
            return Err(format!(
                "macros nested more than {DEEPEST} deep (does one use itself?)"
            ));
        }
        let mut out = String::with_capacity(pattern.len());
        let mut rest = pattern;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close)
                    if after[..close]
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_')
                        && close > 0 =>
                {
                    let name = &after[..close];
                    let body = self
                        .macros
                        .get(name)
                        .ok_or_else(|| format!("unknown macro `{{{name}}}`"))?;
                    // One group, whatever the body: `a.{0,9}{fail}` must not become
                    // `a.{0,9}x|y`.
                    out.push_str("(?:");
                    out.push_str(&self.expand_within(body, depth + 1)?);
                    out.push(')');
                    rest = &after[close + 1..];
                }
                _ => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn finish(mut self, errs: &mut Vec<CatalogError>) -> Option<Catalog> {
        const ALL: &str = "catalog";
        let normalizer = match Normalizer::new(&self.aliases) {
            Ok(n) => Some(n),
            Err(e) => {
                self.err(ALL, "[aliases]", e.to_string());
                None
            }
        };
        for id in REQUIRED_INTENTS {
            if !self.intents.iter().any(|i| i.id == *id) {
                self.err(
                    ALL,
                    &format!("intent `{id}`"),
                    "is required (DESIGN.md) but missing",
                );
            }
        }
        for id in REQUIRED_NODES {
            if !self.nodes.contains_key(*id) {
                self.err(ALL, &format!("node `{id}`"), "is required but missing");
            }
        }
        for id in REQUIRED_NOTICES {
            if !self.notices.contains_key(*id) {
                self.err(ALL, &format!("notice `{id}`"), "is required but missing");
            }
        }
        for id in REQUIRED_TEXTS {
            if !self.texts.contains_key(*id) {
                self.err(ALL, &format!("text `{id}`"), "is required but missing");
            }
        }
        let mut dangling = Vec::new();
        for (file, node) in self.nodes.values() {
            for c in &node.choices {
                if !self.nodes.contains_key(&c.next) {
                    dangling.push((file.clone(), format!("node `{}`", node.id), c.next.clone()));
                }
            }
        }
        for i in &self.intents {
            if let Some(e) = &i.entry {
                if !self.nodes.contains_key(e) {
                    dangling.push(("catalog".into(), format!("intent `{}`", i.id), e.clone()));
                }
            } else if i.id != "out_of_scope" && i.id != "share_secret" && i.id != "report_scam" {
                dangling.push((
                    "catalog".into(),
                    format!("intent `{}`", i.id),
                    "(no entry)".into(),
                ));
            }
        }
        for (file, node, topic, next) in std::mem::take(&mut self.node_followups) {
            // A node belongs to the flow of the intent whose entry its id begins with.
            let root = node.split('.').next().unwrap_or_default();
            match self
                .intents
                .iter()
                .position(|i| i.entry.as_deref() == Some(root))
            {
                Some(intent) => self.routes.push(Route {
                    intent,
                    next,
                    from: vec![node],
                    topic: Some(topic),
                    rank: 1,
                }),
                None => self.err(
                    &file,
                    &format!("node `{node}` followups"),
                    format!("the node belongs to no flow (no intent's entry is `{root}`)"),
                ),
            }
        }
        let unknown: Vec<(String, String)> = self
            .intents
            .iter()
            .flat_map(|i| i.absorbs.iter().map(move |a| (i.id.clone(), a.clone())))
            .filter(|(_, a)| !self.intents.iter().any(|x| &x.id == a))
            .collect();
        let contract: Vec<(String, String)> = self
            .intents
            .iter()
            .filter_map(|i| Some((i.id.clone(), i.counts_as.clone()?)))
            .filter(|(_, c)| !REQUIRED_INTENTS.contains(&c.as_str()))
            .collect();
        for (id, c) in contract {
            self.err(
                ALL,
                &format!("intent `{id}`"),
                format!("counts as `{c}`, which is not one of the contract's intents (DESIGN.md)"),
            );
        }
        for (id, a) in unknown {
            self.err(
                ALL,
                &format!("intent `{id}`"),
                format!("absorbs unknown intent `{a}`"),
            );
        }
        for r in &self.routes {
            let entry = format!("intent `{}` route", self.intents[r.intent].id);
            for node in std::iter::once(&r.next).chain(&r.from) {
                if !self.nodes.contains_key(node) {
                    dangling.push(("catalog".into(), entry.clone(), node.clone()));
                }
            }
        }
        for (file, entry, next) in dangling {
            self.err(&file, &entry, format!("leads to unknown node `{next}`"));
        }
        if self.scam.is_none() {
            self.err(ALL, "[scam]", "the scam settings table is missing");
        }
        // Patterns: expand macros, bring to the normaliser's form, compile each and then the set.
        let han_aliases: Vec<(String, String)> = self
            .aliases
            .iter()
            .filter(|(v, _)| !v.is_ascii())
            .cloned()
            .collect();
        // The analysis's patterns, and the routes' (with the dialogue's `stay`).
        let mut sets: [Gathered; 2] = Default::default();
        let pats = std::mem::take(&mut self.pats);
        for (p, owner, file, entry) in pats {
            let expanded = match self.expand(&p) {
                // ASCII word boundaries: a Unicode `\b` keeps the fast lazy DFA off any message
                // with Chinese in it, which costs a hundredfold.
                Ok(x) => fast2s::convert(&x).replace(r"\b", r"(?-u:\b)"),
                Err(e) => {
                    self.err(&file, &entry, format!("pattern `{p}`: {e}"));
                    continue;
                }
            };
            if let Some((v, c)) = han_aliases
                .iter()
                .find(|(v, _)| expanded.contains(v.as_str()))
            {
                self.err(&file, &entry, format!("pattern `{p}` contains `{v}` (perhaps through a macro), which the normaliser rewrites to `{c}`: write `{c}`"));
                continue;
            }
            match Patterns::compile(&expanded) {
                Ok(c) => {
                    let set = &mut sets[usize::from(matches!(
                        owner,
                        Owner::Route(_) | Owner::Topic(_) | Owner::Stay | Owner::Question
                    ))];
                    set.0.push(c);
                    set.1.push(p.into());
                    set.2.push(owner);
                }
                Err(e) => {
                    let msg = e.to_string().replace('\n', " ");
                    self.err(&file, &entry, format!("bad regex `{p}`: {msg}"));
                }
            }
        }
        let [patterns, route_patterns] = sets.map(|(each, sources, owners)| {
            Patterns::new(each, sources, owners)
                .map_err(|e| self.err(ALL, "patterns", e))
                .ok()
        });
        errs.append(&mut self.errs);
        let normalizer = normalizer?;
        for (_, node) in self.nodes.values_mut() {
            for c in &mut node.choices {
                c.keys = [&c.label.zh, &c.label.en]
                    .iter()
                    .map(|l| normalizer.normalize(l).text)
                    .collect();
            }
        }
        let mut scam = self.scam?;
        let builtin = |name: &str| self.signals.iter().position(|s| s.name == name);
        scam.lookalike_link = builtin("lookalike_link");
        scam.known_contact = builtin("known_contact");
        scam.learned = builtin("similar_to_known_scams");
        Some(Catalog {
            normalizer,
            intents: self.intents,
            nodes: self.nodes.into_iter().map(|(k, (_, n))| (k, n)).collect(),
            signals: self.signals,
            contexts: self.contexts,
            scam,
            notices: self.notices,
            texts: self.texts,
            commands: self.commands,
            routes: self.routes,
            patterns: patterns?,
            route_patterns: route_patterns?,
            topics: self.topics,
        })
    }
}
