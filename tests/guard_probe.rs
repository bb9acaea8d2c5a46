//! The secret guard measured on an independent probe (`tests/data/guard-probe.jsonl`, written
//! apart from the guard, see its README): every line goes through the engine's analysis as a
//! user's message would.
//!
//! - A secret is caught when neither its value (as written, lower-cased or normalised) is left
//!   anywhere in the serialised analysis, nor any fragment of three or more digits of it (in any
//!   script) in the redacted or the normalised text.
//! - A line's kinds are right when the kinds reported are exactly the kinds labelled.
//! - A clean line is a false positive when its redacted text differs from the message or any
//!   secret is reported.

use std::collections::{BTreeMap, BTreeSet};

use safepath::engine::Engine;

struct Line {
    text: String,
    secrets: Vec<(String, String)>,
    category: String,
}

fn probe(file: &str) -> Vec<Line> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .expect("the probe file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            Line {
                text: v["text"].as_str().expect("text").to_owned(),
                secrets: v["secrets"]
                    .as_array()
                    .expect("secrets")
                    .iter()
                    .map(|s| {
                        (
                            s["value"].as_str().expect("value").to_owned(),
                            s["kind"].as_str().expect("kind").to_owned(),
                        )
                    })
                    .collect(),
                category: v["category"].as_str().expect("category").to_owned(),
            }
        })
        .collect()
}

/// A character people write a digit with: ASCII, full-width, or a Chinese numeral.
fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
        || ('０'..='９').contains(&c)
        || "零〇一二三四五六七八九两幺壹贰貳叁參肆伍陆陸柒捌玖".contains(c)
}

/// Every fragment of three or more digits of `value` (windows of three of its digit runs).
fn digit_fragments(value: &str) -> Vec<String> {
    let chars: Vec<char> = value.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !is_digit(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_digit(chars[i]) {
            i += 1;
        }
        for w in chars[start..i].windows(3) {
            out.push(w.iter().collect());
        }
    }
    out
}

#[derive(Default)]
struct Tally {
    secrets: usize,
    caught: usize,
    positive_lines: usize,
    kinds_right: usize,
    clean_lines: usize,
    false_positives: usize,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.secrets += o.secrets;
        self.caught += o.caught;
        self.positive_lines += o.positive_lines;
        self.kinds_right += o.kinds_right;
        self.clean_lines += o.clean_lines;
        self.false_positives += o.false_positives;
    }
    fn recall(&self) -> f64 {
        ratio(self.caught, self.secrets)
    }
    fn kind_accuracy(&self) -> f64 {
        ratio(self.kinds_right, self.positive_lines)
    }
    fn fpr(&self) -> f64 {
        ratio(self.false_positives, self.clean_lines)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

struct Measured {
    by_category: BTreeMap<String, Tally>,
    total: Tally,
    failures: Vec<String>,
}

fn measure(file: &str) -> Measured {
    let e = Engine::shipped().expect("shipped catalog");
    let mut by_category: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    for line in probe(file) {
        let a = e.analyze(&line.text);
        let out = serde_json::to_string(&a).expect("an analysis serialises");
        let t = by_category.entry(line.category.clone()).or_default();
        let reported: BTreeSet<&str> = a.secrets.iter().map(|k| k.name()).collect();
        if line.secrets.is_empty() {
            t.clean_lines += 1;
            if a.redacted != line.text || !reported.is_empty() {
                t.false_positives += 1;
                failures.push(format!(
                    "[{}] false positive: {} → {} {:?}",
                    line.category, line.text, a.redacted, reported
                ));
            }
            continue;
        }
        t.positive_lines += 1;
        for (value, _) in &line.secrets {
            t.secrets += 1;
            let normalised = e.catalog().normalizer.normalize(value).text;
            let whole = [value.clone(), value.to_lowercase(), normalised.clone()]
                .into_iter()
                .find(|s| out.contains(s.as_str()));
            // Fragments are looked for in the two texts only: the scores' decimals are digits.
            let left = whole.or_else(|| {
                digit_fragments(value)
                    .into_iter()
                    .chain(digit_fragments(&normalised))
                    .find(|s| a.redacted.contains(s.as_str()) || a.text.contains(s.as_str()))
            });
            match left {
                None => t.caught += 1,
                Some(s) => failures.push(format!(
                    "[{}] missed {value:?} ({s:?} left): {} → {}",
                    line.category, line.text, a.redacted
                )),
            }
        }
        let labelled: BTreeSet<&str> = line.secrets.iter().map(|(_, k)| k.as_str()).collect();
        if labelled == reported {
            t.kinds_right += 1;
        } else {
            failures.push(format!(
                "[{}] kinds {reported:?}, labelled {labelled:?}: {}",
                line.category, line.text
            ));
        }
    }
    let mut total = Tally::default();
    for t in by_category.values() {
        total.add(t);
    }
    Measured {
        by_category,
        total,
        failures,
    }
}

fn table(m: &Measured) -> String {
    let pct = |x: f64| {
        if x.is_nan() {
            "    -".to_owned()
        } else {
            format!("{:5.1}", 100.0 * x)
        }
    };
    let mut s = format!(
        "{:<22} {:>5} {:>8} {:>6} {:>6} {:>6}\n",
        "category", "lines", "secrets", "recall", "kinds", "FPR"
    );
    for (name, t) in m
        .by_category
        .iter()
        .chain(std::iter::once((&"ALL".to_owned(), &m.total)))
    {
        s.push_str(&format!(
            "{:<22} {:>5} {:>8} {:>6} {:>6} {:>6}\n",
            name,
            t.positive_lines + t.clean_lines,
            t.secrets,
            pct(t.recall()),
            pct(t.kind_accuracy()),
            pct(t.fpr()),
        ));
    }
    s
}

/// Measures a probe, prints its table and failures, and holds it to the targets.
fn holds_to_the_targets(file: &str) {
    let m = measure(file);
    println!("{}", table(&m));
    for f in &m.failures {
        println!("{f}");
    }
    let (recall, fpr) = (m.total.recall(), m.total.fpr());
    assert!(
        recall >= 0.99 && fpr <= 0.02,
        "{file}: recall {recall:.3} (target ≥ 0.99), false-positive rate {fpr:.3} (target ≤ 0.02)\n{}",
        table(&m)
    );
}

#[test]
fn the_guard_catches_every_secret_however_it_is_typed() {
    holds_to_the_targets("guard-probe.jsonl");
}

/// A second independent probe, written after the guard was rebuilt by someone who had not read
/// it, and measured once before any fix (figures in the commit that added it). The guard was
/// then fixed by the categories it missed, so this probe is no longer unseen: it now holds the
/// guard to the first probe's targets.
#[test]
fn a_second_independent_probe_holds_too() {
    holds_to_the_targets("guard-probe2.jsonl");
}
