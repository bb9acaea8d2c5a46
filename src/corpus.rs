//! The labelled corpus the learned matcher is trained on: `corpus/intents/*.jsonl`
//! (`{"text", "intent", "source"}`) and `corpus/scam/*.jsonl` (`{"text", "scam", "family"?,
//! "source"}`), one message a line. Real text carries the address it was quoted from as
//! `source`; the team's own lines say `probe`, `written` or `variation:<address>`.
//!
//! In: a directory. Out: [`Corpus`], validated ([`Corpus::problems`]: unknown labels, duplicates,
//! lines taken from held-out evaluation files), and the training sets of both models
//! ([`Corpus::intent_samples`], [`Corpus::scam_samples`]), read through the same normalisation
//! and redaction as every message the engine answers.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::catalog::{Catalog, CatalogError};
use crate::guard;
use crate::model::{self, Sample};

/// The scam model's two labels, in its order.
pub const SCAM_LABELS: [&str; 2] = ["not_scam", "scam"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntentRow {
    text: String,
    intent: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    #[serde(rename = "lang")]
    _lang: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScamRow {
    text: String,
    scam: bool,
    #[serde(default)]
    family: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

/// Where a line came from, for error messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub file: String,
    pub line: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, Clone)]
pub struct IntentLine {
    pub text: String,
    pub intent: String,
    pub source: Option<String>,
    pub at: Place,
}

#[derive(Debug, Clone)]
pub struct ScamLine {
    pub text: String,
    pub scam: bool,
    pub family: Option<String>,
    pub source: Option<String>,
    pub at: Place,
}

#[derive(Debug, Clone, Default)]
pub struct Corpus {
    pub intents: Vec<IntentLine>,
    pub scam: Vec<ScamLine>,
    /// Lines that could not be read: reported by [`Corpus::problems`].
    unreadable: Vec<(Place, String)>,
}

fn jsonl_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    Ok(files)
}

/// Calls `row` with each non-blank line of `path` and its place.
fn read_lines(path: &Path, mut row: impl FnMut(&str, Place)) -> Result<(), (Place, String)> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        (
            Place {
                file: name.clone(),
                line: 0,
            },
            format!("cannot read the file: {e}"),
        )
    })?;
    for (i, l) in text.lines().enumerate() {
        if !l.trim().is_empty() {
            row(
                l,
                Place {
                    file: name.clone(),
                    line: i + 1,
                },
            );
        }
    }
    Ok(())
}

/// Every line of `dir/sub/*.jsonl` read as a `T` and kept; a line that is not one (`what`), or a
/// file that cannot be read, is noted in `unreadable`.
fn read_all<T: serde::de::DeserializeOwned>(
    dir: &Path,
    sub: &str,
    what: &str,
    unreadable: &mut Vec<(Place, String)>,
    mut keep: impl FnMut(T, Place),
) -> Result<(), String> {
    let files = jsonl_files(&dir.join(sub))
        .map_err(|e| format!("cannot read {}: {e}", dir.join(sub).display()))?;
    for path in files {
        let mut bad = Vec::new();
        let read = read_lines(&path, |l, at| match serde_json::from_str::<T>(l) {
            Ok(r) => keep(r, at),
            Err(e) => bad.push((at, format!("not {what}: {e}"))),
        });
        unreadable.extend(read.err());
        unreadable.append(&mut bad);
    }
    Ok(())
}

impl Corpus {
    /// Reads `dir/intents/*.jsonl` and `dir/scam/*.jsonl`. Fails only when the directory
    /// cannot be read at all; a bad line is kept as a problem.
    pub fn load(dir: &Path) -> Result<Corpus, String> {
        if !dir.is_dir() {
            return Err(format!(
                "the corpus directory {} does not exist (run from the repository, or pass --corpus)",
                dir.display()
            ));
        }
        let mut c = Corpus::default();
        let mut unreadable = Vec::new();
        read_all(
            dir,
            "intents",
            "an intent line",
            &mut unreadable,
            |r: IntentRow, at| {
                c.intents.push(IntentLine {
                    text: r.text,
                    intent: r.intent,
                    source: r.source,
                    at,
                })
            },
        )?;
        read_all(
            dir,
            "scam",
            "a scam line",
            &mut unreadable,
            |r: ScamRow, at| {
                c.scam.push(ScamLine {
                    text: r.text,
                    scam: r.scam,
                    family: r.family.or(r.kind),
                    source: r.source,
                    at,
                })
            },
        )?;
        c.unreadable = unreadable;
        Ok(c)
    }

