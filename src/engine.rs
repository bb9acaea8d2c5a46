//! The pure engine: the whole pipeline, no I/O. Built once from a [`Catalog`], `Send + Sync`.
//!
//! [`Engine::analyze`] runs normalise → guard → scam → intent on a message (stateless: what
//! `safepath classify` prints). [`Engine::respond`] takes a user's [`State`] and an [`Analysis`]
//! and returns the next state, the [`Reply`] and whether a report is due — the session stores
//! them. [`Engine::audit`] checks the catalog's behaviour: examples, negatives, and that no reply
//! asks for a code, a password or a payment.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::{Catalog, CatalogError, CatalogErrors, Node, Owner};
use crate::dialogue::{self, Command, Move, State};
use crate::guard::{self, SecretKind};
use crate::intent::{self, IntentResult};
use crate::model::{self, Model, ModelError, Models};
use crate::normalize::{detect_lang, detect_traditional};
use crate::reply::{ChoiceOut, Reply};
use crate::scam::{self, Indicator, ScamResult, Verdict};
use crate::Lang;

/// The intent of someone who already paid a scammer or gave away a code.
pub const VICTIM: &str = "scam_victim";
/// Confidence below which the bot asks instead of guessing.
pub const CLARIFY_BELOW: f32 = 0.45;
/// Confidence at or above which a ticket may be answered without a person.
pub const DEFLECT_AT: f32 = 0.7;
/// The fewest n-grams (about five characters) a message needs for the learned scam model to
/// speak.
const MIN_SCAM_FEATURES: usize = 12;
/// … and the learned intent model (three characters).
const MIN_INTENT_FEATURES: usize = 6;
/// Longest message accepted, in bytes; frontends refuse longer ones with a clear error.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Everything the pipeline found in one message. Holds no secret: `redacted` and `text` have
/// them replaced.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// The original message with secrets replaced: safe to store.
    pub redacted: String,
    /// Normalised and redacted: what the matchers read.
    pub text: String,
    pub lang: Option<Lang>,
    pub secrets: Vec<SecretKind>,
    /// The message names a secret it does not give (`验证码是`): the conversation remembers it
    /// for one turn, so the number sent next is read as that secret.
    pub expects: Option<SecretKind>,
    pub intent: IntentResult,
    pub scam: ScamResult,
}

/// What a turn produced.
#[derive(Debug, Clone)]
pub struct Turn {
    pub state: State,
    pub reply: Reply,
    /// The message should be appended to the scam-report log.
    pub report: bool,
}

/// Where a route takes a free message.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// On to another node, by a route of this intent.
    To(String, usize),
    /// Back to the node the user is at, shown again.
    Stay,
    /// A follow-up that the node the user is at answers: shown again, saying so.
    Here,
    /// Back to the step before the answer the user is at (out of scope, a clarifying question),
    /// shown again.
    Resume,
}

pub struct Engine {
    catalog: Catalog,
    /// The learned matcher; `None` runs the catalog alone.
    models: Option<Models>,
}

fn model_error(e: ModelError) -> CatalogErrors {
    CatalogErrors(vec![CatalogError {
        file: "model".into(),
        entry: String::new(),
        message: e.to_string(),
    }])
}

impl Engine {
    /// The engine over the catalog compiled into the binary. Its reply audit is not repeated at
    /// every start (it costs most of a second): `safepath check` and the test suite run it on the
    /// shipped catalog before it can be built into a release.
    pub fn shipped() -> Result<Engine, CatalogErrors> {
        Engine::shipped_with(Models::shipped().map_err(model_error)?)
    }

    /// The shipped catalog with other models (`None`: the catalog alone).
    pub fn shipped_with(models: Option<Models>) -> Result<Engine, CatalogErrors> {
        Ok(Engine {
            catalog: Catalog::shipped()?,
            models,
        })
    }

    /// Refuses a catalog whose replies ask for a secret or a payment. The shipped models come
    /// with it (their labels are matched to its intents by id).
    pub fn new(catalog: Catalog) -> Result<Engine, CatalogErrors> {
        Engine::new_with(catalog, Models::shipped().map_err(model_error)?)
    }

