//! The learned matcher: a linear classifier over character n-grams, trained on the labelled
//! corpus (`corpus/`), beside the catalog's patterns.
//!
//! In: the normalised, redacted text of a message (what the patterns read). Out: a probability
//! for each label ([`Model::predict`]). Two models are shipped, one over the intent ids and one
//! that tells scam from not-scam; [`crate::engine`] fuses them with the patterns.
//!
//! The model is multinomial logistic regression over TF-IDF features: character uni-, bi- and
//! tri-grams of Chinese (which has no spaces), word n-grams and word stems of English, digits
//! folded to their count. It is written here, about 400 lines, rather than taken from a crate:
//! the `fasttext` crate trains well but costs 6–9 µs a prediction through its API (it allocates
//! label strings), and its model files are hundreds of megabytes with the default buckets; linfa's
//! logistic regression needs dense features. What this needs is small: hash the n-grams, look
//! them up in a table of the ~20,000 seen in training, add their rows — about 1 µs a message —
//! and a deterministic trainer (seeded order, one thread, no fused arithmetic) so that
//! `safepath train` reproduces the shipped model to the byte. Plain SGD on the cross-entropy with
//! L2, then a temperature fitted on 5-fold out-of-fold predictions so that a probability of 0.9
//! means right about nine times in ten.
//!
//! It does not read the catalog, explain itself beyond "close to messages about X", or decide
//! anything: the engine does.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// Bumped when the feature extraction or the file layout changes: an old file is refused.
pub const FORMAT: u32 = 2;

/// The n-gram keys of a message, in the order met; one seen twice counts twice (term frequency).
pub type Features = SmallVec<[u64; 96]>;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(bytes: impl IntoIterator<Item = u8>, seed: u64) -> u64 {
    bytes
        .into_iter()
        .fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

/// Mixes a unit into an n-gram's key (order matters: 解封 is not 封解).
fn mix(h: u64, unit: u64) -> u64 {
    (h.rotate_left(23) ^ unit).wrapping_mul(FNV_PRIME)
}

/// The units of one run of text between separators: a Chinese (or other non-ASCII) character
/// each, an ASCII word each with its digits folded to `0` (an amount, a code placeholder, an id:
/// `300` and `500` are the same unit), and for English words of six letters or more the first
/// five as a stem, so `unblocked` and `unblocking` share one.
fn push_units(text: &str, mut emit: impl FnMut(&[u64])) {
    let mut run: SmallVec<[u64; 64]> = SmallVec::new();
    let mut stems: SmallVec<[u64; 8]> = SmallVec::new();
    let mut word = String::new();
    let flush_word =
        |word: &mut String, run: &mut SmallVec<[u64; 64]>, stems: &mut SmallVec<[u64; 8]>| {
            if word.is_empty() {
                return;
            }
            run.push(fnv(word.bytes(), FNV_OFFSET));
            if word.len() >= 6 && word.bytes().all(|b| b.is_ascii_alphabetic()) {
                stems.push(fnv(word.bytes().take(5), FNV_OFFSET ^ 0x5757));
            }
            word.clear();
        };
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            word.push(if c.is_ascii_digit() { '0' } else { c });
            continue;
        }
        // A space between an amount and a Chinese character does not end the run: ads space
        // their digits out (`付费6 元`) to slip past filters, and `6元` is what they mean.
        if c.is_whitespace() && joins_amount(&word, chars[..i].last(), chars[i + 1..].iter()) {
            continue;
        }
        flush_word(&mut word, &mut run, &mut stems);
        if c.is_alphanumeric() {
            // A character is its own unit: its code point, spread (one multiply, not a hash
            // loop: this runs for every character of every message).
            run.push((u64::from(c) ^ FNV_OFFSET).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        } else if !run.is_empty() {
            emit(&run);
            run.clear();
        }
    }
    flush_word(&mut word, &mut run, &mut stems);
    if !run.is_empty() {
        emit(&run);
    }
    for s in stems {
        emit(&[s]);
    }
}

