//! `safepath train`: the corpus → the two learned models, and the check that the models built
//! into the binary are the ones the corpus trains.
//!
//! In: the catalog (its intents are the labels, its examples join the corpus, its normaliser
//! reads every line) and the [`Corpus`]. Out: [`Trained`], written by [`Models::write`].
//!
//! With the team's labels (`train --with-labels`): [`add_labels`] turns labelled reports (their
//! redacted text) into scam-corpus lines, and a [`Gate`] compares the new models with the ones
//! in use on held-out files; worse on them, they are not installed.

use std::collections::HashSet;
use std::fmt;

use crate::catalog::{Catalog, CatalogError};
use crate::corpus::{self, Corpus, Place, ScamLine, SCAM_LABELS};
use crate::engine::Engine;
use crate::eval::{self, Labelled as EvalLine, Scores};
use crate::model::{self, ModelFile, Models, TrainOptions};
use crate::report::Labelled;

pub struct Trained {
    pub intents: ModelFile,
    pub scam: ModelFile,
}

/// The digests the two models would record for this corpus: (intents, scam).
pub fn digests(catalog: &Catalog, c: &Corpus) -> (String, String) {
    let (_, intent_lines) = c.intent_samples(catalog);
    let scam_lines = c.scam_samples();
    let d = |lines: &[(String, String)]| {
        model::digest(lines.iter().map(|(l, t)| (l.as_str(), t.as_str())))
    };
    (d(&intent_lines), d(&scam_lines))
}

/// Trains both models; `progress` gets a line a model.
pub fn train(catalog: &Catalog, c: &Corpus, mut progress: impl FnMut(String)) -> Trained {
    let (labels, intent_lines) = c.intent_samples(catalog);
    let scam_labels: Vec<String> = SCAM_LABELS.iter().map(|s| s.to_string()).collect();
    let scam_lines = c.scam_samples();
    let mut one = |what: &str, labels: &[String], lines: &[(String, String)]| {
        let started = std::time::Instant::now();
        let (samples, digest) = corpus::samples(catalog, labels, lines);
        let (file, report) = model::train(&samples, labels, &digest, TrainOptions::default());
        progress(format!(
            "{what}: {} lines, {} labels, {} features; out-of-fold accuracy {:.3}, temperature {:.2}; {:.1} s",
            samples.len(),
            labels.len(),
            file.keys.len(),
            report.out_of_fold_accuracy,
            file.temperature,
            started.elapsed().as_secs_f32()
        ));
        file
    };
    Trained {
        intents: one("intents", &labels, &intent_lines),
        scam: one("scam", &scam_labels, &scam_lines),
    }
}

impl Trained {
    pub fn models(&self) -> Models {
        Models {
            intents: model::Model::new(self.intents.clone()),
            scam: model::Model::new(self.scam.clone()),
        }
    }
}

/// What [`add_labels`] did with the labelled reports.
#[derive(Debug, Default, PartialEq)]
pub struct Added {
    pub scam: usize,
    pub not_scam: usize,
    /// Texts the corpus already has (its own label stands) or another report already gave.
    pub duplicates: usize,
    /// Texts of a held-out file: training on them would make the gate measure nothing.
    pub held_out: usize,
}

/// Adds the labelled reports to the scam corpus as lines sourced `report:<id>`, the newest
/// label of a text first; unlabelled reports, texts already in the corpus and texts in
/// `heldout` are left out.
pub fn add_labels(c: &mut Corpus, reports: &[Labelled], heldout: &HashSet<String>) -> Added {
    let mut added = Added::default();
    let mut seen: HashSet<String> = c.scam.iter().map(|l| l.text.trim().to_owned()).collect();
    seen.extend(c.intents.iter().map(|l| l.text.trim().to_owned()));
    let mut newest: Vec<&Labelled> = reports.iter().filter(|r| r.label.is_some()).collect();
    newest.sort_by_key(|r| std::cmp::Reverse(r.label.as_ref().map(|l| l.time)));
    for r in newest {
        let Some(label) = &r.label else { continue };
        let text = r.report.text.trim();
        if heldout.contains(text) {
            added.held_out += 1;
            continue;
        }
        if text.is_empty() || !seen.insert(text.to_owned()) {
            added.duplicates += 1;
            continue;
        }
        if label.label.is_scam() {
            added.scam += 1;
        } else {
            added.not_scam += 1;
        }
        c.scam.push(ScamLine {
            text: text.to_owned(),
            scam: label.label.is_scam(),
            family: None,
            source: Some(format!("report:{}", r.report.id)),
            at: Place {
                file: "labelled reports".into(),
                line: r.report.id as usize,
            },
        });
    }
    added
}

/// The models in use and the new ones, scored on the same held-out lines.
pub struct Gate {
    pub lines: usize,
    pub before: Scores,
    pub after: Scores,
}

/// The figures the gate compares: intent accuracy, scam F1 and false-positive rate.
fn figures(s: &Scores) -> [f64; 3] {
    let (f1, fpr) = s.scam.as_ref().map_or((0.0, 0.0), |x| {
        let f1 = if x.precision + x.recall == 0.0 {
            0.0
        } else {
            2.0 * x.precision * x.recall / (x.precision + x.recall)
        };
        (f1, x.false_positive_rate)
    });
    [s.accuracy, f1, fpr]
}

const FIGURES: [&str; 3] = ["intent accuracy", "scam F1", "scam false-positive rate"];

impl Gate {
    pub fn run(in_use: &Engine, new: &Engine, lines: &[EvalLine]) -> Gate {
        Gate {
            lines: lines.len(),
            before: eval::score(in_use, lines),
            after: eval::score(new, lines),
        }
    }

    /// What got worse: a lower accuracy or F1, a higher false-positive rate. Empty: it passes.
    pub fn worse(&self) -> Vec<String> {
        let (b, a) = (figures(&self.before), figures(&self.after));
        (0..3)
            .filter(|&i| if i == 2 { a[i] > b[i] } else { a[i] < b[i] })
            .map(|i| format!("{} {:.4} -> {:.4}", FIGURES[i], b[i], a[i]))
            .collect()
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "gate on {} held-out lines     in use     new",
            self.lines
        )?;
        let (b, a) = (figures(&self.before), figures(&self.after));
        for i in 0..3 {
            writeln!(f, "  {:<26} {:>8.4} {:>8.4}", FIGURES[i], b[i], a[i])?;
        }
        Ok(())
    }
}

/// A problem for `check` when the engine's models were not trained on this corpus.
pub fn stale(engine: &Engine, c: &Corpus) -> Vec<CatalogError> {
    let Some(m) = engine.models() else {
        return Vec::new();
    };
    let (intents, scam) = digests(engine.catalog(), c);
    [
        (model::INTENTS_FILE, &m.intents, intents),
        (model::SCAM_FILE, &m.scam, scam),
    ]
    .into_iter()
    .filter(|(_, m, want)| &m.file().corpus != want)
    .map(|(name, _, _)| CatalogError {
        file: format!("model/{name}"),
        entry: String::new(),
        message: "was not trained on the corpus as it is now; run `safepath train` and rebuild"
            .into(),
    })
    .collect()
}
