//! Stage 2: secrets. Finds a verification code, a password or a payment password typed into a
//! message and redacts it — in the original text (what may be stored or shown to the team) and
//! in the normalised text (what every later stage reads), so no later stage can leak it.
//!
//! In: [`Normalized`]. Out: [`Guarded`] with the secret kinds (never their values).
//!
//! These rules live in code, not in the editable catalog, on purpose: a catalog edit must never be
//! able to switch redaction off.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::normalize::Normalized;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    VerificationCode,
    Password,
    PaymentPassword,
}

impl SecretKind {
    pub fn name(self) -> &'static str {
        match self {
            SecretKind::VerificationCode => "verification_code",
            SecretKind::Password => "password",
            SecretKind::PaymentPassword => "payment_password",
        }
    }
    fn placeholder(self) -> &'static str {
        match self {
            SecretKind::VerificationCode => "[redacted:code]",
            SecretKind::Password => "[redacted:password]",
            SecretKind::PaymentPassword => "[redacted:payment_password]",
        }
    }
}

/// A message with its secrets taken out.
#[derive(Debug, Clone)]
pub struct Guarded {
    /// The original text with every secret replaced by a placeholder: safe to store.
    pub redacted: String,
    /// The normalised text, redacted the same way: what intent and scam stages read.
    pub text: String,
    pub secrets: Vec<SecretKind>,
}

// A 4–8 digit value, digits possibly spaced out ("4 8 2 9 1 3").
const DIGITS: &str = r"\d(?:[ \-.]?\d){3,7}";
const CODE_WORD: &str = r"(?:验证码|校验码|动态码|短信码|确认码|激活码|verification code|security code|sms code|otp|code|pin)";

static PAYMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?:支付密码|付款密码|交易密码|payment password|pay password|payment pin)\s*(?:是|为|:|=|is|:)?\s*({DIGITS})"
    ))
    .expect("static regex")
});
static CODE_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    // The code's length may come first: `验证码 6位数 839201`, `code (6 digits): 482913`.
    Regex::new(&format!(
        r"{CODE_WORD}[^\d\n]{{0,14}}?(?:\d{{1,2}}\s*(?:位数?|-?digits?)[^\d\n]{{0,8}}?)?({DIGITS})(?:\D|$)"
    ))
    .expect("static regex")
});
static CODE_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?:^|\D)({DIGITS})\s*(?:是|就是|为|is)?\s*(?:我的|the|my)?\s*{CODE_WORD}"
    ))
    .expect("static regex")
});
static PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:密码|口令|password|passwd|pwd|pass)\s*(?:是|为|:|=|is|was)\s*([!-~]{4,64})")
        .expect("static regex")
});

// A password given without "is"/"是" must look like one: letters and digits together.
static PASSWORD_BARE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:密码|password|passwd|pwd)\s+([!-~]{6,64})").expect("static regex")
});

fn trim_value(text: &str, start: usize, end: usize) -> (usize, usize) {
    // Trailing sentence punctuation is not part of the password.
    let v = text[start..end].trim_end_matches([',', '.', '!', '?', ';', ')', '"', '\'']);
    (start, start + v.len())
}

fn looks_like_password(v: &str) -> bool {
    v.chars().any(|c| c.is_ascii_digit()) || v.chars().any(|c| c.is_ascii_punctuation())
}

/// Digits glued to letters (`jf8899`, `user_2026`) are an id or a handle, not a code — unless
/// the letters are a code word themselves (`code123456`, `otp 482913`).
fn part_of_an_id(text: &str, start: usize) -> bool {
    let head = &text[..start];
    let word_start = head
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| {
            i + head[i..].chars().next().map_or(1, char::len_utf8)
        });
    let word = &head[word_start..];
    !word.is_empty() && !matches!(word, "code" | "otp" | "pin" | "sms" | "is")
}

/// How many digits `text` holds and the longest unbroken run of them, in any script (a superset
/// of the regexes' `\d`, so a rule that needs more than this cannot match and is not run: a code
/// needs 4 digits, a QQ number a run of 5, a phone number a run of 11).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Digits {
    pub count: usize,
    pub run: usize,
}