/// Whether the blanks at this point sit between digits and a Chinese character, either way round.
fn joins_amount<'a>(
    word: &str,
    before: Option<&char>,
    mut after: impl Iterator<Item = &'a char>,
) -> bool {
    let han = |c: char| !c.is_ascii() && c.is_alphanumeric();
    let digits_before = !word.is_empty() && word.bytes().all(|b| b == b'0');
    let Some(&next) = after.find(|c| !c.is_whitespace()) else {
        return false;
    };
    (digits_before && han(next))
        || (before.is_some_and(|&b| han(b) || b.is_whitespace())
            && next.is_ascii_digit()
            && word.is_empty())
}

/// The features of a (normalised) text: every 1-, 2- and 3-gram of units within a run.
pub fn features(text: &str) -> Features {
    let mut out = Features::new();
    // At most three n-grams a unit, and a unit is at least one byte: grown once, not doubled.
    out.reserve(3 * text.len());
    push_units(text, |run| {
        for i in 0..run.len() {
            let mut h = FNV_OFFSET;
            for (n, &u) in run[i..].iter().take(3).enumerate() {
                h = mix(h, u);
                out.push(h.wrapping_add(n as u64));
            }
        }
    });
    out
}

/// What `safepath train` writes and the engine loads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub format: u32,
    /// A digest of the training lines: `check` and the tests compare it with the corpus.
    pub corpus: String,
    pub labels: Vec<String>,
    /// The n-gram keys seen in at least `min_df` training lines, sorted.
    pub keys: Vec<u64>,
    pub idf: Vec<f32>,
    /// `keys.len() × labels.len()`, a row a key.
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    /// Logits are divided by it before the softmax.
    pub temperature: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("the model file cannot be read ({0}); rebuild it with `safepath train`")]
    Decode(String),
    #[error("the model file is of format {found}, this program reads {FORMAT}; rebuild it with `safepath train`")]
    Format { found: u32 },
    #[error("the model file is inconsistent: {0}; rebuild it with `safepath train`")]
    Shape(&'static str),
}

impl ModelFile {
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("a model serialises")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<ModelFile, ModelError> {
        let f: ModelFile =
            postcard::from_bytes(bytes).map_err(|e| ModelError::Decode(e.to_string()))?;
        if f.format != FORMAT {
            return Err(ModelError::Format { found: f.format });
        }
        let k = f.labels.len();
        if k < 2 {
            return Err(ModelError::Shape("fewer than two labels"));
        }
        if f.idf.len() != f.keys.len() || f.weights.len() != f.keys.len() * k || f.bias.len() != k {
            return Err(ModelError::Shape("the tables' sizes disagree"));
        }
        if f.temperature.is_nan() || f.temperature <= 0.0 {
            return Err(ModelError::Shape("the temperature is not positive"));
        }
        Ok(f)
    }
}

/// A loaded model: an open-addressing table from n-gram key to row.
#[derive(Debug, Clone)]
pub struct Model {
    file: ModelFile,
    /// Power-of-two slots of (key, row + 1); 0 marks an empty slot.
    slots: Vec<(u64, u32)>,
    mask: usize,
    /// Each row's weights times its idf: a message's logits are the sum of its rows over the
    /// norm, one pass and one division.
    scaled: Vec<f32>,
}

/// A probability for each label of the model, in the model's label order.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub probs: SmallVec<[f32; 24]>,
}

impl Prediction {
    /// The most probable label's index and probability.
    pub fn best(&self) -> (usize, f32) {
        self.probs
            .iter()
            .copied()
            .enumerate()
            .fold((0, f32::MIN), |b, (i, p)| if p > b.1 { (i, p) } else { b })
    }
}