    /// Everything wrong with the corpus: unreadable lines, empty texts, intents the catalog does
    /// not have, the same text twice (or with two labels), and any line of the held-out
    /// evaluation files (`heldout`: their texts), which would make their scores meaningless.
    pub fn problems(&self, catalog: &Catalog, heldout: &HashSet<String>) -> Vec<CatalogError> {
        let err = |at: &Place, message: String| CatalogError {
            file: at.file.clone(),
            entry: format!("line {}", at.line),
            message,
        };
        let mut errs: Vec<CatalogError> = self
            .unreadable
            .iter()
            .map(|(at, m)| err(at, m.clone()))
            .collect();
        let mut seen: HashMap<(&str, &str), &Place> = HashMap::new();
        let lines = self
            .intents
            .iter()
            .map(|l| ("intent", l.text.as_str(), &l.at))
            .chain(self.scam.iter().map(|l| ("scam", l.text.as_str(), &l.at)));
        for (kind, text, at) in lines {
            if text.trim().is_empty() {
                errs.push(err(at, "the text is empty".into()));
            }
            if heldout.contains(text.trim()) {
                errs.push(err(
                    at,
                    "this line is in a held-out evaluation file; train on it and that file measures nothing".into(),
                ));
            }
            if let Some(first) = seen.insert((kind, text.trim()), at) {
                errs.push(err(at, format!("the same text is already at {first}")));
            }
        }
        for l in &self.intents {
            if catalog.intent(&l.intent).is_none() {
                errs.push(err(
                    &l.at,
                    format!("the catalog has no intent `{}`", l.intent),
                ));
            }
        }
        errs
    }

    /// The intent model's labels (the catalog's intents, in catalog order) and its training
    /// lines: the corpus and the catalog's examples.
    pub fn intent_samples(&self, catalog: &Catalog) -> (Vec<String>, Vec<(String, String)>) {
        let labels: Vec<String> = catalog.intents.iter().map(|i| i.id.clone()).collect();
        let mut lines: Vec<(String, String)> = self
            .intents
            .iter()
            .map(|l| (l.intent.clone(), l.text.clone()))
            .collect();
        for i in &catalog.intents {
            lines.extend(i.examples.iter().map(|e| (i.id.clone(), e.clone())));
        }
        dedup(&mut lines);
        (labels, lines)
    }

    /// The scam model's training lines: the scam corpus, and every intent line as a message
    /// that is not itself a scam (a person asking, even about a scam, is not one) unless the
    /// scam corpus labels the same text.
    pub fn scam_samples(&self) -> Vec<(String, String)> {
        let labelled: HashSet<&str> = self.scam.iter().map(|l| l.text.trim()).collect();
        let mut lines: Vec<(String, String)> = self
            .scam
            .iter()
            .map(|l| (SCAM_LABELS[usize::from(l.scam)].to_owned(), l.text.clone()))
            .collect();
        lines.extend(
            self.intents
                .iter()
                .filter(|l| !labelled.contains(l.text.trim()))
                .map(|l| (SCAM_LABELS[0].to_owned(), l.text.clone())),
        );
        dedup(&mut lines);
        lines
    }
}

/// The first of each text wins (the corpus order is the files' sorted order).
fn dedup(lines: &mut Vec<(String, String)>) {
    let mut seen = HashSet::new();
    lines.retain(|(_, t)| seen.insert(t.trim().to_owned()));
}

/// The text a model reads of a raw message: normalised by the catalog's rules and redacted, as
/// the engine reads it.
pub fn model_text(catalog: &Catalog, raw: &str) -> String {
    guard::guard(catalog.normalizer.normalize(raw), None).text
}

/// Labelled lines → samples over `labels` (lines with another label are skipped) and the digest
/// of the lines.
pub fn samples(
    catalog: &Catalog,
    labels: &[String],
    lines: &[(String, String)],
) -> (Vec<Sample>, String) {
    let index: HashMap<&str, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let samples = lines
        .iter()
        .filter_map(|(label, text)| {
            Some(Sample {
                label: *index.get(label.as_str())?,
                features: model::features(&model_text(catalog, text)),
            })
        })
        .collect();
    let digest = model::digest(lines.iter().map(|(l, t)| (l.as_str(), t.as_str())));
    (samples, digest)
}

/// The held-out evaluation files of some directories (`heldout-*.jsonl`, `firstsight*.jsonl`);
/// a directory that does not exist has none.
pub fn heldout_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                (n.starts_with("heldout-") || n.starts_with("firstsight")) && n.ends_with(".jsonl")
            })
        })
        .collect();
    files.sort();
    files
}

/// The texts of JSON-lines files (their `text` fields), to keep held-out lines out of the corpus.
pub fn texts_of(paths: &[PathBuf]) -> HashSet<String> {
    let mut out = HashSet::new();
    for p in paths {
        let _ = read_lines(p, |l, _| {
            if let Some(t) = serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v.get("text")?.as_str().map(|s| s.trim().to_owned()))
            {
                out.insert(t);
            }
        });
    }
    out
}
