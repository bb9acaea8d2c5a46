//! One pass of the engine over corpus messages, for counting instructions (`bench/instructions`):
//! a count that, unlike a time, does not drift with the machine's load, so two builds compare
//! within a fraction of a percent on a busy machine.
//!
//!     cargo run --release --example engine_pass -- CORPUS [MESSAGES]
//!
//! Warms the engine on 20,000 other messages (the regex crate's lazy automata and the fold
//! table are built as messages need them), then analyses the first MESSAGES (default 5,000) in
//! [`measured`], the function the count covers.

use safepath::engine::Engine;

/// The counted pass: every message analysed once.
#[inline(never)]
fn measured(engine: &Engine, texts: &[String]) -> usize {
    texts
        .iter()
        .map(|t| std::hint::black_box(engine.analyze(t)).text.len())
        .sum()
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let corpus = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: engine_pass CORPUS [MESSAGES]"))?;
    let n: usize = args.next().map_or(Ok(5_000), |a| a.parse())?;
    let texts: Vec<String> = std::fs::read_to_string(&corpus)?
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            Ok(v["text"].as_str().unwrap_or_default().to_owned())
        })
        .collect::<anyhow::Result<_>>()?;
    const WARM: usize = 20_000;
    anyhow::ensure!(
        texts.len() >= n + WARM,
        "{corpus}: fewer than {} lines",
        n + WARM
    );
    let engine = Engine::shipped()?;
    // Warm-up on other messages than the counted ones.
    for t in &texts[texts.len() - WARM..] {
        std::hint::black_box(engine.analyze(t));
    }
    std::hint::black_box(measured(&engine, &texts[..n]));
    Ok(())
}