impl Model {
    pub fn new(file: ModelFile) -> Model {
        let size = (file.keys.len() * 2).next_power_of_two().max(16);
        let mask = size - 1;
        let mut slots = vec![(0u64, 0u32); size];
        for (row, &key) in file.keys.iter().enumerate() {
            let mut i = slot_of(key, mask);
            while slots[i].1 != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = (key, row as u32 + 1);
        }
        let k = file.labels.len();
        let scaled = file
            .weights
            .chunks(k)
            .zip(&file.idf)
            .flat_map(|(row, idf)| row.iter().map(move |w| w * idf))
            .collect();
        Model {
            file,
            slots,
            mask,
            scaled,
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        Ok(Model::new(ModelFile::from_bytes(bytes)?))
    }

    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    pub fn labels(&self) -> &[String] {
        &self.file.labels
    }

    pub fn label(&self, id: &str) -> Option<usize> {
        self.file.labels.iter().position(|l| l == id)
    }

    fn row(&self, key: u64) -> Option<usize> {
        let mut i = slot_of(key, self.mask);
        loop {
            match self.slots[i] {
                (_, 0) => return None,
                (k, r) if k == key => return Some(r as usize - 1),
                _ => i = (i + 1) & self.mask,
            }
        }
    }

    /// The label probabilities of a message's features (what [`logits_into`] computes for
    /// training, with the idf folded into the rows).
    pub fn predict(&self, features: &[u64]) -> Prediction {
        let k = self.file.labels.len();
        let mut sum: SmallVec<[f32; 24]> = smallvec::smallvec![0.0; k];
        let mut norm = 0.0f32;
        for r in features.iter().filter_map(|&f| self.row(f)) {
            norm += self.file.idf[r] * self.file.idf[r];
            for (s, w) in sum.iter_mut().zip(&self.scaled[r * k..(r + 1) * k]) {
                *s += w;
            }
        }
        let norm = norm.sqrt();
        let logits: SmallVec<[f32; 24]> = self
            .file
            .bias
            .iter()
            .zip(&sum)
            .map(|(b, s)| if norm > 0.0 { b + s / norm } else { *b })
            .collect();
        Prediction {
            probs: softmax(&logits, self.file.temperature),
        }
    }
}

fn slot_of(key: u64, mask: usize) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
}

/// Adds the TF-IDF-weighted, L2-normalised rows of the features present to `logits`.
fn logits_into(f: &ModelFile, rows: &[usize], logits: &mut [f32]) {
    let k = f.labels.len();
    let norm = rows
        .iter()
        .map(|&r| f.idf[r] * f.idf[r])
        .sum::<f32>()
        .sqrt();
    if norm == 0.0 {
        return;
    }
    for &r in rows {
        let x = f.idf[r] / norm;
        for (l, w) in logits.iter_mut().zip(&f.weights[r * k..(r + 1) * k]) {
            *l += x * w;
        }
    }
}

fn softmax(logits: &[f32], temperature: f32) -> SmallVec<[f32; 24]> {
    let max = logits.iter().copied().fold(f32::MIN, f32::max);
    let mut p: SmallVec<[f32; 24]> = logits
        .iter()
        .map(|&l| ((l - max) / temperature).exp())
        .collect();
    let sum: f32 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= sum);
    p
}

/// How a model is trained. The defaults are what the shipped models use.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    pub epochs: u32,
    pub rate: f32,
    pub l2: f32,
    /// An n-gram must occur in this many training lines to become a feature.
    pub min_df: u32,
    pub seed: u64,
    /// Folds for fitting the temperature (0: none, temperature 1).
    pub folds: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 30,
            rate: 0.5,
            l2: 1e-5,
            // Seen once, an n-gram is more often noise than a clue (measured on real questions:
            // 0.681 against 0.656), and the files are a third the size.
            min_df: 2,
            seed: 0x5afe_9a7b,
            folds: 5,
        }
    }
}

/// One labelled line, as features.
#[derive(Debug, Clone)]
pub struct Sample {
    pub features: Features,
    pub label: usize,
}

