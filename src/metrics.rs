//! Counters every frontend shares, exposed in the Prometheus text format on `GET /metrics`.
//! One [`Metrics`] per process (no global registry), so tests can read their own counts.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::reply::Reply;

type Label = [(&'static str, String); 1];
type Labels2 = [(&'static str, String); 2];

/// The channels counted by name: the frontends' own. Any other, such as a channel a desk names in
/// `POST /v1/reports`, is counted as [`OTHER_CHANNEL`]: a label per client-chosen value would let
/// clients grow the exposition without bound (3,000 channels made 3,530 lines).
pub const CHANNELS: [&str; 4] = ["api", "ticket", "telegram", "terminal"];
pub const OTHER_CHANNEL: &str = "other";

fn channel_label(channel: &str) -> Label {
    let name = CHANNELS
        .into_iter()
        .find(|c| *c == channel)
        .unwrap_or(OTHER_CHANNEL);
    [("channel", name.into())]
}

fn latency_histogram() -> Histogram {
    // 50 µs … ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    turns: Family<Label, Counter>,
    intents: Family<Label, Counter>,
    deflections: Counter,
    verdicts: Family<Label, Counter>,
    reports: Family<Label, Counter>,
    secrets: Family<Label, Counter>,
    rate_limited: Family<Label, Counter>,
    store_errors: Counter,
    requests: Family<Labels2, Counter>,
    latency: Family<Label, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("safepath"),
            turns: Family::default(),
            intents: Family::default(),
            deflections: Counter::default(),
            verdicts: Family::default(),
            reports: Family::default(),
            secrets: Family::default(),
            rate_limited: Family::default(),
            store_errors: Counter::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        };
        let r = &mut m.registry;
        r.register("turns", "Messages answered, by channel", m.turns.clone());
        r.register(
            "intents",
            "Messages by recognised intent",
            m.intents.clone(),
        );
        r.register(
            "deflections",
            "Tickets answered without a person",
            m.deflections.clone(),
        );
        r.register("scam_verdicts", "Scam verdicts given", m.verdicts.clone());
        r.register(
            "reports",
            "Scam reports durably recorded, by channel",
            m.reports.clone(),
        );
        r.register(
            "secrets_redacted",
            "Secrets found in messages and redacted, by kind",
            m.secrets.clone(),
        );
        r.register(
            "rate_limited",
            "Messages refused by flood control, by channel",
            m.rate_limited.clone(),
        );
        r.register(
            "store_errors",
            "Store reads or writes that failed",
            m.store_errors.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests by route and status",
            m.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            m.latency.clone(),
        );
        m
    }
}

impl Metrics {
    /// Counts one answered message.
    pub fn reply(&self, channel: &str, reply: &Reply) {
        self.turns.get_or_create(&channel_label(channel)).inc();
        self.intents
            .get_or_create(&[("intent", reply.intent.clone())])
            .inc();
        self.verdicts
            .get_or_create(&[("verdict", reply.scam.verdict.name().into())])
            .inc();
        for s in &reply.secrets {
            self.secrets.get_or_create(&[("kind", (*s).into())]).inc();
        }
    }

    pub fn deflection(&self) {
        self.deflections.inc();
    }

    pub fn report(&self, channel: &str) {
        self.reports.get_or_create(&channel_label(channel)).inc();
    }

    pub fn rate_limited(&self, channel: &str) {
        self.rate_limited
            .get_or_create(&channel_label(channel))
            .inc();
    }

    pub fn store_error(&self) {
        self.store_errors.inc();
    }

    pub fn request(&self, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&[("route", route.into()), ("status", status.to_string())])
            .inc();
        self.latency
            .get_or_create(&[("route", route.into())])
            .observe(took.as_secs_f64());
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The engine in use, for `/metrics`: `safepath_engine_info{version}` (a hash of the catalog
/// and models), `safepath_engine_loaded_timestamp_seconds` (when it was loaded: at start or by
/// the last reload) and `safepath_engine_reloads_refused_total`. Ends with `# EOF`, so it goes
/// after a [`Metrics::render`] whose own `# EOF` is taken off.
pub fn render_engine(version: &str, loaded_at: u64, refused: u64) -> String {
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::info::Info;
    let mut r = Registry::with_prefix("safepath");
    r.register(
        "engine",
        "The catalog and models in use (version: a hash of both)",
        Info::new(vec![("version".to_owned(), version.to_owned())]),
    );
    let loaded: Gauge = Gauge::default();
    loaded.set(i64::try_from(loaded_at).unwrap_or(i64::MAX));
    r.register(
        "engine_loaded_timestamp_seconds",
        "When the catalog and models in use were loaded (unix seconds)",
        loaded,
    );
    let refused_total: Counter = Counter::default();
    refused_total.inc_by(refused);
    r.register(
        "engine_reloads_refused",
        "Reloads refused because the catalog or a model was broken",
        refused_total,
    );
    let mut out = String::new();
    let _ = encode(&mut out, &r);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_appear_in_the_exposition() {
        let m = Metrics::default();
        m.rate_limited("telegram");
        m.rate_limited("telegram");
        m.request("/v1/tickets", 200, Duration::from_micros(300));
        let text = m.render();
        assert!(
            text.contains("safepath_rate_limited_total{channel=\"telegram\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("safepath_http_request_duration_seconds_count{route=\"/v1/tickets\"} 1")
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn client_chosen_channels_do_not_grow_the_exposition() {
        let m = Metrics::default();
        m.report("api");
        m.report("desk-0");
        m.rate_limited("desk-0");
        let lines = m.render().lines().count();
        for i in 1..3000 {
            m.report(&format!("desk-{i}"));
            m.rate_limited(&format!("desk-{i}"));
        }
        let text = m.render();
        assert!(!text.contains("desk-"), "{text}");
        assert!(text.contains("safepath_reports_total{channel=\"other\"} 3000"));
        assert!(text.contains("safepath_reports_total{channel=\"api\"} 1"));
        assert_eq!(text.lines().count(), lines, "{text}");
    }
}