impl Digits {
    pub fn of(text: &str) -> Digits {
        let mut d = Digits::default();
        let mut run = 0;
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            // ASCII, and the characters U+4000..U+9FFF (ideographs and the Yijing symbols, none
            // of them numeric), are told by their first byte; the rest by the Unicode table.
            let digit = match bytes[i] {
                b @ 0..0x80 => {
                    i += 1;
                    b.is_ascii_digit()
                }
                0xE4..=0xE9 => {
                    i += 3;
                    false
                }
                _ => {
                    let c = text[i..].chars().next().unwrap_or_default();
                    i += c.len_utf8();
                    c.is_numeric()
                }
            };
            if digit {
                d.count += 1;
                run += 1;
                d.run = d.run.max(run);
            } else {
                run = 0;
            }
        }
        d
    }
}

/// Finds and redacts the secrets of a message.
pub fn guard(n: Normalized) -> Guarded {
    let text = &n.text;
    let mut spans: Vec<(usize, usize, SecretKind)> = Vec::new();
    let overlaps = |spans: &[(usize, usize, SecretKind)], s: usize, e: usize| {
        spans.iter().any(|&(a, b, _)| s < b && a < e)
    };
    // What each rule cannot match without (most messages have none of it): 4 digits, and a
    // payment or code word. Normalised text is lower case, as the rules' words are.
    let digits = Digits::of(text).count >= 4;
    let payment_word = digits && (text.contains("密码") || text.contains("pay"));
    let code_word = digits
        && ["码", "code", "otp", "pin"]
            .iter()
            .any(|w| text.contains(w));
    for c in PAYMENT.captures_iter(text).filter(|_| payment_word) {
        let m = c.get(1).expect("group");
        spans.push((m.start(), m.end(), SecretKind::PaymentPassword));
    }
    for re in [&*CODE_AFTER, &*CODE_BEFORE]
        .into_iter()
        .filter(|_| code_word)
    {
        for c in re.captures_iter(text) {
            let m = c.get(1).expect("group");
            if !overlaps(&spans, m.start(), m.end()) && !part_of_an_id(text, m.start()) {
                spans.push((m.start(), m.end(), SecretKind::VerificationCode));
            }
        }
    }
    // Every password rule starts with one of these words.
    let password_word = ["密码", "口令", "pass", "pwd"]
        .iter()
        .any(|w| text.contains(w));
    for (re, bare) in [(&*PASSWORD, false), (&*PASSWORD_BARE, true)]
        .into_iter()
        .filter(|_| password_word)
    {
        for c in re.captures_iter(text) {
            let m = c.get(1).expect("group");
            let (s, e) = trim_value(text, m.start(), m.end());
            let v = &text[s..e];
            let shaped = if bare {
                v.chars().any(|c| c.is_ascii_digit()) && v.chars().any(|c| c.is_ascii_alphabetic())
            } else {
                looks_like_password(v)
            };
            if e > s && shaped && !overlaps(&spans, s, e) {
                spans.push((s, e, SecretKind::Password));
            }
        }
    }
    if spans.is_empty() {
        return Guarded {
            redacted: n.original,
            text: n.text,
            secrets: Vec::new(),
        };
    }
    spans.sort_by_key(|s| s.0);
    let mut kinds: Vec<SecretKind> = spans.iter().map(|s| s.2).collect();
    kinds.sort();
    kinds.dedup();
    let orig: Vec<(usize, usize, SecretKind)> = spans
        .iter()
        .map(|&(s, e, k)| {
            let (a, b) = n.original_span(s, e);
            (a, b, k)
        })
        .collect();
    Guarded {
        redacted: splice(&n.original, &orig),
        text: splice(text, &spans),
        secrets: kinds,
    }
}