/// A deterministic pseudo-random order (xorshift64*; no dependency, and the same on every
/// machine).
fn shuffle(order: &mut [usize], state: &mut u64) {
    for i in (1..order.len()).rev() {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        order.swap(i, (r % (i as u64 + 1)) as usize);
    }
}

/// What training measured on the way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainReport {
    /// Accuracy on each fold of the cross-validation, by a model trained without it.
    pub out_of_fold_accuracy: f32,
}

/// Trains a model on `samples` over `labels`; `corpus` is the digest recorded in the file.
pub fn train(
    samples: &[Sample],
    labels: &[String],
    corpus: &str,
    o: TrainOptions,
) -> (ModelFile, TrainReport) {
    let (temperature, out_of_fold_accuracy) = if o.folds >= 2 && samples.len() >= o.folds * 2 {
        fit_temperature(samples, labels, o)
    } else {
        (1.0, 0.0)
    };
    let mut f = fit(samples, labels, o);
    f.corpus = corpus.to_owned();
    f.temperature = temperature;
    (
        f,
        TrainReport {
            out_of_fold_accuracy,
        },
    )
}

fn fit(samples: &[Sample], labels: &[String], o: TrainOptions) -> ModelFile {
    let k = labels.len();
    let mut df: HashMap<u64, u32> = HashMap::new();
    for s in samples {
        for &f in &s.features {
            *df.entry(f).or_default() += 1;
        }
    }
    let mut keys: Vec<u64> = df
        .iter()
        .filter(|(_, &n)| n >= o.min_df)
        .map(|(&k, _)| k)
        .collect();
    keys.sort_unstable();
    let n = samples.len() as f32;
    let idf: Vec<f32> = keys
        .iter()
        .map(|k| ((1.0 + n) / (1.0 + df[k] as f32)).ln() + 1.0)
        .collect();
    let index: HashMap<u64, usize> = keys.iter().enumerate().map(|(i, &k)| (k, i)).collect();
    let rows: Vec<Vec<usize>> = samples
        .iter()
        .map(|s| {
            s.features
                .iter()
                .filter_map(|f| index.get(f).copied())
                .collect()
        })
        .collect();
    let mut m = ModelFile {
        format: FORMAT,
        corpus: String::new(),
        labels: labels.to_vec(),
        weights: vec![0.0; keys.len() * k],
        idf,
        keys,
        bias: vec![0.0; k],
        temperature: 1.0,
    };
    let mut order: Vec<usize> = (0..samples.len()).collect();
    let mut state = o.seed | 1;
    let mut step = 0u64;
    let mut logits = vec![0.0f32; k];
    for _ in 0..o.epochs {
        shuffle(&mut order, &mut state);
        for &i in &order {
            let rate = o.rate / (1.0 + step as f32 * 1e-4);
            step += 1;
            logits.copy_from_slice(&m.bias);
            logits_into(&m, &rows[i], &mut logits);
            let p = softmax(&logits, 1.0);
            let norm = rows[i]
                .iter()
                .map(|&r| m.idf[r] * m.idf[r])
                .sum::<f32>()
                .sqrt();
            for (l, &pl) in p.iter().enumerate() {
                let g = pl - f32::from(u8::from(l == samples[i].label));
                m.bias[l] -= rate * g;
                if norm == 0.0 {
                    continue;
                }
                for &r in &rows[i] {
                    let x = m.idf[r] / norm;
                    let w = &mut m.weights[r * k + l];
                    *w -= rate * (g * x + o.l2 * *w);
                }
            }
        }
    }
    m
}

