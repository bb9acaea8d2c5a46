//! Stage 5: where the conversation is. The position is a typed [`State`] stored per user; the
//! flows themselves are data (nodes and choices in `intents/`), walked by this one mechanism.
//!
//! In: the current state and the (normalised) message. Out: a [`Move`] — a choice picked by number
//! or label, a command (menu, back, restart, language), or free text for the classifier — and the
//! state changes of entering a node.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Node};
use crate::guard::SecretKind;
use crate::Lang;

/// How many earlier nodes `back` can return through.
const HISTORY: usize = 10;
/// Bound on remembered slots, so stored state per user stays small.
const MAX_SLOTS: usize = 16;

/// One user's conversation, as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// The language replies are written in; detected per message until the user picks one.
    pub lang: Option<Lang>,
    pub lang_locked: bool,
    pub node: Option<String>,
    /// Where each offered choice leads, in the order shown (choice `1` is the first).
    pub offered: Vec<String>,
    pub history: Vec<String>,
    pub slots: BTreeMap<String, String>,
    /// The next message is a scam sample to check and record.
    pub awaiting_report: bool,
    /// Unix seconds of the last turn (set by the session).
    pub updated: u64,
    /// The last message named a secret without giving it (`验证码是`): a number in the next one
    /// is read as that secret, so a code split over two messages is still redacted.
    pub awaiting_secret: Option<SecretKind>,
    /// The user writes traditional characters (or Cantonese): Chinese replies are converted.
    pub traditional: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Menu,
    Back,
    Restart,
    Lang(Lang),
    /// Straight to a node (a frontend command such as Telegram's /report).
    Goto(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Move {
    /// Index into `State::offered`.
    Choice(usize),
    /// A choice number that is not on offer (`9` at a step with two choices, `1` at one with
    /// none): the step is shown again with what can be picked.
    Invalid,
    Command(Command),
    Free,
}

fn bare(text: &str) -> &str {
    text.trim()
        .trim_end_matches(['.', '。', '!', '！', '?', '？', ' ', '~'])
        .trim_start_matches('/')
}

/// A choice number as people write one: `2`, `选2`, `第一个`, `option 3`, `no. 1`.
fn choice_number(word: &str) -> Option<usize> {
    let mut w = word;
    for prefix in [
        "我选择",
        "我选",
        "选择",
        "选",
        "就",
        "第",
        "option",
        "choice",
        "number",
        "no.",
        "no",
        "#",
    ] {
        if let Some(rest) = w.strip_prefix(prefix) {
            w = rest.trim_start();
        }
    }
    let w = w.trim_end_matches(['个', '项', '条', '吧', '号']);
    let w = w.strip_prefix('第').unwrap_or(w);
    if let Ok(n) = w.parse::<usize>() {
        return Some(n);
    }
    const DIGITS: [char; 10] = ['一', '二', '三', '四', '五', '六', '七', '八', '九', '十'];
    let mut chars = w.chars();
    match (chars.next(), chars.next()) {
        (Some('两'), None) => Some(2),
        (Some(c), None) => DIGITS.iter().position(|&d| d == c).map(|i| i + 1),
        _ => None,
    }
}

/// Whether two texts share a pair of adjacent characters (`好友辅助` and `好友/非好友辅助验证`).
fn shares_bigram(a: &str, b: &str) -> bool {
    let pairs = |t: &str| -> Vec<(char, char)> {
        let cs: Vec<char> = t.chars().filter(|c| !c.is_whitespace()).collect();
        cs.windows(2).map(|w| (w[0], w[1])).collect()
    };
    let theirs = pairs(b);
    pairs(a).iter().any(|p| theirs.contains(p))
}

/// What the message does to the conversation before any classification.
pub fn interpret(catalog: &Catalog, state: &State, normalized: &str) -> Move {
    let word = bare(normalized);
    if let Some(cmd) = catalog.commands.get(word) {
        return Move::Command(match cmd.as_str() {
            "back" => Command::Back,
            "restart" => Command::Restart,
            "lang_zh" => Command::Lang(Lang::Zh),
            "lang_en" => Command::Lang(Lang::En),
            _ => Command::Menu,
        });
    }
    let node = state.node.as_ref().and_then(|id| catalog.nodes.get(id));
    let labels = |i: usize| {
        node.and_then(|n| n.choices.get(i))
            .map(|c| c.keys.as_slice())
            .unwrap_or_default()
    };
    if let Some(n) = choice_number(word) {
        return if n >= 1 && n <= state.offered.len() {
            Move::Choice(n - 1)
        } else {
            Move::Invalid
        };
    }
    // A number with the choice's words after it: `2 好友辅助`.
    if let Some((num, rest)) = word.split_once(' ') {
        if let Ok(n) = num.parse::<usize>() {
            if n >= 1
                && n <= state.offered.len()
                && labels(n - 1).iter().any(|k| shares_bigram(rest, k))
            {
                return Move::Choice(n - 1);
            }
        }
    }
    // A choice typed out, or sent back as a button's label.
    if let Some(node) = node {
        for (i, c) in node.choices.iter().enumerate() {
            if i < state.offered.len() && c.keys.iter().any(|k| bare(k) == word) {
                return Move::Choice(i);
            }
        }
    }
    Move::Free
}

/// The step before the current one, taken off the way back; the current one is not put on it
/// (`enter` would otherwise push the node being left).
pub fn back(state: &mut State) -> Option<String> {
    let prev = state.history.pop()?;
    state.node = None;
    Some(prev)
}

/// The state after entering `node`, offering `offered` (the node's own choices unless given).
pub fn enter(state: &mut State, node: &Node, offered: Option<Vec<String>>) {
    if let Some(prev) = state.node.take() {
        if prev != node.id {
            state.history.push(prev);
            if state.history.len() > HISTORY {
                state.history.remove(0);
            }
        }
    }
    state.node = Some(node.id.clone());
    state.offered =
        offered.unwrap_or_else(|| node.choices.iter().map(|c| c.next.clone()).collect());
    state.awaiting_report = node.report_mode;
    set_slots(state, &node.set);
}

pub fn set_slots(state: &mut State, set: &BTreeMap<String, String>) {
    for (k, v) in set {
        if state.slots.len() < MAX_SLOTS || state.slots.contains_key(k) {
            state.slots.insert(k.clone(), v.clone());
        }
    }
}