fn splice(s: &str, spans: &[(usize, usize, SecretKind)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for &(a, b, k) in spans {
        if a < last {
            continue;
        }
        out.push_str(&s[last..a]);
        out.push_str(k.placeholder());
        last = b;
    }
    out.push_str(&s[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::Normalizer;

    #[test]
    fn no_character_the_digit_count_skips_by_its_first_byte_is_numeric() {
        // The premise of `Digits::of`: three-byte characters led by 0xE4..=0xE9.
        for c in (0x4000..=0x9FFF).filter_map(char::from_u32) {
            assert!(matches!(c.to_string().as_bytes()[0], 0xE4..=0xE9), "{c}");
            assert!(!c.is_numeric(), "{c} is numeric");
        }
        let d = |s: &str| (Digits::of(s).count, Digits::of(s).run);
        assert_eq!(d("一二三四五六七八九十"), (0, 0));
        assert_eq!(d("号码١٢٣٤٥号"), (5, 5));
    }

    #[test]
    fn digits_are_counted_in_every_script_and_runs_end_at_anything_else() {
        let d = |s: &str| {
            let d = Digits::of(s);
            (d.count, d.run)
        };
        assert_eq!(d(""), (0, 0));
        assert_eq!(d("没有数字 no digits 一二三"), (0, 0));
        assert_eq!(d("12 345"), (5, 3));
        // Arabic-Indic and Devanagari digits are `\d` too.
        assert_eq!(d("code ٤٨٢٩١٣"), (6, 6));
        assert_eq!(d("१२३४x5"), (5, 4));
        assert_eq!(d("电话13812345678号"), (11, 11));
    }

    fn g(s: &str) -> Guarded {
        guard(Normalizer::new(&[]).unwrap().normalize(s))
    }

    #[test]
    fn ids_with_digits_are_not_codes() {
        let r = g("解封微信 先付300 加V jf8899 验证码 482913");
        assert!(r.redacted.contains("jf8899"), "{}", r.redacted);
        assert!(!r.redacted.contains("482913"));
        assert!(!g("code482913 thanks").redacted.contains("482913"));
        assert!(!g("验证码482913").redacted.contains("482913"));
    }

    #[test]
    fn typed_secrets_are_redacted_everywhere() {
        let cases: &[(&str, &str, SecretKind)] = &[
            (
                "验证码是 482913 你帮我看看",
                "482913",
                SecretKind::VerificationCode,
            ),
            (
                "here's the code I got: 771204",
                "771204",
                SecretKind::VerificationCode,
            ),
            ("771204 is my code", "771204", SecretKind::VerificationCode),
            (
                "驗證碼：４８２９１３",
                "４８２９１３",
                SecretKind::VerificationCode,
            ),
            (
                "验证码 4 8 2 9 1 3",
                "4 8 2 9 1 3",
                SecretKind::VerificationCode,
            ),
            (
                "验证码 6位数 839201 发给你了",
                "839201",
                SecretKind::VerificationCode,
            ),
            (
                "the code (6 digits) is 504112",
                "504112",
                SecretKind::VerificationCode,
            ),
            (
                "我的密码是abc12345,你帮我登录试试",
                "abc12345",
                SecretKind::Password,
            ),
            (
                "my password is Sunshine2024, can you log in",
                "Sunshine2024",
                SecretKind::Password,
            ),
            ("支付密码是 135790", "135790", SecretKind::PaymentPassword),
            ("密码 Abc@2024 你记一下", "Abc@2024", SecretKind::Password),
            (
                "这是我的密码 wx@88991 你帮我登一下",
                "wx@88991",
                SecretKind::Password,
            ),
        ];
        for (msg, secret, kind) in cases {
            let out = g(msg);
            assert_eq!(out.secrets, vec![*kind], "{msg}");
            assert!(!out.redacted.contains(secret), "{msg} → {}", out.redacted);
            assert!(
                !out.text.contains(&secret.to_lowercase()),
                "{msg} → {}",
                out.text
            );
        }
    }

    #[test]
    fn ordinary_mentions_are_not_secrets() {
        for msg in [
            "验证码收到了,注册成功了",
            "忘记密码了 也收不到短信验证码 怎么找回账号",
            "Send us the 6-digit code we just texted",
            "my password is wrong",
            "一个月能申请几次解封",
            "官方不会向您索要验证码",
            "验证码是6位数还是4位数",
            "解封需要先交500保证金",
        ] {
            let out = g(msg);
            assert!(out.secrets.is_empty(), "{msg}: {:?}", out.secrets);
            assert_eq!(out.redacted, msg);
        }
    }
}