/// The temperature that makes out-of-fold probabilities honest: the one of a grid that gives
/// the held-out folds the least log-loss; and the out-of-fold accuracy.
fn fit_temperature(samples: &[Sample], labels: &[String], o: TrainOptions) -> (f32, f32) {
    let mut held: Vec<(SmallVec<[f32; 24]>, usize)> = Vec::with_capacity(samples.len());
    for fold in 0..o.folds {
        let train: Vec<Sample> = samples
            .iter()
            .enumerate()
            .filter(|(i, _)| i % o.folds != fold)
            .map(|(_, s)| s.clone())
            .collect();
        let m = Model::new(fit(&train, labels, o));
        for s in samples.iter().skip(fold).step_by(o.folds) {
            let rows: SmallVec<[usize; 96]> = s.features.iter().filter_map(|&f| m.row(f)).collect();
            let mut logits: SmallVec<[f32; 24]> = SmallVec::from_slice(&m.file.bias);
            logits_into(&m.file, &rows, &mut logits);
            held.push((logits, s.label));
        }
    }
    let loss = |t: f32| -> f64 {
        held.iter()
            .map(|(l, y)| -f64::from(softmax(l, t)[*y].max(1e-9)).ln())
            .sum()
    };
    let right = held
        .iter()
        .filter(|(l, y)| {
            let p = Prediction {
                probs: softmax(l, 1.0),
            };
            p.best().0 == *y
        })
        .count();
    let t = (1..=60)
        .map(|i| i as f32 * 0.05)
        .map(|t| (t, loss(t)))
        .fold(
            (1.0, f64::MAX),
            |b, (t, l)| if l < b.1 { (t, l) } else { b },
        )
        .0;
    (t, right as f32 / held.len().max(1) as f32)
}

/// A stable digest of training lines (FNV-1a over label and text, in order), as hex.
pub fn digest<'a>(lines: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let h = lines.into_iter().fold(FNV_OFFSET, |h, (label, text)| {
        let h = fnv(label.bytes(), h);
        fnv(text.bytes().chain([0xFF]), h)
    });
    format!("{h:016x}")
}

/// The two models the engine uses: intents, and scam or not.
#[derive(Debug, Clone)]
pub struct Models {
    pub intents: Model,
    pub scam: Model,
}

/// The file names of the models in a directory (`model/` of the repository, compiled in).
pub const INTENTS_FILE: &str = "intents.bin";
pub const SCAM_FILE: &str = "scam.bin";

static SHIPPED_INTENTS: &[u8] = include_bytes!("../model/intents.bin");
static SHIPPED_SCAM: &[u8] = include_bytes!("../model/scam.bin");

impl Models {
    /// The models compiled into the binary from `model/`; none when that directory holds empty
    /// files (a catalog-only build).
    pub fn shipped() -> Result<Option<Models>, ModelError> {
        if SHIPPED_INTENTS.is_empty() || SHIPPED_SCAM.is_empty() {
            return Ok(None);
        }
        Ok(Some(Models {
            intents: Model::from_bytes(SHIPPED_INTENTS)?,
            scam: Model::from_bytes(SHIPPED_SCAM)?,
        }))
    }

    /// The scam model's probability that the message is a scam.
    pub fn scam_probability(&self, p: &Prediction) -> f32 {
        self.scam.label("scam").map_or(0.0, |i| p.probs[i])
    }

    /// The models `safepath train` wrote into `dir`.
    pub fn from_dir(dir: &std::path::Path) -> Result<Models, String> {
        let read = |name: &str| {
            let path = dir.join(name);
            let bytes =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Model::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
        };
        Ok(Models {
            intents: read(INTENTS_FILE)?,
            scam: read(SCAM_FILE)?,
        })
    }

