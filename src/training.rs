//! `safepath train`: the corpus → the two learned models, and the check that the models built
//! into the binary are the ones the corpus trains.
//!
//! In: the catalog (its intents are the labels, its examples join the corpus, its normaliser
//! reads every line) and the [`Corpus`]. Out: [`Trained`], written by [`Models::write`].

use crate::catalog::{Catalog, CatalogError};
use crate::corpus::{self, Corpus, SCAM_LABELS};
use crate::engine::Engine;
use crate::model::{self, ModelFile, TrainOptions};

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
