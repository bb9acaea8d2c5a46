//! Stage 6: what the user reads. A [`Reply`] is a node rendered in the user's language, with its
//! choices, the notices that apply (secret warning, fee warning, safety promise, "the app's own
//! page wins") and the scam verdict with its signals.
//!
//! Frontends turn a `Reply` into their own format (terminal lines, Telegram keyboards, JSON); this
//! module holds the one rendering to plain text they share.

use serde::Serialize;

use crate::scam::ScamResult;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChoiceOut {
    /// What to send back to pick it (its number).
    pub id: String,
    pub label: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    pub text: String,
    pub choices: Vec<ChoiceOut>,
    /// The contract intent (DESIGN.md).
    pub intent: String,
    /// The catalog's own, finer intent whose flow answered (`scam_victim` for `report_scam`,
    /// `other_platform` for `out_of_scope`); the same as `intent` for most.
    pub flow: String,
    pub confidence: f32,
    /// Warnings, most urgent first: recorded / secret / fee, then the standing safety promise and
    /// the reminder that the app's page wins.
    pub notices: Vec<String>,
    /// How many of `notices` are urgent (shown before the text); the rest follow it.
    #[serde(skip)]
    pub urgent: usize,
    pub scam: ScamResult,
    /// The dialogue node shown.
    pub node: String,
    /// Kinds of secrets found (and redacted) in the user's message.
    pub secrets: Vec<&'static str>,
    /// A report was (or should have been) recorded for this message.
    pub reported: bool,
    /// The official path in this reply fully answers a routine ticket.
    pub deflectable: bool,
}

impl Reply {
    /// The reply as plain text: notices, body, numbered choices.
    pub fn to_plain(&self) -> String {
        let (urgent, standing) = self.notices.split_at(self.urgent.min(self.notices.len()));
        let mut out = String::new();
        for n in urgent {
            out.push_str(&format!("⚠ {n}\n"));
        }
        if !urgent.is_empty() {
            out.push('\n');
        }
        out.push_str(self.text.trim_end());
        out.push('\n');
        if !self.choices.is_empty() {
            out.push('\n');
            for c in &self.choices {
                out.push_str(&format!("  {}. {}\n", c.id, c.label));
            }
        }
        if !standing.is_empty() {
            out.push('\n');
            for n in standing {
                out.push_str(&format!("ⓘ {n}\n"));
            }
        }
        out
    }
}
