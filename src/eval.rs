//! `safepath eval`: how well the engine answers labelled messages, for a support lead who changed
//! the corpus or the catalog.
//!
//! In: JSON lines `{"text", "intent"}` and/or `{"text", "scam": bool, "family"?}`. Out:
//! [`Scores`] — per-intent precision, recall and F1, accuracy and macro F1, the most frequent
//! confusions, scam precision, recall and false-positive rate (overall and per family), and how
//! often a confidence of 0.7 or more was right (the deflection threshold's promise).
//! [`dialogues`] scores whole conversations instead of single lines.

pub mod dialogues;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::{Engine, DEFLECT_AT};
use crate::scam::Verdict;

/// One labelled line.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub text: String,
    pub intent: Option<String>,
    pub scam: Option<bool>,
    pub family: Option<String>,
}

/// The non-blank lines of a file named `name`, each with its place (`name:line`) for errors.
pub(crate) fn numbered_lines<'a>(
    name: &'a str,
    content: &'a str,
) -> impl Iterator<Item = (String, &'a str)> + 'a {
    content
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(move |(i, l)| (format!("{name}:{}", i + 1), l))
}

/// Reads JSON lines; a line that is not JSON or has no `text` is an error naming it.
pub fn read(name: &str, content: &str) -> Result<Vec<Labelled>, String> {
    let mut out = Vec::new();
    for (at, line) in numbered_lines(name, content) {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{at}: not JSON: {e}"))?;
        let text = v
            .get("text")
            .and_then(|t| t.as_str())
            .ok_or_else(|| format!("{at}: no string `text`"))?;
        out.push(Labelled {
            text: text.to_owned(),
            intent: v.get("intent").and_then(|t| t.as_str()).map(str::to_owned),
            scam: v.get("scam").and_then(|t| t.as_bool()),
            family: v
                .get("family")
                .or_else(|| v.get("kind"))
                .and_then(|t| t.as_str())
                .map(str::to_owned),
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IntentScore {
    pub intent: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Confusion {
    pub want: String,
    pub got: String,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct ScamScore {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub false_positive_rate: f64,
    pub positives: usize,
    pub negatives: usize,
    /// Verdicts of "suspicious", on either side.
    pub suspicious: usize,
    /// Recall on each family of scams, and the false-positive rate on each family of the rest.
    pub families: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct Scores {
    pub intent_lines: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub intents: Vec<IntentScore>,
    pub confusions: Vec<Confusion>,
    /// Of the answers given with a confidence of at least 0.7: how many were right, and how many.
    pub confident_right: f64,
    pub confident: usize,
    pub scam: Option<ScamScore>,
    /// Lines answered wrong: (text, want, got).
    #[serde(skip)]
    pub errors: Vec<(String, String, String)>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// Scores the engine on the lines.
pub fn score(engine: &Engine, lines: &[Labelled]) -> Scores {
    let mut s = Scores::default();
    let mut pairs: Vec<(&str, String)> = Vec::new();
    let mut confident_ok = 0;
    let mut scam_rows: Vec<(bool, Verdict, Option<&str>)> = Vec::new();
    for l in lines {
        let a = engine.analyze(&l.text);
        if let Some(want) = &l.intent {
            let got = engine.catalog().public_id(&a.intent.intent).to_owned();
            if a.intent.confidence >= DEFLECT_AT {
                s.confident += 1;
                confident_ok += usize::from(&got == want);
            }
            if &got != want {
                s.errors.push((l.text.clone(), want.clone(), got.clone()));
            }
            pairs.push((want, got));
        }
        if let Some(want) = l.scam {
            scam_rows.push((want, a.scam.verdict, l.family.as_deref()));
            if want != (a.scam.verdict == Verdict::Scam) {
                s.errors.push((
                    l.text.clone(),
                    format!("scam={want}"),
                    a.scam.verdict.name().to_owned(),
                ));
            }
        }
    }
    s.intent_lines = pairs.len();
    s.confident_right = ratio(confident_ok, s.confident);
    if !pairs.is_empty() {
        let labels: std::collections::BTreeSet<&str> = pairs.iter().map(|(w, _)| *w).collect();
        for lab in labels {
            let tp = pairs.iter().filter(|(w, g)| *w == lab && g == lab).count();
            let fp = pairs.iter().filter(|(w, g)| *w != lab && g == lab).count();
            let support = pairs.iter().filter(|(w, _)| *w == lab).count();
            let (p, r) = (ratio(tp, tp + fp), ratio(tp, support));
            s.intents.push(IntentScore {
                intent: lab.to_owned(),
                precision: p,
                recall: r,
                f1: f1(p, r),
                support,
            });
        }
        s.accuracy = ratio(pairs.iter().filter(|(w, g)| w == g).count(), pairs.len());
        s.macro_f1 = s.intents.iter().map(|i| i.f1).sum::<f64>() / s.intents.len() as f64;
        let mut conf: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (w, g) in pairs.iter().filter(|(w, g)| w != g) {
            *conf.entry((w, g.as_str())).or_default() += 1;
        }
        let mut conf: Vec<Confusion> = conf
            .into_iter()
            .map(|((w, g), count)| Confusion {
                want: w.to_owned(),
                got: g.to_owned(),
                count,
            })
            .collect();
        conf.sort_by_key(|c| std::cmp::Reverse(c.count));
        conf.truncate(10);
        s.confusions = conf;
    }
    if !scam_rows.is_empty() {
        let is = |v: &Verdict| *v == Verdict::Scam;
        let tp = scam_rows.iter().filter(|(w, v, _)| *w && is(v)).count();
        let fp = scam_rows.iter().filter(|(w, v, _)| !*w && is(v)).count();
        let pos = scam_rows.iter().filter(|(w, _, _)| *w).count();
        let neg = scam_rows.len() - pos;
        let (p, r) = (ratio(tp, tp + fp), ratio(tp, pos));
        let mut families: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (w, v, fam) in &scam_rows {
            let e = families
                .entry(format!(
                    "{}{}",
                    if *w { "" } else { "not:" },
                    fam.unwrap_or("-")
                ))
                .or_default();
            e.0 += usize::from(is(v));
            e.1 += 1;
        }
        s.scam = Some(ScamScore {
            precision: p,
            recall: r,
            f1: f1(p, r),
            false_positive_rate: ratio(fp, neg),
            positives: pos,
            negatives: neg,
            suspicious: scam_rows
                .iter()
                .filter(|(_, v, _)| *v == Verdict::Suspicious)
                .count(),
            families: families
                .into_iter()
                .map(|(k, (hit, n))| (k, ratio(hit, n)))
                .collect(),
        });
    }
    s
}

impl std::fmt::Display for Scores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.intent_lines > 0 {
            writeln!(
                f,
                "{:24} {:>6} {:>6} {:>6} {:>5}",
                "intent", "prec", "recall", "f1", "n"
            )?;
            for i in &self.intents {
                writeln!(
                    f,
                    "{:24} {:6.3} {:6.3} {:6.3} {:5}",
                    i.intent, i.precision, i.recall, i.f1, i.support
                )?;
            }
            writeln!(
                f,
                "intent accuracy {:.3} ({} lines), macro F1 {:.3}",
                self.accuracy, self.intent_lines, self.macro_f1
            )?;
            writeln!(
                f,
                "confidence ≥ {DEFLECT_AT}: {} answers, {:.3} right",
                self.confident, self.confident_right
            )?;
            if !self.confusions.is_empty() {
                writeln!(f, "most frequent mistakes (want → got):")?;
                for c in &self.confusions {
                    writeln!(f, "  {:3}× {} → {}", c.count, c.want, c.got)?;
                }
            }
        }
        if let Some(s) = &self.scam {
            writeln!(
                f,
                "scam precision {:.3} recall {:.3} f1 {:.3} false-positive rate {:.4} (pos {}, neg {}, suspicious {})",
                s.precision, s.recall, s.f1, s.false_positive_rate, s.positives, s.negatives, s.suspicious
            )?;
            if s.families.len() > 1 {
                writeln!(f, "by family (scams: recall; not:…: false-positive rate):")?;
                for (fam, r) in &s.families {
                    writeln!(f, "  {fam:28} {r:.3}")?;
                }
            }
        }
        Ok(())
    }
}
