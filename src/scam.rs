//! Stage 3: is this message a scam? Every verdict carries the [`Signal`]s that produced it.
//!
//! In: the redacted normalised text, the catalog patterns that fired, and the contacts earlier
//! reports already named. Out: [`ScamResult`] — verdict, score, signals, and the [`Indicator`]s
//! (phones, QQ numbers, app ids, Telegram handles, links, amounts) found in the text.
//!
//! Signals and their weights are catalog data (`intents/scam.toml`). A negatable signal is
//! ignored when a negation word stands just before it in the same clause ("官方**不会**索要验证码").
//! Contexts — the sender is warning others, or asking whether something is a scam — scale the
//! score down. Two signals are computed here because they need code: a link that claims to be
//! official but is not on an official domain, and a contact that earlier reports named.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Owner, WordSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Scam,
    Suspicious,
    Clean,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Scam => "scam",
            Verdict::Suspicious => "suspicious",
            Verdict::Clean => "clean",
        }
    }
}

/// One reason for a verdict. A context signal has a negative weight: what it took off the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub name: String,
    pub weight: f32,
    pub evidence: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    Phone,
    Qq,
    WechatId,
    Telegram,
    Url,
    Amount,
}

impl IndicatorKind {
    pub fn name(self) -> &'static str {
        match self {
            IndicatorKind::Phone => "phone",
            IndicatorKind::Qq => "qq",
            IndicatorKind::WechatId => "wechat_id",
            IndicatorKind::Telegram => "telegram",
            IndicatorKind::Url => "url",
            IndicatorKind::Amount => "amount",
        }
    }
    /// Contacts build a reputation; amounts do not.
    pub fn is_contact(self) -> bool {
        self != IndicatorKind::Amount
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub struct Indicator {
    pub kind: IndicatorKind,
    pub value: String,
}

impl Indicator {
    /// The key under which the reputation of this contact is kept.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind.name(), self.value)
    }
}

