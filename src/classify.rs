//! `safepath classify`: stateless, streaming. Each input line — a JSON object with a `text` field,
//! or plain text — gives one JSON object on output: `text` (redacted), `intent`, `confidence`,
//! `lang`, `scam {verdict, score, signals[]}`, `secrets[]` (kinds only), and `patterns` (what
//! fired for the chosen intent). Blank lines are skipped; a line that cannot be read (invalid
//! UTF-8, JSON without `text`, too long) gives `{"line": N, "error": …}` so outputs stay aligned.

use std::io::{BufRead, Write};

use serde::Serialize;

use crate::engine::{Engine, MAX_MESSAGE_BYTES};
use crate::scam::ScamResult;

#[derive(Serialize)]
struct Out<'a> {
    text: &'a str,
    intent: &'a str,
    confidence: f32,
    lang: Option<&'static str>,
    scam: &'a ScamResult,
    secrets: Vec<&'static str>,
    patterns: &'a [String],
}

#[derive(Serialize)]
struct Failed {
    line: usize,
    error: String,
}

fn text_of(line: &[u8]) -> Result<String, String> {
    let s = std::str::from_utf8(line).map_err(|e| format!("not valid UTF-8 ({e})"))?;
    if s.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "line too long ({} bytes; the limit is {MAX_MESSAGE_BYTES})",
            s.len()
        ));
    }
    let t = s.trim_start();
    if t.starts_with('{') {
        #[derive(serde::Deserialize)]
        struct In {
            text: String,
        }
        return serde_json::from_str::<In>(t)
            .map(|i| i.text)
            .map_err(|e| format!("not a JSON object with a string `text` ({e})"));
    }
    Ok(s.trim_end_matches('\r').to_owned())
}

/// Classifies every line of `input`. Returns (lines classified, lines with errors).
pub fn run(
    engine: &Engine,
    input: impl BufRead,
    out: impl Write,
) -> std::io::Result<(usize, usize)> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let (mut ok, mut bad) = (0, 0);
    for (n, line) in input.split(b'\n').enumerate() {
        let line = line?;
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match text_of(&line) {
            Ok(text) => {
                let a = engine.analyze(&text);
                let top = a
                    .intent
                    .ranked
                    .first()
                    .filter(|c| c.intent == a.intent.intent);
                serde_json::to_writer(
                    &mut out,
                    &Out {
                        text: &a.redacted,
                        intent: &a.intent.intent,
                        confidence: (a.intent.confidence * 1000.0).round() / 1000.0,
                        lang: a.lang.map(|l| l.code()),
                        scam: &a.scam,
                        secrets: a.secrets.iter().map(|s| s.name()).collect(),
                        patterns: top.map(|c| c.patterns.as_slice()).unwrap_or(&[]),
                    },
                )?;
                ok += 1;
            }
            Err(error) => {
                serde_json::to_writer(&mut out, &Failed { line: n + 1, error })?;
                bad += 1;
            }
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok((ok, bad))
}