    /// Writes both files into `dir`, each through a temporary file renamed into place, so a
    /// crash never leaves half a model where the engine would load it.
    pub fn write(
        dir: &std::path::Path,
        intents: &ModelFile,
        scam: &ModelFile,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (name, file) in [(INTENTS_FILE, intents), (SCAM_FILE, scam)] {
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, file.to_bytes())?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, dir.join(name))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_read_in_characters_and_english_in_words() {
        // 3 characters: 3 unigrams, 2 bigrams, 1 trigram.
        assert_eq!(features("被封了").len(), 6);
        // The same characters in another order share the unigrams only.
        let a = features("解封");
        let b = features("封解");
        assert_eq!(a.iter().filter(|k| b.contains(k)).count(), 2);
        // Separators end a run: no bigram across the comma.
        assert_eq!(features("解,封").len(), 2);
        // Amounts are the same unit whatever the digits; stems join word forms.
        assert_eq!(features("付300元"), features("付500元"));
        // Spaced out around the amount, the same n-grams; between two words, a space still ends
        // the run.
        assert_eq!(features("付费 6 元入群"), features("付费6元入群"));
        assert_eq!(features("付费6  元"), features("付费6元"));
        assert_ne!(features("被 封"), features("被封"));
        assert_eq!(features("pay 6").len(), features("pay").len() + 1);
        // A repeated n-gram is counted again.
        let f = features("哈哈");
        assert_eq!((f.len(), f[0] == f[2]), (3, true));
        let stem = |t: &str| {
            features(t)
                .into_iter()
                .collect::<std::collections::HashSet<_>>()
        };
        assert!(!stem("unblocked").is_disjoint(&stem("unblocking")));
        assert!(features("").is_empty() && features(" ,。!").is_empty());
    }

    fn toy() -> (Vec<Sample>, Vec<String>) {
        let labels = vec!["ban".to_string(), "delete".to_string()];
        let lines = [
            ("微信被封了怎么办", 0),
            ("号被封了能解吗", 0),
            ("账号被封禁了", 0),
            ("我被封号了", 0),
            ("怎么注销微信", 1),
            ("注销账号的步骤", 1),
            ("想把号注销掉", 1),
            ("注销以后还能恢复吗", 1),
        ];
        let samples = lines
            .iter()
            .map(|&(t, l)| Sample {
                features: features(t),
                label: l,
            })
            .collect();
        (samples, labels)
    }

    #[test]
    fn a_trained_model_generalises_to_an_unseen_phrasing() {
        let (samples, labels) = toy();
        let m = Model::new(train(&samples, &labels, "toy", TrainOptions::default()).0);
        let (best, p) = m.predict(&features("昨天被封了")).best();
        assert_eq!(labels[best], "ban");
        assert!(p > 0.5, "{p}");
        assert_eq!(
            labels[m.predict(&features("注销要多久")).best().0],
            "delete"
        );
    }

    #[test]
    fn training_is_deterministic_and_survives_the_file_format() {
        let (samples, labels) = toy();
        let a = train(&samples, &labels, "toy", TrainOptions::default()).0;
        let b = train(&samples, &labels, "toy", TrainOptions::default()).0;
        assert_eq!(a.to_bytes(), b.to_bytes());
        assert_eq!(ModelFile::from_bytes(&a.to_bytes()).unwrap(), a);
        // Another seed gives another model: the order really is shuffled.
        let c = train(
            &samples,
            &labels,
            "toy",
            TrainOptions {
                seed: 7,
                ..Default::default()
            },
        )
        .0;
        assert_ne!(a.weights, c.weights);
    }

    #[test]
    fn a_damaged_model_file_is_refused_with_a_reason() {
        let (samples, labels) = toy();
        let good = train(&samples, &labels, "toy", TrainOptions::default()).0;
        let bytes = good.to_bytes();
        assert!(matches!(
            ModelFile::from_bytes(&bytes[..bytes.len() / 2]),
            Err(ModelError::Decode(_))
        ));
        let mut old = good.clone();
        old.format = 0;
        assert!(matches!(
            ModelFile::from_bytes(&old.to_bytes()),
            Err(ModelError::Format { found: 0 })
        ));
        let mut short = good;
        short.idf.pop();
        assert!(matches!(
            ModelFile::from_bytes(&short.to_bytes()),
            Err(ModelError::Shape(_))
        ));
    }

    #[test]
    fn an_empty_message_predicts_the_prior() {
        let (samples, labels) = toy();
        let m = Model::new(train(&samples, &labels, "toy", TrainOptions::default()).0);
        let p = m.predict(&[]);
        assert!((p.probs.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
}
