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
    patterns: &'a [std::sync::Arc<str>],
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

/// Lines handed to a worker at a time: enough that the hand-off costs nothing, few enough that
/// memory stays flat however long the input is.
const BATCH: usize = 512;

/// How `run` works: with how many workers, and whether it reports progress on stderr.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub jobs: usize,
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            progress: false,
        }
    }
}

/// One line's answer, appended to `out`. Returns whether the line could be read.
fn classify_line(engine: &Engine, n: usize, line: &[u8], out: &mut Vec<u8>) -> bool {
    let written = match text_of(line) {
        Ok(text) => {
            let a = engine.analyze(&text);
            let top = a
                .intent
                .ranked
                .first()
                .filter(|c| c.intent == a.intent.intent);
            serde_json::to_writer(
                &mut *out,
                &Out {
                    text: &a.redacted,
                    intent: engine.catalog().public_id(&a.intent.intent),
                    confidence: (a.intent.confidence * 1000.0).round() / 1000.0,
                    lang: a.lang.map(|l| l.code()),
                    scam: &a.scam,
                    secrets: a.secrets.iter().map(|s| s.name()).collect(),
                    patterns: top.map(|c| c.patterns.as_slice()).unwrap_or(&[]),
                },
            )
            .map(|_| true)
        }
        Err(error) => serde_json::to_writer(&mut *out, &Failed { line: n, error }).map(|_| false),
    };
    out.push(b'\n');
    // Serialising our own structs into memory cannot fail.
    written.unwrap_or(false)
}

/// Classifies every line of `input`, streaming: a reader thread cuts the input into batches,
/// `jobs` workers classify them, and this thread writes the answers in input order. Returns
/// (lines classified, lines with errors).
pub fn run(
    engine: &Engine,
    input: impl BufRead + Send,
    mut out: impl Write,
    options: Options,
) -> std::io::Result<(usize, usize)> {
    use std::sync::mpsc::sync_channel;
    use std::sync::Mutex;

    let jobs = options.jobs.max(1);
    let (work_tx, work_rx) = sync_channel::<(usize, Vec<(usize, Vec<u8>)>)>(jobs * 2);
    let (done_tx, done_rx) = sync_channel::<(usize, Vec<u8>, usize, usize)>(jobs * 2);
    let work_rx = Mutex::new(work_rx);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> std::io::Result<()> {
            let mut batch = Vec::with_capacity(BATCH);
            let mut seq = 0;
            for (n, line) in input.split(b'\n').enumerate() {
                let line = line?;
                if line.iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                batch.push((n + 1, line));
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if work_tx.send((seq, full)).is_err() {
                        return Ok(()); // the writer stopped; its error is the one to report
                    }
                    seq += 1;
                }
            }
            if !batch.is_empty() {
                let _ = work_tx.send((seq, batch));
            }
            Ok(())
        });
        for _ in 0..jobs {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            scope.spawn(move || loop {
                let next = work_rx.lock().map(|rx| rx.recv());
                let Ok(Ok((seq, lines))) = next else { return };
                let mut buf = Vec::with_capacity(lines.len() * 256);
                let mut ok = 0;
                for (n, line) in &lines {
                    ok += usize::from(classify_line(engine, *n, line, &mut buf));
                }
                if done_tx.send((seq, buf, ok, lines.len() - ok)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let written = write_in_order(done_rx, &mut out, options.progress);
        // A failed write drops the receiver: workers and reader see closed channels and stop.
        let read = reader.join().expect("the reader does not panic");
        let counts = written?;
        read?;
        Ok(counts)
    })
}

/// Writes the workers' batches in input order; batches that finish early wait in `pending`.
fn write_in_order(
    done: std::sync::mpsc::Receiver<(usize, Vec<u8>, usize, usize)>,
    out: &mut impl Write,
    progress: bool,
) -> std::io::Result<(usize, usize)> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let mut pending = std::collections::BTreeMap::new();
    let (mut next, mut ok, mut bad) = (0, 0, 0);
    let started = std::time::Instant::now();
    let mut shown = started;
    for (seq, buf, good, failed) in done {
        pending.insert(seq, (buf, good, failed));
        while let Some((buf, good, failed)) = pending.remove(&next) {
            out.write_all(&buf)?;
            (ok, bad, next) = (ok + good, bad + failed, next + 1);
        }
        if progress && shown.elapsed().as_secs() >= 1 {
            shown = std::time::Instant::now();
            let rate = (ok + bad) as f64 / started.elapsed().as_secs_f64();
            eprint!("\rclassified {} lines ({rate:.0} lines/s)", ok + bad);
        }
    }
    if progress && shown != started {
        eprintln!("\rclassified {} lines                    ", ok + bad);
    }
    out.flush()?;
    Ok((ok, bad))
}