    /// [`Engine::new`] with other models.
    pub fn new_with(catalog: Catalog, models: Option<Models>) -> Result<Engine, CatalogErrors> {
        let engine = Engine { catalog, models };
        let errs = engine.audit_replies();
        if errs.is_empty() {
            Ok(engine)
        } else {
            Err(CatalogErrors(errs))
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The same engine with other models (`None`: the catalog alone).
    pub fn with_models(self, models: Option<Models>) -> Engine {
        Engine { models, ..self }
    }

    pub fn models(&self) -> Option<&Models> {
        self.models.as_ref()
    }

    /// Stateless analysis with no reputation data.
    pub fn analyze(&self, raw: &str) -> Analysis {
        self.analyze_with(raw, |_| Vec::new())
    }

    /// Analysis where `known` tells how often earlier reports named each contact found.
    pub fn analyze_with(
        &self,
        raw: &str,
        known: impl FnOnce(&[Indicator]) -> Vec<(Indicator, u64)>,
    ) -> Analysis {
        self.analyze_in(raw, None, known)
    }

    /// Analysis of a message in a conversation: `expecting` is what the previous message's
    /// analysis [expected](Analysis::expects) (`验证码是`, then `482913`).
    pub fn analyze_in(
        &self,
        raw: &str,
        expecting: Option<SecretKind>,
        known: impl FnOnce(&[Indicator]) -> Vec<(Indicator, u64)>,
    ) -> Analysis {
        let c = &self.catalog;
        let normalized = c.normalizer.normalize(raw);
        // Of what was written: the normalised text spells the app's name `微信` even in English.
        let lang = detect_lang(raw);
        let guarded = guard::guard(normalized, expecting);
        let matched: Vec<usize> = c.patterns.matches(&guarded.text);
        let features = self.models.as_ref().map(|_| model::features(&guarded.text));
        let learned = |m: &Model| m.predict(features.as_deref().unwrap_or_default());
        // A word or two is too little to judge a scam by its likeness ("解封" alone is not an ad).
        let scam_p = self
            .models
            .as_ref()
            .filter(|_| {
                features
                    .as_ref()
                    .is_some_and(|f| f.len() >= MIN_SCAM_FEATURES)
            })
            .map(|m| m.scam_probability(&learned(&m.scam)));
        let mut scam = scam::detect(c, &guarded.text, &matched, &[], scam_p);
        let contacts: Vec<Indicator> = scam
            .indicators
            .iter()
            .filter(|i| i.kind.is_contact())
            .cloned()
            .collect();
        if !contacts.is_empty() {
            let known = known(&contacts);
            if known.iter().any(|(_, n)| *n > 0) {
                scam = scam::detect(c, &guarded.text, &matched, &known, scam_p);
            }
        }
        let ranked = intent::rank(c, &matched);
        // Someone who already gave the code or paid is answered with the victim's steps first,
        // whatever else the message holds (the code itself, the scam's words).
        let victim = ranked
            .ranked
            .iter()
            .any(|r| r.intent == VICTIM && r.score >= intent::MIN_SCORE);
        let intent = if victim {
            IntentResult {
                intent: VICTIM.into(),
                confidence: 0.9,
                ..ranked
            }
        } else if !guarded.secrets.is_empty() {
            IntentResult::fixed("share_secret", 0.99)
        } else if scam.verdict == Verdict::Scam {
            IntentResult::fixed("report_scam", scam.score.max(0.9))
        } else {
            // A bare word (`解封`) is for the patterns, which ask which is meant.
            let ranked = match (&self.models, &features) {
                (Some(m), Some(f)) if f.len() >= MIN_INTENT_FEATURES => {
                    intent::fuse(c, ranked, &m.intents, || learned(&m.intents))
                }
                _ => ranked,
            };
            // The user tells of, or asks about, an offer that would itself be judged a scam;
            // a stranger's paid friend-verification request stays with the helping-a-friend flow.
            if scam.retold(c.scam.scam_at) && ranked.intent != "assist_friend" {
                IntentResult::fixed("report_scam", 0.8)
            } else {
                ranked
            }
        };
        Analysis {
            redacted: guarded.redacted,
            text: guarded.text,
            lang,
            secrets: guarded.secrets,
            expects: guarded.expects,
            intent,
            scam,
        }
    }

    /// One turn of the conversation. `forwarded`: the message was forwarded from elsewhere, so
    /// anything suspicious in it is worth a report.
    pub fn respond(&self, state: &State, a: &Analysis, forwarded: bool) -> Turn {
        let mv = dialogue::interpret(&self.catalog, state, &a.text);
        self.respond_to(state, a, forwarded, mv)
    }

    /// A frontend command as a turn; `a` is the analysis the turn reports (of an empty
    /// message: a command carries no text).
    pub fn command(&self, state: &State, a: &Analysis, command: Command) -> Turn {
        self.respond_to(state, a, false, Move::Command(command))
    }

    fn respond_to(&self, state: &State, a: &Analysis, forwarded: bool, mv: Move) -> Turn {
        let c = &self.catalog;
        let mut st = state.clone();
        st.awaiting_secret = a.expects;
        // Only what the user writes tells their language: `back`, `menu` or `2` do not, unless
        // nothing else has yet.
        if !st.lang_locked && (mv == Move::Free || st.lang.is_none()) {
            if let Some(l) = a.lang {
                st.lang = Some(l);
            }
        }
        if mv == Move::Free {
            if let Some(t) = detect_traditional(&a.redacted, |s| traditional().convert(s)) {
                st.traditional = t;
            }
        }
        let mut prefix: Option<String> = None;
        let mut report = false;
        let mut reasons = false;
        let mut routed = false;
        let mut answered: Option<String> = None; // the intent answered, when not the analysis's
        let mut offered: Option<Vec<(String, String)>> = None; // (next node, label) overrides
        let lang = |st: &State| st.lang.unwrap_or(Lang::Zh);
        let target: String = match mv {
            Move::Choice(i) => {
                let next = st.offered[i].clone();
                if let Some(choice) = st
                    .node
                    .as_ref()
                    .and_then(|n| c.nodes.get(n))
                    .and_then(|n| n.choices.iter().find(|ch| ch.next == next))
                {
                    dialogue::set_slots(&mut st, &choice.set);
                }
                next
            }
            Move::Invalid => {
                let l = lang(&st);
                prefix = Some(match st.offered.len() {
                    0 => c.text("no_choices", l).to_owned(),
                    n => c.text("invalid_choice", l).replace("{n}", &n.to_string()),
                });
                // The step again, its choices with it; with none on offer, where the user is.
                st.node.clone().unwrap_or_else(|| "menu".into())
            }
            Move::Command(Command::Menu) => "menu".into(),
            Move::Command(Command::Goto(node)) => node,
            Move::Command(Command::Restart) => {
                st = State {
                    lang: st.lang,
                    lang_locked: st.lang_locked,
                    ..State::default()
                };
                prefix = Some(c.text("restart", lang(&st)).to_owned());
                "menu".into()
            }
            Move::Command(Command::Back) => match dialogue::back(&mut st) {
                Some(prev) => prev,
                None => {
                    prefix = Some(c.text("back_empty", lang(&st)).to_owned());
                    "menu".into()
                }
            },
            Move::Command(Command::Lang(l)) => {
                st.lang = Some(l);
                st.lang_locked = true;
                prefix = Some(c.text("language_set", l).to_owned());
                st.node.clone().unwrap_or_else(|| "menu".into())
            }
            Move::Free => {
                let it = &a.intent;
                // Matched at most once a turn: the report check and the flow both ask.
                // The route patterns, matched at most once a turn (the route and the report
                // check's question both read them).
                let hits = std::cell::OnceCell::new();
                let hits = || hits.get_or_init(|| c.route_patterns.matches(&a.text));
                let found = std::cell::OnceCell::new();
                let route = || found.get_or_init(|| self.route(&st, a, hits())).clone();
                // The flow the user is in takes the message as its own before the general
                // answers to a secret or a scam.
                let absorbed = self.absorbed_here(&st, &it.intent) && route().is_some();
                if it.intent == VICTIM {
                    // The victim's steps; what the scam said is still recorded when it is one.
                    report = a.scam.verdict == Verdict::Scam;
                    match route() {
                        Some(Step::To(next, _)) => next,
                        _ => self.entry(VICTIM),
                    }
                } else if !absorbed
                    && st.awaiting_report
                    && is_the_report(route().is_some() || self.asks(hits()), a)
                {
                    report = true;
                    reasons = true;
                    "report_recorded".into()
                } else if !absorbed
                    && (it.intent == "share_secret"
                        || it.intent == "report_scam" && a.scam.verdict == Verdict::Scam)
                {
                    report = a.scam.verdict == Verdict::Scam;
                    reasons = report;
                    if report {
                        "scam_detected".into()
                    } else {
                        self.entry(&it.intent)
                    }
                } else if !absorbed && forwarded && a.scam.verdict != Verdict::Clean {
                    report = true;
                    reasons = true;
                    "scam_detected".into()
                } else if let Some(step) = route() {
                    routed = true;
                    // Taken by the flow the user is in (a victim telling more of the scam):
                    // what the scam said is still recorded when it is one.
                    report = absorbed && a.scam.verdict == Verdict::Scam;
                    match step {
                        Step::To(next, by) => {
                            // The model named an intent no pattern raised; the flow the user is
                            // in had a step for the message: that step's intent is the answer's.
                            if a.intent.learned {
                                answered = Some(c.intents[by].id.clone());
                            }
                            next
                        }
                        Step::Here => {
                            prefix = Some(c.text("answer_here", lang(&st)).to_owned());
                            st.node.clone().unwrap_or_else(|| "menu".into())
                        }
                        Step::Stay | Step::Resume => {
                            prefix = Some(c.text("still_here", lang(&st)).to_owned());
                            let shown = if step == Step::Resume {
                                dialogue::back(&mut st) // the detour is left off the way back
                            } else {
                                st.node.clone()
                            };
                            shown.unwrap_or_else(|| "menu".into())
                        }
                    }
                } else if it.intent != "out_of_scope" && it.confidence >= CLARIFY_BELOW {
                    self.entry(&it.intent)
                } else if it.ranked.first().is_some_and(|t| t.score > 0.0) {
                    offered = Some(
                        it.ranked
                            .iter()
                            .take(3)
                            .filter_map(|cand| {
                                let i = c.intent(&cand.intent)?;
                                Some((i.entry.clone()?, i.label.get(lang(&st)).to_owned()))
                            })
                            .collect(),
                    );
                    "clarify".into()
                } else if let Some(here) = st
                    .node
                    .clone()
                    .filter(|h| c.nodes.get(h).is_some_and(|n| n.holds))
                {
                    prefix = Some(c.text("still_here", lang(&st)).to_owned());
                    here
                } else {
                    self.entry("out_of_scope")
                }
            }
        };
        let node = c.nodes.get(&target).unwrap_or_else(|| &c.nodes["menu"]);
        let l = lang(&st);
        // Entering a flow from a message: the word its texts repeat (`{platform}`).
        let flow = answered.as_deref().unwrap_or(&a.intent.intent);
        if let Some(cap) = c.intent(flow).and_then(|i| i.capture.as_ref()) {
            if node.id == self.entry(flow) {
                if let Some(m) = cap.pattern.find(&a.text) {
                    let word = BTreeMap::from([(cap.slot.clone(), display_word(m.as_str()))]);
                    dialogue::set_slots(&mut st, &word);
                }
            }
        }
        dialogue::enter(
            &mut st,
            node,
            offered
                .as_ref()
                .map(|o| o.iter().map(|(n, _)| n.clone()).collect()),
        );
        let choices: Vec<ChoiceOut> = match &offered {
            Some(o) => o
                .iter()
                .enumerate()
                .map(|(i, (_, label))| ChoiceOut {
                    id: (i + 1).to_string(),
                    label: label.clone(),
                })
                .collect(),
            None => node
                .choices
                .iter()
                .enumerate()
                .map(|(i, ch)| ChoiceOut {
                    id: (i + 1).to_string(),
                    label: ch.label.get(l).to_owned(),
                })
                .collect(),
        };
        let mut text = String::new();
        if let Some(p) = prefix {
            text.push_str(&p);
            text.push_str("\n\n");
        }
        text.push_str(&self.fill(node.text.get(l), &st, l));
        if reasons {
            let positive: Vec<_> = a.scam.signals.iter().filter(|s| s.weight > 0.0).collect();
            if !positive.is_empty() {
                text.push_str("\n\n");
                text.push_str(c.text("reasons_header", l));
                for s in positive {
                    if let Some(def) = c.signals.iter().find(|d| d.name == s.name) {
                        text.push_str("\n• ");
                        text.push_str(def.explain.get(l));
                    }
                }
            }
        }
        let (mut notices, urgent) = self.notices(node, a, l);
        let mut choices = choices;
        // Someone who writes traditional characters (or Cantonese) reads them back.
        if st.traditional && l == Lang::Zh {
            let cc = traditional();
            text = cc.convert(&text);
            for n in &mut notices {
                *n = cc.convert(n);
            }
            for ch in &mut choices {
                ch.label = cc.convert(&ch.label);
            }
        }
        let intent = answered.unwrap_or_else(|| a.intent.intent.clone());
        let deflectable = c.intent(&intent).is_some_and(|i| i.deflect)
            && (routed || node.id == self.entry(&intent))
            && a.intent.confidence >= DEFLECT_AT
            && a.scam.verdict == Verdict::Clean
            && a.secrets.is_empty();
        Turn {
            state: st,
            reply: Reply {
                text,
                choices,
                intent: c.public_id(&intent).to_owned(),
                flow: intent.clone(),
                confidence: a.intent.confidence,
                notices,
                urgent,
                scam: a.scam.clone(),
                node: node.id.clone(),
                secrets: a.secrets.iter().map(|s| s.name()).collect(),
                reported: report,
                deflectable,
            },
            report,
        }
    }

    /// Where a free message goes within a flow, when a route of that flow fired: the flow of
    /// the intent the message is confidently for, or else (a bare "还是不行", a follow-up such as
    /// "要多久") the flow of the node the user is at. A message for an intent that the flow the
    /// user is in absorbs (`申诉多久` at a mini program's appeal) is that flow's when one of its
    /// routes applies. A route that leads where the user already is shows that step again, as
    /// does a message for no intent that only asks how to go on (`然后呢`, `看不懂`).
    fn route(&self, st: &State, a: &Analysis, matched: &[usize]) -> Option<Step> {
        let c = &self.catalog;
        let here = st.node.as_deref();
        // The model alone is not confident enough to take the user out of the flow they are in.
        let confident = a.intent.intent != "out_of_scope"
            && a.intent.confidence >= CLARIFY_BELOW
            && !a.intent.learned;
        let here_flow = here.and_then(|h| self.flow_of(h));
        let owners = || matched.iter().map(|&p| c.route_patterns.owner[p]);
        let mut hit = vec![false; c.routes.len()];
        let mut topics = vec![false; c.topics.len()];
        let mut stay = false;
        for o in owners() {
            match o {
                Owner::Route(r) => hit[r] = true,
                Owner::Topic(t) => topics[t] = true,
                Owner::Stay => stay = true,
                _ => {}
            }
        }
        let fired = |r: usize| hit[r] || c.routes[r].topic.is_some_and(|t| topics[t]);
        let absorbed = confident && self.absorbed_here(st, &a.intent.intent);
        if absorbed {
            if let Some(step) = self.take(here, here_flow, false, &fired) {
                return Some(step);
            }
        }
        let flow = if confident {
            let own = c.intents.iter().position(|i| i.id == a.intent.intent);
            own?;
            own
        } else {
            here_flow
        };
        if let Some(step) = self.take(here, flow, confident, &fired) {
            return Some(step);
        }
        if confident || !stay {
            return None;
        }
        // A step to stay at: one with somewhere to go, or waiting for a pasted scam; not the
        // "out of scope" answer, nor the clarifying question (its choices are the turn's).
        let stayable = |id: &str| {
            c.nodes.get(id).is_some_and(|n| {
                (!n.choices.is_empty() || n.report_mode) && n.id != self.entry("out_of_scope")
            })
        };
        if stayable(here?) {
            Some(Step::Stay)
        } else {
            // Asked after a detour (out of scope, thanks): the step before it.
            let prev = st.history.last()?;
            stayable(prev).then_some(Step::Resume)
        }
    }

    /// The route of `flow` that a message takes from `here`, among those whose patterns or
    /// topic `fired`: the best ranked that leads elsewhere (its own patterns, then a node's
    /// follow-up, then the flow's; of follow-ups, the topic listed first); failing that, one that leads where
    /// the user is already (`怎么报警` said at the victim's steps, which say it) shows it again.
    fn take(
        &self,
        here: Option<&str>,
        flow: Option<usize>,
        confident: bool,
        fired: &dyn Fn(usize) -> bool,
    ) -> Option<Step> {
        let c = &self.catalog;
        let applying = c.routes.iter().enumerate().filter(|&(i, r)| {
            let at_from = here.is_some_and(|h| r.from.iter().any(|f| f == h));
            let in_flow = Some(r.intent) == flow && (r.from.is_empty() || at_from);
            // A route that names the nodes it leaves from also applies there to a message
            // that is clearly for no intent, whichever flow those nodes belong to (the
            // victim's steps belong to none: `钱还能要回来吗` said there).
            (in_flow || !confident && at_from) && fired(i)
        });
        let mut stays = false;
        let to = applying
            .filter(|(_, r)| {
                let same = here == Some(r.next.as_str());
                stays |= same;
                !same
            })
            .min_by_key(|&(i, r)| (r.rank, r.topic, i));
        match to {
            Some((_, r)) => Some(Step::To(r.next.clone(), r.intent)),
            None => stays.then_some(Step::Here),
        }
    }

    /// Whether the message asks a question (`[dialogue] question`): a clean one is the
    /// person's own, not the scam they were asked to paste.
    /// `matched`: the route patterns that matched the message.
    fn asks(&self, matched: &[usize]) -> bool {
        let owner = &self.catalog.route_patterns.owner;
        matched.iter().any(|&p| owner[p] == Owner::Question)
    }

    /// Whether the flow of the node the user is at absorbs messages for `intent`.
    fn absorbed_here(&self, st: &State, intent: &str) -> bool {
        let c = &self.catalog;
        st.node
            .as_deref()
            .and_then(|h| self.flow_of(h))
            .is_some_and(|f| c.intents[f].absorbs.iter().any(|x| x == intent))
    }

    /// The intent whose flow a node belongs to: the one whose entry the node's id begins with.
    fn flow_of(&self, node: &str) -> Option<usize> {
        let root = node.split('.').next()?;
        self.catalog
            .intents
            .iter()
            .position(|i| i.entry.as_deref() == Some(root))
    }

    /// A node's text with each captured word (`{platform}`) said: the one the user named, or
    /// the capture's fallback.
    fn fill(&self, text: &str, st: &State, l: Lang) -> String {
        let mut out = text.to_owned();
        for cap in self
            .catalog
            .intents
            .iter()
            .filter_map(|i| i.capture.as_ref())
        {
            let key = format!("{{{}}}", cap.slot);
            if out.contains(&key) {
                let word = st.slots.get(&cap.slot).map(String::as_str);
                out = out.replace(&key, word.unwrap_or_else(|| cap.fallback.get(l)));
            }
        }
        out
    }

    fn entry(&self, intent: &str) -> String {
        self.catalog
            .intent(intent)
            .and_then(|i| i.entry.clone())
            .unwrap_or_else(|| "menu".into())
    }

    /// The notices of a reply and how many of them are urgent.
    fn notices(&self, node: &Node, a: &Analysis, l: Lang) -> (Vec<String>, usize) {
        let c = &self.catalog;
        let mut ids = Vec::new();
        if !a.secrets.is_empty() {
            ids.push("secret");
        }
        if a.scam.fee_mentioned {
            ids.push("fee");
        }
        let urgent = ids.len();
        if node.sensitive || a.scam.verdict != Verdict::Clean || !a.secrets.is_empty() {
            ids.push("safety");
        }
        if !node.sources.is_empty() {
            ids.push("page_wins");
        }
        (
            ids.into_iter()
                .map(|id| c.notice(id, l).to_owned())
                .collect(),
            urgent,
        )
    }

    /// A reply or notice that asks the user for a code, a password or a payment is refused.
    fn audit_replies(&self) -> Vec<CatalogError> {
        let c = &self.catalog;
        let forbidden: Vec<&str> = c
            .signals
            .iter()
            .filter(|s| s.forbidden_in_replies)
            .map(|s| s.name.as_str())
            .collect();
        let mut texts: Vec<(String, &str)> = Vec::new();
        for n in c.nodes.values() {
            texts.push((format!("node `{}`", n.id), &n.text.zh));
            texts.push((format!("node `{}`", n.id), &n.text.en));
        }
        for (id, t) in &c.notices {
            texts.push((format!("notice `{id}`"), &t.zh));
            texts.push((format!("notice `{id}`"), &t.en));
        }
        let mut errs = Vec::new();
        for (entry, text) in texts {
            let n = c.normalizer.normalize(text);
            let matched: Vec<usize> = c.patterns.matches(&n.text);
            let found = scam::detect(c, &n.text, &matched, &[], None);
            // A warning ("whoever asks for your code is a scammer") may name what it warns about.
            if found.signals.iter().any(|s| s.weight < 0.0) {
                continue;
            }
            for s in found
                .signals
                .iter()
                .filter(|s| forbidden.contains(&s.name.as_str()))
            {
                errs.push(CatalogError {
                    file: "catalog".into(),
                    entry: entry.clone(),
                    message: format!("the reply asks for a secret or a payment ({}: \"{}\"); the bot must never do that", s.name, s.evidence),
                });
            }
        }
        errs.sort_by(|a, b| a.entry.cmp(&b.entry));
        errs.dedup();
        errs
    }

    /// Behaviour checks for `safepath check`: every example classifies as its intent, no negative
    /// does, and no reply asks for a secret.
    pub fn audit(&self) -> Vec<CatalogError> {
        let mut errs = self.audit_replies();
        for i in &self.catalog.intents {
            for ex in &i.examples {
                let got = self.analyze(ex).intent.intent;
                if got != i.id {
                    errs.push(CatalogError {
                        file: "catalog".into(),
                        entry: format!("intent `{}`", i.id),
                        message: format!("example \"{ex}\" is classified as `{got}`"),
                    });
                }
            }
            for neg in &i.negatives {
                if self.analyze(neg).intent.intent == i.id {
                    errs.push(CatalogError {
                        file: "catalog".into(),
                        entry: format!("intent `{}`", i.id),
                        message: format!("negative example \"{neg}\" is classified as `{}`", i.id),
                    });
                }
            }
        }
        errs
    }
}

/// The converter of replies to traditional characters, built once (its dictionaries are
/// compiled into the binary).
fn traditional() -> &'static ferrous_opencc::OpenCC {
    static CC: std::sync::OnceLock<ferrous_opencc::OpenCC> = std::sync::OnceLock::new();
    CC.get_or_init(|| {
        ferrous_opencc::OpenCC::from_config(ferrous_opencc::config::BuiltinConfig::S2t)
            .expect("the built-in simplified-to-traditional dictionaries load")
    })
}

/// A captured word as the user would write it: short Latin names in capitals (`qq` → `QQ`),
/// others with a capital first letter; Chinese as it is.
fn display_word(word: &str) -> String {
    if word.is_ascii() && word.len() <= 3 {
        word.to_ascii_uppercase()
    } else if word.is_ascii() {
        let mut cs = word.chars();
        cs.next()
            .map(|f| f.to_ascii_uppercase().to_string() + cs.as_str())
            .unwrap_or_default()
    } else {
        word.to_owned()
    }
}

/// Whether the message sent after the request to paste a scam is that scam. A message with
/// anything suspicious in it, a retelling of the scam (what they said, what they asked for), or
/// one that asks nothing is recorded; the person's own next step is answered instead and
/// nothing is recorded: a clear other request (`怎么注销`), or a turn a route takes (`routed`:
/// `我已经给了他100了`, `怎么报警`).
fn is_the_report(routed: bool, a: &Analysis) -> bool {
    let it = &a.intent;
    let retold = matches!(
        it.intent.as_str(),
        "report_scam" | "share_secret" | "out_of_scope"
    );
    a.scam.verdict != Verdict::Clean || !routed && (retold || it.confidence < CLARIFY_BELOW)
}
