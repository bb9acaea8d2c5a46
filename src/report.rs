//! The scam-report log: what a report holds, and the exports and statistics the team reads.
//!
//! A report never holds a raw user id (only the session's salted hash) nor a secret (the text is
//! the guard's redacted text). The team's [`Label`] on a report (scam or not) is kept beside it,
//! with who set it as a salted hash too, and travels with it as a [`Labelled`] report.

use std::collections::BTreeMap;
use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::scam::{Indicator, Signal, Verdict};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Assigned by the store; unique and increasing.
    pub id: u64,
    /// Unix seconds.
    pub time: u64,
    pub channel: String,
    /// Salted hash of the reporting user's id.
    pub user: String,
    /// The message, secrets redacted.
    pub text: String,
    pub verdict: Verdict,
    pub score: f32,
    pub signals: Vec<Signal>,
    pub indicators: Vec<Indicator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What the team says a report is: the truth the detector is measured against and retrained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    Scam,
    NotScam,
}

impl LabelKind {
    pub fn name(self) -> &'static str {
        match self {
            LabelKind::Scam => "scam",
            LabelKind::NotScam => "not_scam",
        }
    }

    pub fn is_scam(self) -> bool {
        self == LabelKind::Scam
    }
}

/// A label on a report: the latest one set wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub label: LabelKind,
    /// Salted hash of who set it (an API client's name or a Telegram admin's id).
    pub by: String,
    /// Unix seconds.
    pub time: u64,
    /// Free text, redacted like any message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A report with the team's label, if it has one: what the API, the exports and retraining read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Labelled {
    #[serde(flatten)]
    pub report: Report,
    #[serde(default)]
    pub label: Option<Label>,
}

/// Reads labelled reports as `reports export --format jsonl` (or `GET /v1/reports`, one report a
/// line) writes them; `name` names the input in errors, with the line.
pub fn read_jsonl(name: &str, text: &str) -> Result<Vec<Labelled>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                format!(
                    "{name}:{}: not a report as `reports export` writes it: {e}",
                    i + 1
                )
            })
        })
        .collect()
}

/// The day (UTC, `YYYY-MM-DD`) of a unix time.
pub fn day(unix: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let d = t.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Unix seconds at the start of a `YYYY-MM-DD` day (UTC).
pub fn parse_day(s: &str) -> Result<u64, String> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s.trim(), &fmt)
        .map_err(|_| format!("`{s}` is not a date; write it as YYYY-MM-DD"))?;
    Ok(d.midnight().assume_utc().unix_timestamp().max(0) as u64)
}

pub fn write_jsonl(reports: &[Labelled], out: &mut impl Write) -> std::io::Result<()> {
    for r in reports {
        serde_json::to_writer(&mut *out, r)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

pub fn write_csv(reports: &[Labelled], out: &mut impl Write) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "id",
        "time",
        "day",
        "channel",
        "user",
        "verdict",
        "score",
        "signals",
        "indicators",
        "text",
        "note",
        "label",
        "labelled_by",
        "label_note",
    ])?;
    for Labelled { report: r, label } in reports {
        let signals: Vec<&str> = r
            .signals
            .iter()
            .filter(|s| s.weight > 0.0)
            .map(|s| s.name.as_str())
            .collect();
        let inds: Vec<String> = r.indicators.iter().map(|i| i.key()).collect();
        w.write_record([
            r.id.to_string(),
            r.time.to_string(),
            day(r.time),
            r.channel.clone(),
            r.user.clone(),
            r.verdict.name().to_string(),
            format!("{:.3}", r.score),
            signals.join(";"),
            inds.join(";"),
            r.text.clone(),
            r.note.clone().unwrap_or_default(),
            label.as_ref().map_or("", |l| l.label.name()).to_string(),
            label.as_ref().map_or(String::new(), |l| l.by.clone()),
            label
                .as_ref()
                .and_then(|l| l.note.clone())
                .unwrap_or_default(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// Counts by day, by signal, by verdict, and the most named contacts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub total: usize,
    pub by_day: BTreeMap<String, usize>,
    pub by_signal: BTreeMap<String, usize>,
    pub by_verdict: BTreeMap<String, usize>,
    pub top_indicators: Vec<(String, usize)>,
    pub labels: LabelStats,
}

/// The team's labels, and how the detector fares against them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabelStats {
    pub scam: usize,
    pub not_scam: usize,
    /// Labelled reports the detector called a scam.
    pub flagged: usize,
    /// … of which the team labelled scam.
    pub flagged_right: usize,
    /// `flagged_right / flagged`: the detector's precision on labelled reports (none while no
    /// labelled report was flagged).
    pub precision: Option<f64>,
}

pub fn stats(reports: &[Report], top: usize) -> Stats {
    let mut t = Tally::default();
    for r in reports {
        t.add(r);
    }
    t.finish(top)
}

/// [`Stats`] counted one report at a time, so a long log can be read in pages instead of whole.
#[derive(Debug, Default)]
pub struct Tally {
    stats: Stats,
    indicators: BTreeMap<String, usize>,
}

impl Tally {
    pub fn add(&mut self, r: &Report) {
        let s = &mut self.stats;
        s.total += 1;
        *s.by_day.entry(day(r.time)).or_default() += 1;
        *s.by_verdict.entry(r.verdict.name().into()).or_default() += 1;
        for sig in r.signals.iter().filter(|x| x.weight > 0.0) {
            *s.by_signal.entry(sig.name.clone()).or_default() += 1;
        }
        for i in r.indicators.iter().filter(|i| i.kind.is_contact()) {
            *self.indicators.entry(i.key()).or_default() += 1;
        }
    }

    /// Counts a report with its label (if any).
    pub fn add_labelled(&mut self, r: &Labelled) {
        self.add(&r.report);
        let Some(label) = &r.label else { return };
        let l = &mut self.stats.labels;
        match label.label {
            LabelKind::Scam => l.scam += 1,
            LabelKind::NotScam => l.not_scam += 1,
        }
        if r.report.verdict == Verdict::Scam {
            l.flagged += 1;
            l.flagged_right += usize::from(label.label.is_scam());
        }
    }

    /// The counts, with the `top` most named contacts.
    pub fn finish(self, top: usize) -> Stats {
        let mut v: Vec<(String, usize)> = self.indicators.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(top);
        let mut stats = Stats {
            top_indicators: v,
            ..self.stats
        };
        let l = &mut stats.labels;
        l.precision = (l.flagged > 0).then(|| l.flagged_right as f64 / l.flagged as f64);
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        let t = parse_day("2026-11-22").unwrap();
        assert_eq!(day(t), "2026-11-22");
        assert_eq!(day(t + 86_399), "2026-11-22");
        assert!(parse_day("22/11/2026").is_err());
    }
}