impl ScamResult {
    /// The family of scam the verdict rests on: the heaviest signal of the catalog that fired,
    /// a pattern's before the learned model's likeness (which names no scheme).
    pub fn family<'c>(&self, catalog: &'c Catalog) -> Option<&'c crate::catalog::SignalDef> {
        let learned = catalog
            .scam
            .learned
            .map(|i| catalog.signals[i].name.as_str());
        self.signals
            .iter()
            .filter(|s| s.weight > 0.0)
            .max_by(|a, b| {
                let rank = |s: &Signal| (Some(s.name.as_str()) != learned, s.weight);
                rank(a)
                    .partial_cmp(&rank(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .and_then(|s| catalog.signals.iter().find(|d| d.name == s.name))
    }

    /// The message carries signals that add up to a scam, but only because it retells or asks
    /// about someone else's offer: a context (warning, question, reported speech) brought it down.
    pub fn retold(&self, scam_at: f32) -> bool {
        let raw: f32 = self
            .signals
            .iter()
            .filter(|s| s.weight > 0.0)
            .map(|s| s.weight)
            .sum();
        let warned = self.signals.iter().any(|s| s.name == "warning_context");
        raw >= scam_at && !warned && self.signals.iter().any(|s| s.weight < 0.0)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScamResult {
    pub verdict: Verdict,
    pub score: f32,
    pub signals: Vec<Signal>,
    #[serde(skip)]
    pub indicators: Vec<Indicator>,
    /// A fee or paid unblocking was mentioned (even in a question): the fee warning is due.
    #[serde(skip)]
    pub fee_mentioned: bool,
}

static INDICATORS: LazyLock<Vec<(IndicatorKind, Regex)>> = LazyLock::new(|| {
    let r = |s: &str| Regex::new(s).expect("static regex");
    vec![
        (
            IndicatorKind::Url,
            r(
                r"(?:https?://|www\.)[^\s,，。!！?？)）]+|[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:com|cn|top|xyz|net|cc|vip|me|io|org|info|site|online|shop|app|link|icu|club|pw|tk|ml|ga|cfd|cf|gq|ren|wang|ltd|cyou|sbs|bond|work|live|fun|biz)(?:/[^\s,，。]*)?",
            ),
        ),
        (IndicatorKind::Phone, r(r"(?:^|\D)(1[3-9]\d{9})(?:\D|$)")),
        (
            IndicatorKind::Qq,
            r(r"(?:qq|q号|扣扣|企鹅|\+q|加q)\s*号?\s*[:=]?\s*(\d{5,11})"),
        ),
        (
            IndicatorKind::WechatId,
            r(
                r"(?:微信号?|\+v|加v|加微信|(?-u:\b)v)\s*[:=]\s*([a-z][a-z0-9_-]{3,19})|(?:\+v|加v|加微信)\s*([a-z][a-z0-9_-]{3,19})",
            ),
        ),
        (
            IndicatorKind::Telegram,
            r(r"(?:^|[^a-z0-9_.])@([a-z][a-z0-9_]{3,31})|t\.me/([a-z][a-z0-9_]{3,31})"),
        ),
        (
            IndicatorKind::Amount,
            r(r"\d+(?:\.\d+)?\s*(?:元|块钱|块|rmb|usdt|美元|dollars?)|[¥$]\s*\d+(?:\.\d+)?"),
        ),
    ]
});

/// Phones, QQ numbers, app ids, handles, links and amounts named in a (redacted) text.
pub fn indicators(text: &str) -> Vec<Indicator> {
    let mut out: Vec<Indicator> = Vec::new();
    // What each rule cannot match without: most messages name no contact, and then no rule runs.
    let digits = crate::guard::Digits::of(text);
    let any = |words: &[&str]| words.iter().any(|w| text.contains(w));
    // A domain ends in `.` and a letter; the other links begin `www.` or with a scheme.
    let dot_letter = || {
        text.match_indices('.').any(|(i, _)| {
            text.as_bytes()
                .get(i + 1)
                .is_some_and(u8::is_ascii_lowercase)
        })
    };
    let possible = |kind: IndicatorKind| match kind {
        IndicatorKind::Url => text.contains("://") || text.contains("www.") || dot_letter(),
        IndicatorKind::Phone => digits.run >= 11,
        IndicatorKind::Qq => digits.run >= 5 && any(&["q", "扣扣", "企鹅"]),
        IndicatorKind::Amount => {
            digits.count > 0 && any(&["元", "块", "rmb", "usdt", "美元", "dollar", "¥", "$"])
        }
        // An id after `:` or `=`, or straight after an "add me" word.
        IndicatorKind::WechatId => {
            ((text.contains(':') || text.contains('='))
                && (text.contains('v') || text.contains("微信")))
                || any(&["+v", "加v", "加微信"])
        }
        IndicatorKind::Telegram => text.contains('@') || text.contains("t.me/"),
    };
    for (kind, re) in INDICATORS.iter().filter(|(k, _)| possible(*k)) {
        // Only the search runs, no capture engine: the value is read off the whole match.
        for m in re.find_iter(text) {
            // The domain of an e-mail address is no link to open.
            if *kind == IndicatorKind::Url && text[..m.start()].ends_with('@') {
                continue;
            }
            let value = value_of(*kind, m.as_str())
                .split_whitespace()
                .collect::<String>();
            let ind = Indicator { kind: *kind, value };
            if !out.contains(&ind) {
                out.push(ind);
            }
        }
    }
    out
}

/// What a rule of [`INDICATORS`] names in its whole match `m`: the text of its first group that
/// took part, or all of `m` for a rule without one. Each group is the tail of the match, after
/// a character the value cannot hold (a test holds this to the capture engine).
fn value_of(kind: IndicatorKind, m: &str) -> &str {
    match kind {
        // `(?:^|\D)(1…)(?:\D|$)`: eleven digits, after the non-digit that may lead.
        IndicatorKind::Phone => {
            let lead = m
                .chars()
                .next()
                .filter(|&c| c != '1')
                .map_or(0, char::len_utf8);
            let body = &m[lead..];
            body.char_indices()
                .nth(11)
                .map_or(body, |(end, _)| &body[..end])
        }
        // `…[:=]?\s*(\d{5,11})`: the digits that end it (nothing before them is numeric).
        IndicatorKind::Qq => &m[m.trim_end_matches(char::is_numeric).len()..],
        // After `:` or `=` when there is one; else after `+v`, `加v` or `加微信`.
        IndicatorKind::WechatId => match m.rfind([':', '=']) {
            Some(at) => &m[at + 1..],
            None => ["+v", "加v", "加微信"]
                .iter()
                .find_map(|p| m.strip_prefix(p))
                .unwrap_or(m),
        }
        .trim_start(),
        // After the `@` or the `t.me/`.
        IndicatorKind::Telegram => m.rsplit(['@', '/']).next().unwrap_or(m),
        IndicatorKind::Url | IndicatorKind::Amount => m,
    }
}

/// Whether a negation word stands just before `start`, in the same clause.
fn negated(text: &str, start: usize, negations: &WordSet) -> bool {
    let head = &text[..start];
    let clause = head
        .char_indices()
        .rev()
        .find(|(_, c)| {
            matches!(
                c,
                '，' | ',' | '。' | '!' | '！' | '?' | '？' | ';' | '；' | '\n'
            )
        })
        .map_or(0, |(i, c)| i + c.len_utf8());
    // The clause's last 14 characters.
    let window = head[clause..]
        .char_indices()
        .rev()
        .nth(13)
        .map_or(clause, |(i, _)| clause + i);
    negations.any_in(text, window..start)
}

fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#', ':']).next().unwrap_or(rest)
}

/// Labels of a domain that name nothing: suffixes and `www`.
const GENERIC_LABELS: &[&str] = &["com", "net", "org", "cn", "hk", "co", "gov", "edu", "www"];

/// A host as it reads: digits and letters that pass for others (`1`, `l` for `i`, `0` for `o`,
/// `rn` for `m`, `vv` for `w`) become the letter they pass for.
fn skeleton(host: &str) -> String {
    host.replace("rn", "m")
        .replace("vv", "w")
        .chars()
        .map(|c| match c {
            '1' | 'l' => 'i',
            '0' => 'o',
            c => c,
        })
        .collect()
}

/// Whether a host that is not on an official domain spells an official name: a label of an
/// official domain (`weixin`, `qq`, `tenpay` …) among its own, or an official domain in front of a
/// foreign one. Phishing pages read this way — `weixin-qq.com`, `wx.qq.com.jiefeng.cc`,
/// `weixln.com` — because the registrable domain is the part people do not read: "主域名在最右侧
/// … secure.bank.com.verify-login.cn 的主域是 verify-login.cn", "将字母替换为相似字符,如“0”冒充
/// “O”,“l”冒充“1”", "品牌拼接与假子域名:如 abc-bank-security.com 或 login.bank.com.attacker.com"
/// (hans-zh-ngyule.com, news-20260204-1046-2142). Short names (`qq`, `wx`) count only as a whole
/// label or hyphenated part, so `wxyz.com` is nobody's.
fn imitates(host: &str, official: &[String]) -> bool {
    let read = skeleton(host);
    let parts: Vec<&str> = read
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|p| !p.is_empty())
        .collect();
    official
        .iter()
        .flat_map(|d| d.rsplit('.').skip(1))
        .filter(|label| !GENERIC_LABELS.contains(label))
        .any(|label| {
            let name = skeleton(label);
            if name.len() >= 4 {
                read.contains(&name)
            } else {
                parts.contains(&name.as_str())
            }
        })
}

/// What a signal quotes: its text, or the pattern whose first match it is (quoted when shown).
#[derive(Clone)]
enum Evidence {
    Text(String),
    Of(usize),
}

/// `learned`: the learned model's scam probability, when there is a model.
pub fn detect(
    catalog: &Catalog,
    text: &str,
    matched: &[usize],
    known: &[(Indicator, u64)],
    learned: Option<f32>,
) -> ScamResult {
    let settings = &catalog.scam;
    // A signal's or context's evidence is quoted from its first match; only a negatable signal
    // needs that match to decide whether it counts, the others are quoted when they are shown.
    let quote = |p: usize| {
        catalog
            .patterns
            .find(p, text)
            .map_or_else(String::new, |m| text[m.range()].to_owned())
    };
    let mut hit: Vec<Option<Evidence>> = vec![None; catalog.signals.len()];
    let mut ctx: Vec<Option<usize>> = vec![None; catalog.contexts.len()];
    for &p in matched {
        match catalog.patterns.owner[p] {
            Owner::Signal(s) if hit[s].is_none() && !catalog.signals[s].negatable => {
                hit[s] = Some(Evidence::Of(p));
            }
            Owner::Signal(s) if hit[s].is_none() => {
                let def = &catalog.signals[s];
                let counts = |m: &regex_automata::Match| {
                    !def.negatable
                        || !(negated(text, m.start(), &settings.negations)
                            || settings.negations.any_in(text, m.range()))
                };
                // The first match, quickly; only when it is negated are the others searched.
                hit[s] = match catalog.patterns.find(p, text) {
                    Some(m) if counts(&m) => Some(m),
                    Some(_) => catalog.patterns.regex(p).find_iter(text).find(counts),
                    None => None,
                }
                .map(|m| Evidence::Text(text[m.range()].to_owned()));
            }
            Owner::Context(c) if ctx[c].is_none() => ctx[c] = Some(p),
            _ => {}
        }
    }
    let indicators = indicators(text);
    // A link whose own name imitates an official one weighs as much as `scam_at`: nobody writes
    // `weixin-qq.com` but the page's maker. Other links claiming to be official weigh the signal's.
    let mut lookalike_weight = None;
    if let Some(s) = settings.lookalike_link {
        // Asked only of a message that names a link (most do not).
        let claims_official = std::cell::LazyCell::new(|| {
            settings
                .link_claims
                .iter()
                .any(|c| text.contains(c.as_str()))
        });
        for ind in indicators.iter().filter(|i| i.kind == IndicatorKind::Url) {
            let h = host(&ind.value);
            let official = settings
                .official_domains
                .iter()
                .any(|d| h == d || h.ends_with(&format!(".{d}")));
            if official {
                continue;
            }
            if imitates(h, &settings.official_domains) {
                hit[s] = Some(Evidence::Text(ind.value.clone()));
                lookalike_weight = Some(settings.scam_at.max(catalog.signals[s].weight));
                break;
            }
            let looks = settings.link_claims.iter().any(|c| h.contains(c.as_str()));
            if hit[s].is_none() && (looks || *claims_official) {
                hit[s] = Some(Evidence::Text(ind.value.clone()));
            }
        }
    }
    if let Some(s) = settings.known_contact {
        let named: Vec<String> = known
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(i, n)| format!("{} ({n}×)", i.value))
            .collect();
        if !named.is_empty() {
            hit[s] = Some(Evidence::Text(named.join(", ")));
        }
    }
    let mut learned_weight = None;
    if let (Some(s), Some(p)) = (settings.learned, learned) {
        if p >= settings.learned_at {
            hit[s] = Some(Evidence::Text(format!("{:.0}%", p * 100.0)));
            learned_weight = Some(if p >= settings.learned_sure {
                settings.scam_at.max(catalog.signals[s].weight)
            } else {
                catalog.signals[s].weight
            });
        }
    }
    // The model's voice does not make generic signals count: "要支付15%" in a hotel review is a
    // price, whatever the model thinks of it.
    let on_topic = hit
        .iter()
        .zip(&catalog.signals)
        .enumerate()
        .any(|(s, (h, def))| h.is_some() && !def.generic && Some(s) != settings.learned);
    let mut signals = Vec::new();
    let mut raw = 0.0f32;
    let mut fee_mentioned = false;
    for (s, evidence) in hit.into_iter().enumerate() {
        let def = &catalog.signals[s];
        let weight = match (learned_weight, lookalike_weight) {
            (Some(w), _) if Some(s) == settings.learned => w,
            (_, Some(w)) if Some(s) == settings.lookalike_link => w,
            _ => def.weight,
        };
        if weight <= 0.0 || (def.generic && !on_topic) {
            continue;
        }
        if let Some(evidence) = evidence {
            raw += weight;
            fee_mentioned |= def.fee;
            signals.push(Signal {
                name: def.name.clone(),
                weight,
                evidence: match evidence {
                    Evidence::Text(t) => t,
                    Evidence::Of(p) => quote(p),
                },
            });
        }
    }
    let mut factor = 1.0f32;
    // The lowest ceiling of the contexts that hold, and the signal that shows it.
    let mut ceiling: Option<(f32, usize)> = None;
    for (c, pattern) in ctx.into_iter().enumerate() {
        if let Some(p) = pattern {
            let def = &catalog.contexts[c];
            if raw > 0.0 {
                if let Some(top) = def.ceiling.filter(|&t| ceiling.is_none_or(|(c, _)| t < c)) {
                    ceiling = Some((top, signals.len()));
                }
                signals.push(Signal {
                    name: def.name.clone(),
                    weight: -(raw * factor * (1.0 - def.factor)),
                    evidence: quote(p),
                });
            }
            factor *= def.factor;
        }
    }
    let mut score = raw * factor;
    // Told of or asked about, an offer is someone else's: however many signals it carries, the
    // message reporting it is not itself the scam.
    if let Some((top, shown)) = ceiling.filter(|(top, _)| score > *top) {
        signals[shown].weight -= score - top;
        score = top;
    }
    let score = score.min(1.0);
    let verdict = if score >= settings.scam_at {
        Verdict::Scam
    } else if score >= settings.suspicious_at {
        Verdict::Suspicious
    } else {
        Verdict::Clean
    };
    ScamResult {
        verdict,
        score: (score * 1000.0).round() / 1000.0,
        signals,
        indicators,
        fee_mentioned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indicators_are_extracted_by_kind() {
        let got = indicators("加v: jf8899 联系qq 12345678 电话13812345678 @unblock_fast 付200元 http://wx-safe-center.top/a");
        let kinds: Vec<_> = got.iter().map(|i| (i.kind, i.value.as_str())).collect();
        for want in [
            (IndicatorKind::WechatId, "jf8899"),
            (IndicatorKind::Qq, "12345678"),
            (IndicatorKind::Phone, "13812345678"),
            (IndicatorKind::Telegram, "unblock_fast"),
            (IndicatorKind::Amount, "200元"),
            (IndicatorKind::Url, "http://wx-safe-center.top/a"),
        ] {
            assert!(kinds.contains(&want), "{want:?} not in {kinds:?}");
        }
    }

    /// The value as the capture engine gives it: the first group that took part.
    fn captured(kind: IndicatorKind, text: &str) -> Vec<String> {
        let re = &INDICATORS.iter().find(|(k, _)| *k == kind).unwrap().1;
        re.captures_iter(text)
            .filter_map(|c| c.iter().skip(1).flatten().next().or_else(|| c.get(0)))
            .map(|m| m.as_str().to_owned())
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// Reading the value off the whole match gives what the rule's group captures, on text
        /// made of the rules' own pieces.
        #[test]
        fn values_read_off_the_match_are_the_groups(parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "1", "3", "8", "0", "9", "13812345678", "12345", "١", "٣", "²", "qq", "q号", "扣扣",
                "企鹅", "+q", "加q", "号", "微信", "微信号", "+v", "加v", "加微信", "v", ":", "=",
                " ", "\u{3000}", "@", "t.me/", "a", "b_", "-", "x9", "jf8899", ".", "www.", "http://",
                "wx-safe.top", "元", "块", "$", "¥", "usdt", "。", ",", "\n", "解封",
            ]),
            0..14,
        )) {
            let text: String = parts.concat();
            for (kind, re) in INDICATORS.iter() {
                let read: Vec<String> = re
                    .find_iter(&text)
                    .map(|m| value_of(*kind, m.as_str()).to_owned())
                    .collect();
                proptest::prop_assert_eq!(read, captured(*kind, &text), "{:?} in {:?}", kind, text);
            }
        }
    }

    #[test]
    fn a_host_spelling_an_official_name_imitates_it() {
        let official: Vec<String> = ["weixin.qq.com", "qq.com", "tenpay.com", "wechat.com"]
            .iter()
            .map(|d| d.to_string())
            .collect();
        for host in [
            "weixin-qq.com",
            "wx.qq.com.jiefeng-center.cc",
            "weixin.qq.com.safe-check.xyz",
            "qq-safe-center.net",
            "tenpay-refund.top",
            "weixln.com",
            "we1xin.cn",
            "wechat-verify-login.com",
        ] {
            assert!(imitates(host, &official), "{host}");
        }
        for host in [
            "taobao.com",
            "wxyz.com",
            "qqq.top",
            "example.com",
            "t.cn",
            "bank-of-china.com",
        ] {
            assert!(!imitates(host, &official), "{host}");
        }
    }

    #[test]
    fn negation_is_local_to_the_clause() {
        let neg = WordSet::new(vec!["不会".to_string(), "never".to_string()]).unwrap();
        let t = "官方不会向您索要验证码";
        assert!(negated(t, t.find("索要").unwrap(), &neg));
        let t = "官方不会打电话,请把验证码发给我";
        assert!(!negated(t, t.find("验证码").unwrap(), &neg));
    }

    #[test]
    fn reassurance_denies_nothing_after_it() {
        let words = || vec!["不".to_string(), "别".to_string()];
        let plain = WordSet::new(words()).unwrap();
        let calm = WordSet::except(words(), vec!["别担心".into(), "不用等".into()]).unwrap();
        for t in ["别担心我能帮你解封", "不用等我能让你的号马上解封"] {
            let at = t.find("解封").unwrap();
            assert!(negated(t, at, &plain), "{t}");
            assert!(!negated(t, at, &calm), "{t}");
        }
        // A negation of its own after the reassurance still counts.
        let t = "别担心,官方解封不收费";
        assert!(negated(t, t.find("收费").unwrap(), &calm));
        let t = "别担心不收费";
        assert!(negated(t, t.find("收费").unwrap(), &calm));
    }

    #[test]
    fn a_verb_set_against_its_negation_asks_and_does_not_deny() {
        let neg = WordSet::new(vec!["不".to_string(), "没".to_string()]).unwrap();
        for (t, word) in [
            ("解封要不要花钱", "花钱"),
            ("收不收费", "费"),
            ("有没有人能解封", "解封"),
        ] {
            assert!(!negated(t, t.find(word).unwrap(), &neg), "{t}");
        }
        for (t, word) in [
            ("解封不要花钱", "花钱"),
            ("我没收费", "收费"),
            ("不不", "不"),
        ] {
            assert!(negated(t, t.rfind(word).unwrap(), &neg), "{t}");
        }
    }
}
