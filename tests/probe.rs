//! Regression on the team's own probe sets (`tests/data/`): realistic messages written apart
//! from the shared development set. A drop below the bar means a catalog edit broke something.

use safepath::engine::Engine;
use safepath::scam::Verdict;

fn rows(file: &str) -> Vec<serde_json::Value> {
    let path = format!("{}/corpus/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn probe_intents_stay_above_the_bar() {
    let e = Engine::shipped().unwrap();
    let rows = rows("intents/probe.jsonl");
    let wrong: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let text = r["text"].as_str().unwrap();
            let got = e.analyze(text).intent.intent;
            (got != r["intent"].as_str().unwrap()).then(|| format!("{text} → {got}"))
        })
        .collect();
    let acc = 1.0 - wrong.len() as f64 / rows.len() as f64;
    assert!(acc >= 0.95, "accuracy {acc:.3}; wrong: {wrong:#?}");
}

#[test]
fn probe_scams_are_caught_without_false_alarms() {
    let e = Engine::shipped().unwrap();
    for r in rows("scam/probe.jsonl") {
        let text = r["text"].as_str().unwrap();
        let scam = e.analyze(text).scam.verdict == Verdict::Scam;
        assert_eq!(scam, r["scam"].as_bool().unwrap(), "{text}");
    }
}
