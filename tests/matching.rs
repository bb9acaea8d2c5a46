//! The pattern matcher answers exactly what the catalog's regexes answer. It decides matches
//! without running them (see `src/patterns.rs`), so every shipped pattern is held to its regex's
//! `is_match` on every labelled message and on random splices and mutations of them.

mod common;

use std::sync::OnceLock;

use proptest::prelude::*;
use safepath::catalog::Catalog;

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| common::engine().catalog().clone())
}

/// Every labelled message of the repository (and of the shared development set, when present),
/// normalised as the engine normalises them.
fn texts() -> &'static [String] {
    static T: OnceLock<Vec<String>> = OnceLock::new();
    T.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let files = [
            dir.join("corpus/intents/probe.jsonl"),
            dir.join("corpus/scam/probe.jsonl"),
            dir.join("../shared/eval/dev-intents.jsonl"),
            dir.join("../shared/eval/dev-scam.jsonl"),
        ];
        let mut out = Vec::new();
        for f in files.iter().filter(|f| f.exists()) {
            for line in std::fs::read_to_string(f).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let raw = v["text"].as_str().unwrap();
                out.push(catalog().normalizer.normalize(raw).text);
            }
        }
        assert!(out.len() > 400, "the probe sets are missing");
        out
    })
}

fn by_regex(text: &str) -> Vec<usize> {
    let p = &catalog().patterns;
    (0..p.len())
        .filter(|&i| p.regex(i).is_match(text))
        .collect()
}

fn assert_same(text: &str) {
    let p = &catalog().patterns;
    let got = p.matches(text);
    let want = by_regex(text);
    if got != want {
        let name = |i: &usize| p.source[*i].clone();
        panic!(
            "{text:?}\n  matcher only: {:?}\n  regex only: {:?}",
            got.iter()
                .filter(|i| !want.contains(i))
                .map(name)
                .collect::<Vec<_>>(),
            want.iter()
                .filter(|i| !got.contains(i))
                .map(name)
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn every_labelled_message_matches_as_the_regexes_say() {
    let mut matched = 0;
    for t in texts() {
        assert_same(t);
        matched += by_regex(t).len();
    }
    // The comparison means something only if patterns do match.
    assert!(matched > 1000, "{matched}");
}

/// Messages of up to 126 characters are evaluated over one `u128`, longer ones over words (kept
/// inline up to 511 characters): both forms are held to the regexes, on both sides of those
/// lengths and of word edges.
#[test]
fn messages_either_side_of_the_bit_set_length_match_as_the_regexes_say() {
    let t = texts();
    for (i, x) in t.iter().enumerate().step_by(3) {
        let y = &t[(i * 7 + 1) % t.len()];
        let long = format!("{x} {y} {x},{y}");
        for n in [125, 126, 127, 128, 191, 192, 300, 511, 512, 513] {
            let s: String = long.chars().cycle().take(n).collect();
            assert_same(&s);
            assert_same_first_match(&s);
        }
    }
}

/// Long messages (a pasted chat log): many labelled messages in a row, so that occurrences,
/// runs of digits and letters and gaps fall anywhere in thousands of positions.
#[test]
fn long_messages_match_as_the_regexes_say() {
    let t = texts();
    for (k, start) in (0..t.len()).step_by(37).enumerate() {
        let take = 8 + k % 40;
        let sep = ["", " ", "，", "300", "abc"][k % 5];
        // At least `take` messages, and past the one-word bit set (short greetings in a row
        // would not get there).
        let mut long = String::new();
        for (n, m) in t.iter().cycle().skip(start).enumerate() {
            if n >= take && long.chars().count() > 127 {
                break;
            }
            if n > 0 {
                long.push_str(sep);
            }
            long.push_str(m);
        }
        assert_same(&long);
        assert_same_first_match(&long);
    }
}

#[test]
fn multi_line_and_empty_messages_match_as_the_regexes_say() {
    for t in ["", "\n", "微信\n被封了", "解封\n\n300元", " ", "封了3天\n"] {
        assert_same(t);
    }
}

/// Pieces that move a message across pattern boundaries: digits, blanks, the optional words
/// of many patterns, punctuation, anchors' neighbours.
const PIECES: &[&str] = &[
    "", " ", "  ", "了", "被", "号", "元", "块", "天", "3", "300", "482913", ",", "?", "!", "。",
    "a", "v", "pay", "ban", "@", "-", "_", ".", "http://", "微信", "解封", "不会", "7 days",
];

fn char_cut(s: &str, at: usize) -> usize {
    let n = s.chars().count();
    s.char_indices()
        .nth(at % (n + 1))
        .map_or(s.len(), |(i, _)| i)
}

/// The head of one labelled message and the tail of another, then pieces dropped in.
fn splice(
    a: prop::sample::Index,
    b: prop::sample::Index,
    cuts: (usize, usize),
    inserts: Vec<(usize, &str)>,
) -> String {
    let t = texts();
    let (x, y) = (&t[a.index(t.len())], &t[b.index(t.len())]);
    let mut s = format!("{}{}", &x[..char_cut(x, cuts.0)], &y[char_cut(y, cuts.1)..]);
    for (at, piece) in inserts {
        let i = char_cut(&s, at);
        s.insert_str(i, piece);
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::fuzz_cases()))]

    #[test]
    fn spliced_and_mutated_messages_match_as_the_regexes_say(
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
        cuts in (0usize..200, 0usize..200),
        inserts in prop::collection::vec((0usize..200, prop::sample::select(PIECES)), 0..4),
    ) {
        let s = splice(a, b, cuts, inserts);
        assert_same(&s);
        assert_same_first_match(&s);
    }
}

/// `Patterns::find` (the evaluator's leftmost start, then an anchored search) reports the very
/// match the regex's own `find` does: it is the evidence users and reports see.
fn assert_same_first_match(text: &str) {
    let p = &catalog().patterns;
    for i in p.matches(text) {
        let got = p.find(i, text).map(|m| m.range());
        let want = p.regex(i).find(text).map(|m| m.range());
        assert_eq!(got, want, "{text:?}: pattern {}", p.source[i]);
    }
}

#[test]
fn first_matches_are_the_regexes_first_matches() {
    for t in texts() {
        assert_same_first_match(t);
    }
}
