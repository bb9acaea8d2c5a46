//! Stage 2: secrets. Finds the verification codes, passwords, payment passwords and bank-card
//! PINs typed into a message and redacts them — in the original text (what may be stored or
//! shown to the team) and in the normalised text (what every later stage reads), so no later
//! stage can leak them.
//!
//! In: [`Normalized`], and whether the previous message named a secret without giving it
//! (`验证码是` …, the conversation remembers it). Out: [`Guarded`] with the kinds of the secrets
//! found (never their values), and whether this message names one it does not give.
//!
//! It reads the *shape* of a secret, not a list of phrasings:
//!
//! 1. **Digit runs.** One reader for every script people type digits in — ASCII (full-width
//!    digits are ASCII after normalisation), other Unicode digits, Chinese numerals everyday,
//!    financial and spoken (`四八二`, `肆捌贰`, `两`, `〇`, `洞幺拐`), mixed (`4八2九`) — and
//!    every way they space them (`482 913`, `4-8-2`, `640·197`, `3,0,8`, keycaps). Each run has
//!    its span in the normalised text, which [`Normalized::original_span`] maps back, so
//!    redaction removes exactly the characters typed.
//! 2. **Words around a run**, in every language the product speaks (simplified, traditional,
//!    Cantonese, English, pinyin, slang), read by one automaton: words that name a secret
//!    (`码`, `验证码`, `otp`, `密码`, `pw`, `mm`, `mima`, `pin`, `口令`), before or after the run,
//!    near or farther; what the user did with it (`发了`, `念的`, `打俾佢`, `sent`, `typed`); where
//!    it came from (`短信`, `收到`, `内容是`, `sms`); its announced length (`6位`, `6 digits`). A
//!    run needs two points of evidence: a near secret word is two, and so is one introduced and
//!    described (`密码就是我生日19900827`); a farther one, a story verb, a source, a length, the
//!    shape of a code (six digits, digits spelled out one by one, Chinese numerals) one each, and
//!    six digits set apart by marks (`2/0/9/4/1/6`) one more. A secret word whose value another
//!    run took (`取款密码 0088 和短信上的 736291`) is only a farther one for the next. A message
//!    that is only a number, or that answers a message naming a secret, is two.
//! 3. **Passwords**: the token after a password word — quoted or not, to its end with the
//!    punctuation that belongs to it, a word and a number together (`Rose 2022`) — when the word
//!    introduces it (`密码是`, `pw:`, `password is`, `我给了`), or an all-digit run as above.
//!    Qualifiers around the word give the kind: `支付`/`pay`/`zf` a payment password, `卡`/`atm`/
//!    `bank`/`取钱` a card PIN, `动态`/`短信` a code — the nearest, back to the previous secret
//!    word; else a payment or a card farther back in the sentence (`转账时要输的那个6位密码`,
//!    `交通银行 … 密码`), unless what one logs in to (`微信`, `qq`) is nearer.
//! 4. **What clears a number**: the nearest word before it naming something else (an error, a
//!    phone, an order, an appeal, a postcode, a QQ or app id, a date, a price), a unit or currency
//!    written right after it, and shapes no secret has: a minus sign, a `+` country code, a mask
//!    (`139****5678`), letters glued to it (`jf8899`, `0x8007`), a date, a decimal. A bare `code`
//!    a system showed or followed by what went wrong (`弹出 code: 4003 账号异常`) is an error's,
//!    unless the user tells of it or introduces it (`the code is 482913`).
//!
//! Messages without a digit of any script nor a secret word take a fast path: one pass of the
//! digit reader (which also notes the characters Chinese secret words are made of, and ASCII
//! letters), a few substring tests when there are letters, no automaton. The engine's cost per
//! message is within 1% of what it was with the guard this one replaced (BENCHMARKS.md).
//!
//! These rules live in code, not in the editable catalog, on purpose: a catalog edit must never be
//! able to switch redaction off, and the catalog's patterns read the text after redaction.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use serde::{Deserialize, Serialize};

use crate::normalize::{is_han, Normalized};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    VerificationCode,
    Password,
    PaymentPassword,
    /// A bank or ATM card's PIN.
    CardPin,
}

impl SecretKind {
    pub fn name(self) -> &'static str {
        match self {
            SecretKind::VerificationCode => "verification_code",
            SecretKind::Password => "password",
            SecretKind::PaymentPassword => "payment_password",
            SecretKind::CardPin => "card_pin",
        }
    }
    fn placeholder(self) -> &'static str {
        match self {
            SecretKind::VerificationCode => "[redacted:code]",
            SecretKind::Password => "[redacted:password]",
            SecretKind::PaymentPassword => "[redacted:payment_password]",
            SecretKind::CardPin => "[redacted:card_pin]",
        }
    }
    /// How many digits an all-digit secret of this kind may have.
    fn digits(self) -> std::ops::RangeInclusive<usize> {
        match self {
            SecretKind::Password => 4..=20,
            _ => 4..=8,
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
    /// The message names a secret it does not give (`验证码是`, `my password is`): the next
    /// message may hold it.
    pub expects: Option<SecretKind>,
}

/// How many digits `text` holds and the longest unbroken run of them, in any script that Unicode
/// calls numeric (the contact rules' gate: a QQ number needs a run of 5, a phone number 11).
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

// ---------------------------------------------------------------------------------------------
// 1. The digit reader.

/// A digit as people type it: ASCII, any other Unicode digit, or a Chinese numeral — everyday
/// (小写), financial (大写, as normalisation simplifies them), `两`, `〇`, and the spoken forms
/// radio operators and careful readers use (`洞` 0, `幺` 1, `拐` 7, `勾` 9).
pub fn is_digit(c: char) -> bool {
    matches!(class(c), Class::Digit { .. })
}

/// The Chinese numerals among the ideographs (besides `〇`, U+3007).
const NUMERALS: [char; 25] = [
    '零', '洞', '一', '幺', '壹', '二', '两', '贰', '三', '叁', '参', '四', '肆', '五', '伍', '六',
    '陆', '七', '拐', '柒', '八', '捌', '九', '勾', '玖',
];

/// [`NUMERALS`] as a bit map over U+4E00..U+9FFF: the digit reader reads a Chinese character
/// with one load.
static NUMERAL_BITS: [u64; 328] = {
    let mut bits = [0u64; 328];
    let mut i = 0;
    while i < NUMERALS.len() {
        let at = NUMERALS[i] as u32 - 0x4E00;
        bits[(at / 64) as usize] |= 1 << (at % 64);
        i += 1;
    }
    bits
};

/// What a character is to the digit reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Digit { numeral: bool },
    Separator,
    Other,
}

/// The ASCII characters' [`Class`].
static ASCII: [Class; 128] = {
    let mut t = [Class::Other; 128];
    let mut b = b'0';
    while b <= b'9' {
        t[b as usize] = Class::Digit { numeral: false };
        b += 1;
    }
    let seps = b" -_/~|,.";
    let mut i = 0;
    while i < seps.len() {
        t[seps[i] as usize] = Class::Separator;
        i += 1;
    }
    t
};

fn class(c: char) -> Class {
    let u = c as u32;
    if u < 0x80 {
        return ASCII[u as usize];
    }
    if (0x4E00..=0x9FFF).contains(&u) {
        let at = u - 0x4E00;
        return if NUMERAL_BITS[(at / 64) as usize] >> (at % 64) & 1 == 1 {
            Class::Digit { numeral: true }
        } else {
            Class::Other
        };
    }
    if c == '〇' {
        Class::Digit { numeral: true }
    } else if is_separator(c) {
        Class::Separator
    } else if !is_han(c) && c.is_numeric() {
        Class::Digit { numeral: false }
    } else {
        Class::Other
    }
}

/// What people put between the digits of one number. `.` and `,` also make decimals and
/// thousands (`1314.52`, `12,800`): a run they join must have groups of one length (`3.9.1.0`,
/// `28.64.19`). U+20E3 is the keycap that emoji digits (`5️⃣`) leave after normalisation.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '-'
            | '_'
            | '/'
            | '~'
            | '|'
            | '·'
            | '•'
            | '・'
            | '、'
            | ','
            | '.'
            | '\u{20e3}'
            | '‐'
            | '‑'
            | '–'
            | '—'
            | '−'
    )
}

/// At most this many separator characters between two groups of one run (`4 - 8`, `5 ⃣0`).
const MAX_GAP: usize = 3;

/// Digits read as one number, with its span in the normalised text.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    start: usize,
    end: usize,
    digits: usize,
    /// How many of them are Chinese numerals.
    numerals: usize,
    /// Every digit stands alone between separators (`4 8 2 9`).
    spelled: bool,
    /// Shaped as no secret is: a date (`2025-01-08`) or a number beside a decimal point or a
    /// thousands separator (`1314.52`).
    number: bool,
    /// A separator in it joins ASCII digits and Chinese numerals.
    mixed: bool,
}

#[derive(Debug, Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
    len: usize,
    numerals: usize,
    /// The separators before it (none for a run's first group) hold `.` or `,`: which.
    weak: Option<char>,
    /// What separates it from the group before: the single character of a date's gap, if so.
    single_sep: Option<char>,
    /// A separator joins it to a group of the other script.
    cross: bool,
}

/// What one pass of the digit reader found.
#[derive(Debug, Default)]
struct Scan {
    runs: Vec<Run>,
    /// The text has ASCII letters (an English secret word may be in it).
    letters: bool,
    /// The text has a character every Chinese secret word holds: `码`, `令` (口令), `写` (大小写).
    cue_char: bool,
}

/// Every run of 4 digits or more in `text`. `across_scripts`: separators join ASCII digits and
/// Chinese numerals (`4 八 2 九`); otherwise only digits of one script (the pieces of a run that
/// is no secret as a whole, `482913` of `482913 一个小时后`).
///
/// One pass over the bytes: an ASCII character is read from a table, a three-byte character of
/// U+4000..U+9FFF (nearly all Chinese text) from a bit map, the rest by [`class`].
fn read_runs(text: &str, across_scripts: bool) -> Scan {
    let mut out = Vec::new();
    let (mut letters, mut cue_char) = (false, false);
    let mut groups: Vec<Group> = Vec::new();
    // Separators seen since the last digit: how many, whether one was weak, the only one.
    let (mut gap, mut gap_weak, mut gap_char) = (0usize, None::<char>, None::<char>);
    let mut in_group = false;
    // Whether the last digit was a Chinese numeral.
    let mut last_numeral = false;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (class, c) = if b < 0x80 {
            letters |= b.is_ascii_alphabetic();
            (ASCII[usize::from(b)], char::from(b))
        } else if (0xE4..=0xE9).contains(&b) {
            // Three bytes, U+4000..U+9FFF: valid UTF-8 holds its two continuation bytes.
            let u = u32::from(b & 0x0F) << 12
                | u32::from(bytes[i + 1] & 0x3F) << 6
                | u32::from(bytes[i + 2] & 0x3F);
            cue_char |= matches!(u, 0x7801 | 0x4EE4 | 0x5199);
            let at = u.wrapping_sub(0x4E00);
            let numeral = u >= 0x4E00 && NUMERAL_BITS[(at / 64) as usize] >> (at % 64) & 1 == 1;
            let class = if numeral {
                Class::Digit { numeral: true }
            } else {
                Class::Other
            };
            (
                class,
                char::from_u32(u).unwrap_or(char::REPLACEMENT_CHARACTER),
            )
        } else {
            let c = text[i..].chars().next().unwrap_or_default();
            (self::class(c), c)
        };
        let width = c.len_utf8();
        if class == Class::Other && groups.is_empty() {
            i += width;
            continue;
        }
        if let Class::Digit { numeral } = class {
            let numeral = usize::from(numeral);
            let cross = !in_group && !groups.is_empty() && last_numeral != (numeral == 1);
            if cross && !across_scripts {
                finish(text, &mut groups, &mut out);
                (gap, gap_weak, gap_char) = (0, None, None);
            }
            last_numeral = numeral == 1;
            if in_group {
                let g = groups.last_mut().expect("a group is open");
                g.end = i + c.len_utf8();
                g.len += 1;
                g.numerals += numeral;
            } else {
                groups.push(Group {
                    start: i,
                    end: i + c.len_utf8(),
                    len: 1,
                    numerals: numeral,
                    weak: gap_weak,
                    single_sep: if gap == 1 { gap_char } else { None },
                    cross: cross && across_scripts,
                });
                in_group = true;
            }
            (gap, gap_weak, gap_char) = (0, None, None);
        } else if class == Class::Separator && !groups.is_empty() && gap < MAX_GAP {
            in_group = false;
            gap += 1;
            if c == '.' || c == ',' {
                gap_weak = Some(c);
            }
            gap_char = Some(c);
        } else if !groups.is_empty() {
            finish(text, &mut groups, &mut out);
            in_group = false;
            (gap, gap_weak, gap_char) = (0, None, None);
        }
        i += width;
    }
    finish(text, &mut groups, &mut out);
    Scan {
        runs: out,
        letters,
        cue_char,
    }
}

/// Closes the run made of `groups` (cleared): split at `.` and `,` unless they join it evenly,
/// then kept if it has 4 digits.
fn finish(text: &str, groups: &mut Vec<Group>, out: &mut Vec<Run>) {
    if groups.is_empty() {
        return;
    }
    let weak = groups[1..].iter().any(|g| g.weak.is_some());
    // `.` and `,` join a number when they are all its gaps, between groups of one length
    // (`3,0,8,1,7,5`, `28.64.19`); otherwise they end a clause (`482 913，100块`) or make decimals
    // and thousands.
    let even = groups.iter().all(|g| g.len == groups[0].len)
        && groups[1..].iter().all(|g| g.weak == groups[1].weak);
    if weak && !even {
        // Each part stands alone; one beside a decimal point or a thousands separator
        // (`1314.52`, `12,800`, not `482913,5分钟`) is part of a number.
        // The parts between `.` and `,`, as ranges of groups.
        let mut parts: Vec<(usize, usize)> = Vec::new();
        let mut from = 0;
        for i in 1..=groups.len() {
            if i == groups.len() || groups[i].weak.is_some() {
                parts.push((from, i));
                from = i;
            }
        }
        // Between parts `k - 1` and `k`: a decimal point or a thousands separator, between two
        // plain ASCII groups.
        let plain = |(a, b): (usize, usize)| {
            b == a + 1
                && text[groups[a].start..groups[a].end]
                    .bytes()
                    .all(|c| c.is_ascii_digit())
        };
        let number = |k: usize| {
            let (before, after) = (parts[k - 1], parts[k]);
            plain(before)
                && plain(after)
                && match groups[after.0].weak {
                    Some('.') => true,
                    _ => groups[after.0].len == 3 && groups[before.0].len <= 3,
                }
        };
        for (k, &(a, b)) in parts.iter().enumerate() {
            let beside = k > 0 && number(k) || k + 1 < parts.len() && number(k + 1);
            push_run(text, &groups[a..b], beside, out);
        }
    } else {
        push_run(text, groups, false, out);
    }
    groups.clear();
}

fn push_run(text: &str, groups: &[Group], number: bool, out: &mut Vec<Run>) {
    let digits: usize = groups.iter().map(|g| g.len).sum();
    if digits < 4 {
        return;
    }
    let (first, last) = (groups[0], groups[groups.len() - 1]);
    // An emoji digit's keycap after the last digit belongs to it.
    let mut end = last.end;
    let rest = &text[end..];
    if let Some(k) = rest
        .strip_prefix(" \u{20e3}")
        .or_else(|| rest.strip_prefix('\u{20e3}'))
    {
        end = text.len() - k.len();
    }
    out.push(Run {
        start: first.start,
        end,
        digits,
        numerals: groups.iter().map(|g| g.numerals).sum(),
        spelled: groups.len() >= 4 && groups.iter().all(|g| g.len == 1),
        number: number || is_date(text, groups),
        mixed: groups.iter().any(|g| g.cross),
    })
}

/// `2025-01-08`, `2025/6/30`, `08/01/2025`, `2025-01`: groups of a year, a month and a day.
fn is_date(text: &str, groups: &[Group]) -> bool {
    let value = |g: &Group| text[g.start..g.end].parse::<u32>().ok();
    let seps_ok = groups[1..]
        .iter()
        .all(|g| matches!(g.single_sep, Some('-' | '/' | '.')));
    if !seps_ok {
        return false;
    }
    let month = |g: &Group| g.len <= 2 && value(g).is_some_and(|m| (1..=12).contains(&m));
    let day = |g: &Group| g.len <= 2 && value(g).is_some_and(|d| (1..=31).contains(&d));
    let year = |g: &Group| g.len == 4 && value(g).is_some_and(|y| (1900..=2099).contains(&y));
    match groups {
        [y, m] => year(y) && month(m),
        [a, b, c] => {
            year(a) && month(b) && day(c) || year(c) && (month(a) && day(b) || day(a) && month(b))
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// 2. The words around a run.

/// What a word says about a number, on one side of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    None,
    /// Names a secret.
    Cue(Cue),
    /// What the user did with it: 发了, 念给, sent, typed.
    Told,
    /// Where a code comes from: 短信, 收到, sms.
    Received,
    /// Its announced length: 6位, 六位数, 6 digits.
    Length,
    /// How a password is written (区分大小写, all lowercase): a password follows.
    CaseHint,
    /// Names a number that is no secret (before it: an error, a phone, an order, a price) or
    /// measures it (right after it: a unit, a currency).
    Clear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    /// A one-time code: 验证码, 码, code, otp.
    Code,
    /// A password; its kind from the words around (支付, 卡, 动态).
    Password,
    /// `pin`: the payment PIN (WeChat Pay calls it so) unless a card is named.
    Pin,
    /// `口令`: a code when it is digits, a password otherwise.
    Watchword,
}

use Role::{CaseHint as H, Clear as X, Length as L, None as N, Received as R, Told as T};
const C: Role = Role::Cue(Cue::Code);
const P: Role = Role::Cue(Cue::Password);
const PIN: Role = Role::Cue(Cue::Pin);
const W: Role = Role::Cue(Cue::Watchword);

/// Words as the normalised text spells them (simplified, lower case, full-width folded), with
/// what each says before a number and after it. The longest word wins where they overlap, so a
/// word that holds a secret word but means something else (`二维码`, `号码`, `error code`) is
/// listed to be read as itself. ASCII words match whole (digits may touch them: `code482913`).
#[rustfmt::skip]
const TERMS: &[(&str, Role, Role)] = &[
    // A code.
    ("码", C, C), ("验证码", C, C), ("验正码", C, C), ("校验码", C, C), ("动态码", C, C),
    ("短信码", C, C), ("确认码", C, C), ("激活码", C, C), ("安全码", C, C), ("认证码", C, C),
    ("登录码", C, C), ("授权码", C, C), ("code", C, C), ("otp", C, C), ("passcode", C, C),
    ("verification", C, C), ("yzm", C, C), ("yanzhengma", C, C), ("yan zheng ma", C, C),
    ("口令", W, N),
    // Words with 码 or code in them that name no secret.
    ("二维码", N, N), ("条码", N, N), ("条形码", N, N), ("编码", N, N), ("源码", N, N),
    ("乱码", N, N), ("页码", N, N), ("尺码", N, N), ("起码", N, N), ("价码", N, N),
    ("筹码", N, N), ("数码", N, N), ("码头", N, N), ("码农", N, N), ("码字", N, N),
    ("扫码", N, N), ("解码", N, N), ("转码", N, N), ("码率", N, N), ("码流", N, N),
    ("付款码", N, N), ("收款码", N, N), ("qr code", N, N), ("source code", N, N),
    // Codes that are no account secret: they name their number as something else.
    ("取件码", X, N), ("取货码", X, N), ("提货码", X, N), ("取餐码", X, N), ("取票码", X, N),
    ("核销码", X, N), ("券码", X, N), ("优惠码", X, N), ("折扣码", X, N), ("礼品码", X, N),
    ("兑换码", X, N), ("邀请码", X, N), ("推荐码", X, N), ("提取码", X, N),
    ("pickup code", X, N), ("promo code", X, N), ("coupon code", X, N), ("gift code", X, N),
    ("invite code", X, N), ("referral code", X, N),
    // Numbers named by words with 码 or code in them: phones, errors, postcodes.
    ("号码", X, N), ("错误码", X, X), ("错误代码", X, X), ("代码", X, N), ("返回码", X, X),
    ("状态码", X, X), ("异常码", X, X), ("error code", X, X), ("errcode", X, X),
    ("errorcode", X, X), ("status code", X, X), ("zip code", X, N), ("post code", X, N),
    ("area code", X, N), ("country code", X, N),
    // A password, a PIN.
    ("密码", P, P), ("蜜码", P, P), ("秘码", P, P), ("password", P, P), ("passwd", P, N),
    ("pass word", P, N), ("pwd", P, N), ("pw", P, N), ("pass", P, N), ("mima", P, N),
    ("mi ma", P, N), ("mm", P, X), ("zfmm", P, P), ("pin", PIN, N), ("pin码", PIN, N), ("pin 码", PIN, N),
    ("区分大小写", H, N), ("大小写", H, N), ("全小写", H, N), ("全大写", H, N), ("小写", H, N),
    ("lowercase", H, N), ("uppercase", H, N), ("all caps", H, N), ("case sensitive", H, N),
    ("case-sensitive", H, N),
    // What the user did with it.
    ("发了", T, T), ("发的", T, T), ("发给", T, T), ("发过去", T, T), ("发出", T, T),
    ("发咗", T, T), ("发送", T, T), ("给了", T, T), ("给他", T, T), ("给她", T, T),
    ("给对方", T, T), ("俾咗", T, T), ("报了", T, T), ("报给", T, T), ("报咗", T, T),
    ("念了", T, T), ("念给", T, T), ("念的", T, T), ("念出", T, T), ("读了", T, T),
    ("读给", T, T), ("读的", T, T), ("读出", T, T), ("说了", T, T), ("给你", T, T),
    ("打俾", T, T), ("打畀", T, T), ("俾佢", T, T), ("畀佢", T, T), ("畀咗", T, T),
    ("俾你", T, T), ("畀你", T, T),
    ("说的是", T, T), ("讲了", T, T), ("讲给", T, T), ("讲咗", T, T), ("回了", T, T),
    ("回复", T, T), ("输了", T, T), ("输入", T, T), ("填了", T, T), ("填入", T, T), ("填进", T, T), ("输进", T, T),
    ("填写", T, T), ("告诉", T, T), ("转给", T, T), ("sent", T, T), ("send", T, T),
    ("told", T, T), ("tell", T, T), ("gave", T, T), ("give", T, T), ("typed", T, T),
    ("type", T, T), ("entered", T, T), ("enter", T, T), ("texted", T, T), ("read out", T, T),
    ("read", T, T), ("repeated", T, T), ("said", T, T), ("shared", T, T), ("forwarded", T, T),
    ("fa le", T, T), ("fa gei", T, T), ("gei le", T, T), ("shuo le", T, T), ("bao le", T, T),
    ("nian le", T, T),
    // Where it came from.
    ("短信", R, R), ("收到", R, R), ("手机上", R, R), ("刚来的", R, R), ("数字", R, R),
    ("那个数", R, R), ("内容是", R, R), ("内容就是", R, R), ("内容为", R, R), ("写的是", R, R),
    ("上写的", R, R), ("上面写", R, R), ("写着", R, R), ("sms", R, R), ("text", R, R), ("message", R, R), ("msg", R, R),
    // Its length.
    ("位数", L, L), ("digits", L, L), ("digit", L, L), ("4位", L, L), ("5位", L, L),
    ("6位", L, L), ("7位", L, L), ("8位", L, L), ("四位", L, L), ("五位", L, L), ("六位", L, L),
    ("七位", L, L), ("八位", L, L),
    // What a system shows (before a `code`) and what went wrong (after its number): that code
    // is an error's or a status's (see [`error_codes`]).
    ("弹出", N, N), ("弹窗", N, N), ("提示", N, N), ("系统提示", N, N), ("稍后再试", N, N),
    ("请稍后", N, N), ("重试", N, N), ("try again", N, N), ("popup", N, N), ("pop up", N, N),
    ("prompt", N, N), ("alert", N, N),
    // Errors.
    ("错误", X, X), ("报错", X, X), ("异常", X, N), ("error", X, X), ("err", X, X),
    ("errno", X, N), ("ret", X, N), ("status", X, N), ("http", X, N), ("exception", X, N),
    // Phones and hotlines.
    ("电话", X, N), ("手机号", X, N), ("手机号码", X, N), ("电话号码", X, N), ("微信号码", X, N),
    ("群号码", X, N), ("卡号", X, N), ("尾号", X, N), ("座机", X, N), ("热线", X, X),
    ("拨打", X, N), ("致电", X, N), ("来电", X, N), ("分机", X, N), ("call", X, N),
    ("phone", X, N), ("tel", X, N), ("mobile", X, N), ("phone number", X, N), ("mobile number", X, N),
    ("contact number", X, N), ("whatsapp", X, N),
    // Orders, appeals, parcels, ids, places.
    ("订单", X, N), ("单号", X, N), ("编号", X, N), ("工单", X, N), ("申诉号", X, N),
    ("快递", X, N), ("运单", X, N), ("发票", X, N), ("流水号", X, N), ("交易号", X, N),
    ("序号", X, N), ("型号", X, N), ("版本", X, N), ("房间", X, N), ("房号", X, N),
    ("门牌", X, N), ("车牌", X, N), ("航班", X, N), ("学号", X, N), ("工号", X, N),
    ("身份证", X, N), ("账号", X, N), ("帐号", X, N), ("用户名", X, N), ("第", X, N),
    ("id", X, N), ("order", X, N), ("ticket", X, N), ("case", X, N), ("tracking", X, N),
    ("invoice", X, N), ("ref", X, N), ("no.", X, N), ("#", X, N), ("version", X, N),
    ("ver", X, N), ("room", X, N), ("flight", X, N), ("serial", X, N), ("uid", X, N),
    ("邮编", X, N), ("邮政编码", X, N), ("zip", X, N), ("postcode", X, N), ("postal", X, N),
    ("区号", X, N), ("qq", X, N), ("q号", X, N), ("扣扣", X, N), ("微信号", X, N),
    ("wxid", X, N), ("群号", X, N),
    // Money and dates.
    ("¥", X, N), ("$", X, N), ("hk$", X, N), ("us$", X, N), ("usd", X, X), ("rmb", X, X),
    ("usdt", X, X), ("押金", X, N), ("保证金", X, N), ("定金", X, N), ("费", X, N),
    ("手续费", X, N), ("余额", X, N), ("金额", X, N), ("充值", X, N), ("转账", X, N),
    ("价格", X, N), ("工资", X, N), ("红包", X, N), ("付了", X, N), ("付", X, N), ("交", X, N),
    ("花了", X, N), ("price", X, N), ("fee", X, N), ("cost", X, N), ("paid", X, N),
    ("日期", X, N), ("date", X, N),
    // Units and currencies after a number.
    ("元", N, X), ("块", N, X), ("万", N, X), ("千", N, X), ("百", N, X), ("毛", N, X),
    ("刀", N, X), ("美元", N, X), ("美金", N, X), ("港币", N, X), ("人民币", N, X),
    ("dollars", N, X), ("dollar", N, X), ("bucks", N, X), ("年", N, X), ("月", N, X),
    ("日", N, X), ("号", N, X), ("点", N, X), ("时", N, X), ("分", N, X), ("秒", N, X),
    ("天", N, X), ("周", N, X), ("小时", N, X), ("分钟", N, X), ("岁", N, X), ("个", N, X),
    ("人", N, X), ("次", N, X), ("位", N, X), ("栋", N, X), ("楼", N, X), ("层", N, X),
    ("室", N, X), ("路", N, X), ("米", N, X), ("公里", N, X), ("斤", N, X), ("条", N, X),
    ("张", N, X), ("页", N, X), ("倍", N, X), ("%", N, X), ("km", N, X), ("kg", N, X),
    ("mb", N, X), ("gb", N, X), ("kb", N, X), ("cm", N, X), ("ms", N, X), ("am", N, X),
    ("pm", N, X), ("days", N, X), ("years", N, X), ("months", N, X), ("hours", N, X),
    ("mins", N, X), ("minutes", N, X), ("times", N, X), ("people", N, X),
];

static WORDS: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostLongest)
        // A few hundred short words: a DFA of a few hundred KiB, the fastest search.
        .kind(Some(AhoCorasickKind::DFA))
        .build(TERMS.iter().map(|t| t.0))
        .expect("static word list")
});

/// What turns a password word into another kind of secret, looked for near the word.
#[rustfmt::skip]
const QUALIFIERS: &[(&str, SecretKind)] = &[
    ("支付", SecretKind::PaymentPassword), ("付款", SecretKind::PaymentPassword),
    ("钱包", SecretKind::PaymentPassword), ("零钱", SecretKind::PaymentPassword),
    ("交易", SecretKind::PaymentPassword), ("pay", SecretKind::PaymentPassword),
    ("wallet", SecretKind::PaymentPassword), ("zhifu", SecretKind::PaymentPassword),
    ("zf", SecretKind::PaymentPassword), ("转账", SecretKind::PaymentPassword),
    ("汇款", SecretKind::PaymentPassword), ("付钱", SecretKind::PaymentPassword),
    ("transfer", SecretKind::PaymentPassword),
    ("卡", SecretKind::CardPin), ("取钱", SecretKind::CardPin), ("银行", SecretKind::CardPin), ("atm", SecretKind::CardPin),
    ("取款", SecretKind::CardPin), ("取现", SecretKind::CardPin), ("提款", SecretKind::CardPin),
    ("bank", SecretKind::CardPin), ("debit", SecretKind::CardPin),
    ("credit", SecretKind::CardPin), ("card", SecretKind::CardPin),
    ("yinhang", SecretKind::CardPin),
    ("动态", SecretKind::VerificationCode), ("短信", SecretKind::VerificationCode),
    ("验证", SecretKind::VerificationCode), ("sms", SecretKind::VerificationCode),
    ("one-time", SecretKind::VerificationCode), ("one time", SecretKind::VerificationCode),
    // What one logs in to: the word's own kind (a password, `pin` a payment PIN), whatever
    // farther words say.
    ("微信", SecretKind::Password), ("qq", SecretKind::Password), ("邮箱", SecretKind::Password),
    ("登录", SecretKind::Password), ("登陆", SecretKind::Password), ("淘宝", SecretKind::Password),
    ("微博", SecretKind::Password), ("抖音", SecretKind::Password),
    ("wechat", SecretKind::Password), ("email", SecretKind::Password),
    ("login", SecretKind::Password),
];

/// [`QUALIFIERS`] by the first byte of each, with its first character: a character of the text
/// is compared with the few that begin as it does.
type Qualifier = (char, &'static str, SecretKind);
static QUALIFIERS_BY_BYTE: LazyLock<[Vec<Qualifier>; 256]> = LazyLock::new(|| {
    let mut by_byte: [Vec<Qualifier>; 256] = std::array::from_fn(|_| Vec::new());
    for &(w, k) in QUALIFIERS {
        let first = w.chars().next().expect("a qualifier is a word");
        by_byte[usize::from(w.as_bytes()[0])].push((first, w, k));
    }
    by_byte
});

/// The kinds the [`QUALIFIERS`] in `s` give, in order.
fn qualifiers(s: &str) -> impl Iterator<Item = SecretKind> + '_ {
    let by_byte = &*QUALIFIERS_BY_BYTE;
    let bytes = s.as_bytes();
    s.char_indices().filter_map(move |(i, c)| {
        by_byte[usize::from(bytes[i])]
            .iter()
            .find(|&&(first, w, _)| first == c && s[i..].starts_with(w))
            .map(|&(_, _, k)| k)
    })
}

/// Words that introduce a value (`是`, `is`, `:`): after one, a farther secret word is as good
/// as a near one, and a token after a password word is its value.
const INTRODUCERS: &[&str] = &[
    "是", "为", "系", "了", "成", ":", "=", "is", "was", "are", "shi", "here",
];

/// Small words skipped between a password word and its value (`the password for my 微信 is`).
const FILLERS: &[&str] = &[
    "is", "was", "are", "my", "the", "a", "an", "it", "its", "for", "to", "of", "and", "on", "in",
    "me", "him", "her", "them", "i", "you", "he", "she", "they", "just", "still", "also", "shi",
    "jiu", "wo", "de", "le", "ta", "set", "same", "as", "this", "that", "here", "now", "new",
    "old", "account", "login", "pls", "please", "with", "from", "no", "not",
];

/// A word of `TERMS` found in the text.
#[derive(Debug, Clone, Copy)]
struct Hit {
    start: usize,
    end: usize,
    term: usize,
    /// An ASCII word written right after a digit (`10mm`): a unit of that number, no word
    /// about the next.
    suffix: bool,
    /// A `code` that names an error or a status (see [`error_codes`]): read as `error code`.
    error: bool,
}

impl Hit {
    fn left(self) -> Role {
        if self.error {
            return Role::Clear;
        }
        if self.suffix {
            return Role::None;
        }
        TERMS[self.term].1
    }
    fn right(self) -> Role {
        if self.error {
            return Role::Clear;
        }
        TERMS[self.term].2
    }
    fn is_cue(self) -> bool {
        matches!(self.left(), Role::Cue(_)) || matches!(self.right(), Role::Cue(_))
    }
    fn word(self) -> &'static str {
        TERMS[self.term].0
    }
}

fn hits(text: &str) -> Vec<Hit> {
    let b = text.as_bytes();
    WORDS
        .find_iter(text)
        .filter(|m| {
            // ASCII words match whole: no letter glued to either end.
            let word = TERMS[m.pattern().as_usize()].0.as_bytes();
            let letter = |i: Option<usize>| {
                i.and_then(|i| b.get(i))
                    .is_some_and(u8::is_ascii_alphabetic)
            };
            !(word[0].is_ascii_alphabetic() && letter(m.start().checked_sub(1))
                || word[word.len() - 1].is_ascii_alphabetic() && letter(Some(m.end())))
        })
        .map(|m| Hit {
            start: m.start(),
            end: m.end(),
            term: m.pattern().as_usize(),
            suffix: b[m.start()].is_ascii_alphabetic()
                && m.start() > 0
                && b[m.start() - 1].is_ascii_digit(),
            error: false,
        })
        .collect()
}

/// Words that say a system showed what follows (`弹出`, `系统提示`), a few words before a `code`.
const SYSTEM_SAYS: &[&str] = &[
    "弹出",
    "弹窗",
    "提示",
    "系统提示",
    "报错",
    "错误",
    "异常",
    "error",
    "popup",
    "pop up",
    "prompt",
    "alert",
];

/// Words that say what went wrong (`账号异常`, `请稍后再试`), a few words after a `code`.
const WENT_WRONG: &[&str] = &["异常", "稍后再试", "请稍后", "重试", "error", "try again"];

/// Marks the `code`s that name an error or a status, as `error code` does: one a system showed
/// (`弹出 code: 4003`, `系统提示 CODE:100018`) or followed by what went wrong (`code 4003 账号异常`).
/// Not when its sentence tells a story or names a source (`i typed the code`, `sms code`), nor
/// when the code is introduced (`the code is 482913`): those are the user's code.
fn error_codes(text: &str, hits: &mut [Hit]) {
    for i in 0..hits.len() {
        let h = hits[i];
        if h.left() != C || h.suffix || h.word() != "code" {
            continue;
        }
        let start = text[..h.start].rfind(SENTENCE_END).map_or(0, |at| {
            at + text[at..].chars().next().map_or(1, char::len_utf8)
        });
        let end = text[h.end..]
            .find(SENTENCE_END)
            .map_or(text.len(), |at| h.end + at);
        let same = |j: &&Hit| j.start >= start && j.end <= end;
        let story = hits.iter().filter(same).any(|j| {
            [j.left(), j.right()]
                .iter()
                .any(|r| matches!(r, Role::Told | Role::Received))
        });
        if story || points_back(&text[h.end..end]) {
            continue;
        }
        let system = hits[..i]
            .iter()
            .rev()
            .take_while(same)
            .any(|j| SYSTEM_SAYS.contains(&j.word()) && units(&text[j.end..h.start]) <= NEAR);
        let wrong = hits[i + 1..]
            .iter()
            .take_while(same)
            .any(|j| WENT_WRONG.contains(&j.word()) && units(&text[h.end..j.start]) <= FAR_RIGHT);
        hits[i].error = system || wrong;
    }
}

/// How far apart two places are, in words: a Chinese character, an ASCII word or number, a
/// punctuation mark each count one, spaces nothing.
fn units(s: &str) -> usize {
    let mut n = 0;
    let mut in_word = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '\'' && in_word {
            n += usize::from(!in_word);
            in_word = true;
        } else {
            in_word = false;
            n += usize::from(!c.is_whitespace());
        }
    }
    n
}

/// A secret word this close (in [`units`]) is near: two points of evidence.
const NEAR: usize = 4;
/// Words farther than this before a run say nothing about it.
const FAR_LEFT: usize = 12;
/// Words farther than this after a run, or past the end of its sentence, say nothing about it.
const FAR_RIGHT: usize = 8;
/// How far back, in bytes, the sentence of a password word may qualify it (two dozen Chinese
/// characters).
const FAR_BYTES: usize = 72;
/// Evidence a run needs.
const ENOUGH: usize = 2;

/// What ends a sentence.
const SENTENCE_END: [char; 4] = ['。', '!', '?', '\n'];

fn ends_sentence(s: &str) -> bool {
    s.contains(SENTENCE_END)
}

/// `s` ends with a word that introduces a value.
fn introduced(s: &str) -> bool {
    let s = s.trim_end();
    INTRODUCERS.iter().any(|w| {
        s.strip_suffix(w).is_some_and(|head| {
            // An ASCII introducer is a whole word.
            !w.as_bytes()[0].is_ascii_alphabetic()
                || !head.as_bytes().last().is_some_and(u8::is_ascii_alphabetic)
        })
    })
}

/// `s` opens with a word that introduces a value and says in a few words what it is before giving
/// it (`就是我生日` of `密码就是我生日19900827`, `is my birthday`).
fn introduces_a_description(s: &str) -> bool {
    let s = s.trim_start();
    let s = ["就", "也", "都", "还", "其实", "应该"]
        .iter()
        .find_map(|a| s.strip_prefix(a))
        .unwrap_or(s);
    ["是", "为", "系", ":", "is", "was"].iter().any(|w| {
        s.strip_prefix(w).is_some_and(|rest| {
            (!w.as_bytes()[0].is_ascii_alphabetic()
                || !rest.as_bytes().first().is_some_and(u8::is_ascii_alphabetic))
                && units(rest) <= FAR_RIGHT
        })
    })
}

/// Words after a value that point back to it (`这个是不是`, `that's`): a secret word after them is
/// as good as near.
const POINTERS: &[&str] = &[
    "这个",
    "这是",
    "这就是",
    "就是",
    "是",
    "系",
    "为",
    "that",
    "this",
    "it",
    "is",
    "was",
];

/// `s` starts with a word that points back to the value before it.
fn points_back(s: &str) -> bool {
    let s = s.trim_start();
    POINTERS.iter().any(|w| {
        s.strip_prefix(w).is_some_and(|tail| {
            !w.as_bytes()[0].is_ascii_alphabetic()
                || !tail.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        })
    })
}

// ---------------------------------------------------------------------------------------------
// The reading of one message.

struct Reading<'a> {
    text: &'a str,
    /// The runs of digits of the message.
    runs: &'a [Run],
    hits: Vec<Hit>,
    expecting: Option<SecretKind>,
    /// Where the message is once trimmed: a run spanning it is the whole message (`482 913`,
    /// `３３１６。`).
    bare: (usize, usize),
}

/// What is glued to a run (see [`Reading::glued`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Glued {
    Nothing,
    /// Makes it part of an id or a signed, masked or international number: never a secret.
    Id,
    /// Letters after it: an id unless a secret word names it.
    Tail,
}

/// A secret found: its span in the normalised text, its kind, and the word that named it.
#[derive(Debug, Clone, Copy)]
struct Found {
    start: usize,
    end: usize,
    kind: SecretKind,
    cue: Option<usize>,
}

impl Reading<'_> {
    /// The kind of secret the word of hit `i` names, for a value that ends at `until`.
    fn kind_of(&self, i: usize, until: usize, digits: bool) -> SecretKind {
        let h = self.hits[i];
        // The word as read: before the value, or after it (`482913code`).
        let cue = match (h.left(), h.right()) {
            (Role::Cue(c), _) | (_, Role::Cue(c)) => c,
            _ => Cue::Password,
        };
        let default = match cue {
            Cue::Code => return SecretKind::VerificationCode,
            Cue::Watchword if digits => return SecretKind::VerificationCode,
            Cue::Pin => SecretKind::PaymentPassword,
            Cue::Password | Cue::Watchword => SecretKind::Password,
        };
        let text = self.text;
        // Words before it qualify it back to the previous secret word (`ATM PIN 6071 and
        // password …`: the ATM is the PIN's).
        let floor = self.hits[..i]
            .iter()
            .rev()
            .find(|p| p.is_cue())
            .map_or(0, |p| p.end);
        let near = back_units(text, h.start, NEAR).max(floor);
        // The nearest qualifier in the few words before the password word or in it (`zfmm`),
        // or else between it and the value (`the PIN for my debit card is …`), or else
        // farther back in its sentence a payment or a card (`转账时要输的那个6位密码`,
        // `交通银行 卡号不说了 密码 …`). What one logs in to (`微信`) is the word's own kind.
        let head = &text[near..h.end];
        let between = &text[h.end.min(until)..until];
        let found = qualifiers(head)
            .last()
            .or_else(|| qualifiers(between).next())
            .or_else(|| {
                // Two dozen Chinese characters, a dozen English words, back to the sentence's
                // start.
                let mut far = h.start.saturating_sub(FAR_BYTES).max(floor);
                while !text.is_char_boundary(far) {
                    far += 1;
                }
                let window = &text[far..h.start];
                let window = window
                    .rfind(SENTENCE_END)
                    .map_or(window, |at| &window[at..]);
                qualifiers(window)
                    .filter(|&k| k != SecretKind::VerificationCode)
                    .last()
            });
        match found {
            None | Some(SecretKind::Password) => default,
            Some(k) => k,
        }
    }

    /// Whether `run` is a secret, and of what kind.
    fn judge(&self, run: &Run) -> Option<Found> {
        let text = self.text;
        let glued = self.glued(run);
        if glued == Glued::Id {
            return None;
        }
        // The secret word nearest the run (before it, else after it) and whether it is near.
        let mut cue: Option<(usize, bool)> = None;
        let (mut told, mut received, mut length) = (false, false, false);
        // A word before the run names something else (`订单 …`); a unit right after measures it.
        let (mut cleared, mut measured) = (false, false);
        // The run is called a secret by the words after it (`… 是验证码`).
        let mut pointed = false;
        // The secret word before the run gave its value to another run between them (`取款密码
        // 0088 和短信上的 736291`).
        let mut taken = false;
        // The secret word before it is introduced and described (`密码就是我生日…`): as good as
        // near, though it does not name a number with a unit (`密码是我生日 2020 年改的`).
        let mut described = false;
        let before = self.hits.partition_point(|h| h.end <= run.start);
        for i in (0..before).rev() {
            let h = self.hits[i];
            let between = &text[h.end..run.start];
            let gap = units(between);
            // Another sentence: only a secret word just before its end still counts, as a far
            // one (`code?? 449120`, not `验证码收不到。我的生日是 19900512`).
            let crossed = ends_sentence(between);
            if gap > FAR_LEFT || crossed && gap > NEAR {
                break;
            }
            match h.left() {
                Role::Cue(_) => {
                    taken = self
                        .runs
                        .iter()
                        .any(|r| r.start >= h.end && r.end <= run.start);
                    let near = !crossed && !taken && (gap <= NEAR || introduced(between));
                    described = !crossed && !taken && introduces_a_description(between);
                    cue = Some((i, near));
                    break;
                }
                _ if crossed => {}
                // A word that names a number names the first after it (`第一次 … 118430`).
                Role::Clear if !between.contains(is_digit) => {
                    cleared = true;
                    break;
                }
                Role::Told if gap <= NEAR => told = true,
                Role::Received => received = true,
                Role::Length => length = true,
                _ => {}
            }
        }
        let after = self.hits.partition_point(|h| h.start < run.end);
        for (i, h) in self.hits.iter().enumerate().skip(after) {
            let between = &text[run.end..h.start];
            let gap = units(between);
            if gap > FAR_RIGHT || ends_sentence(between) {
                break;
            }
            match h.right() {
                // A unit is written right after its number (`5000 元`, not `5000 这个`).
                Role::Clear if gap == 0 => measured = true,
                // The nearer of the words on both sides: a near one before a far one.
                Role::Cue(_) if !cue.is_some_and(|(_, near)| near) && !pointed => {
                    pointed = points_back(between);
                    let near = gap <= NEAR || pointed;
                    if cue.is_none() || near {
                        cue = Some((i, near));
                        (taken, described) = (false, false);
                    }
                }
                Role::Told if gap <= NEAR => told = true,
                Role::Received => received = true,
                Role::Length => length = true,
                _ => {}
            }
        }
        let near = cue.is_some_and(|(_, near)| near);
        // Called a secret in so many words (`QQ 0000 是验证码`), it is one whatever named it
        // before; a secret word merely after it is not enough (`错误 40029 invalid code`).
        if cleared && !pointed {
            return None;
        }
        // Letters after it, a unit, a decimal point, a date's shape: no secret, unless a secret
        // word just named it (`验证码是482913ok`).
        if (glued == Glued::Tail || measured || run.number) && !near {
            return None;
        }
        let shape = run.digits == 6 || run.spelled || run.numerals >= 3;
        // Six digits set apart by marks one by one (`2/0/9/4/1/6`, `4-8-2-9-1-3`): a code
        // disguised, as no other number is written (a date's or a list's groups differ).
        let disguised = run.digits == 6
            && run.spelled
            && text[run.start..run.end]
                .contains(|c: char| is_separator(c) && !matches!(c, ' ' | ',' | '、'));
        let mut score = usize::from(told)
            + usize::from(received)
            + usize::from(length)
            + usize::from(shape)
            + usize::from(disguised);
        score += match cue {
            Some((_, true)) => 2,
            Some((_, false)) => 1 + usize::from(described),
            None => 0,
        };
        if self.bare == (run.start, run.end) || self.expecting.is_some() {
            score += 2;
        } else if self.nearly_bare(run) {
            // A number and a word or two (`ok here: 5 2 9 9 1 0`, `给你 482913`).
            score += 1;
        }
        if score < ENOUGH {
            return None;
        }
        let kind = match cue {
            // Given after another secret's value and a source (`短信上的`): a code.
            Some(_) if taken && received => SecretKind::VerificationCode,
            Some((i, _)) => self.kind_of(i, run.start.max(self.hits[i].end), true),
            None => self.expecting.unwrap_or(SecretKind::VerificationCode),
        };
        let fits = kind.digits().contains(&run.digits)
            // Too long for its kind but just named (`验证码是四八二九一三两三天`): the secret is in
            // it, so all of it goes; a phone number is the exception, unless it is a password.
            || run.digits > *kind.digits().end()
                && near
                && (kind == SecretKind::Password || !phone_shaped(&text[run.start..run.end]));
        fits.then_some(Found {
            start: run.start,
            end: run.end,
            kind,
            cue: cue.map(|(i, _)| i),
        })
    }

    /// The message is `run` and at most two words besides (punctuation aside).
    fn nearly_bare(&self, run: &Run) -> bool {
        let (start, end) = self.bare;
        // Words: ASCII words and numbers, and other letters (a Chinese character) one each.
        let words = |s: &str| {
            let mut n = 0;
            let mut in_word = false;
            for c in s.chars() {
                let ascii_word = c.is_ascii_alphanumeric() || c == '_';
                n += usize::from(ascii_word && !in_word || !c.is_ascii() && c.is_alphanumeric());
                in_word = ascii_word;
            }
            n
        };
        start <= run.start
            && run.end <= end
            && words(&self.text[start..run.start]) + words(&self.text[run.end..end]) <= 2
    }

    /// What is glued to a run: shapes no secret has around it (a minus sign, a `+` country code, a
    /// mask `139****5678`, letters before it `jf8899`, `lily_2020`, `0x8007`, unless they are a
    /// secret word `code482913`), or letters after it (`4421abc`: an id, unless a secret word
    /// just named it, `验证码是482913ok`).
    fn glued(&self, run: &Run) -> Glued {
        let text = self.text;
        let head = &text[..run.start];
        let tail = &text[run.end..];
        let mut back = head.chars().rev();
        let prev = back.next();
        let prev2 = back.next();
        let next = tail.chars().next();
        let masked = |s: Option<char>| s == Some('*');
        if masked(head.trim_end().chars().next_back()) || masked(tail.trim_start().chars().next()) {
            return Glued::Id;
        }
        let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        // Ids are ASCII (`jf8899`): letters before a Chinese numeral make none.
        let ascii = text[run.start..].starts_with(|c: char| c.is_ascii_digit());
        match prev {
            Some('+') => return Glued::Id,
            Some('-') if !prev2.is_some_and(is_han) => return Glued::Id,
            Some('_' | '-' | '.' | '@' | '/') if ascii && alnum(prev2) => return Glued::Id,
            Some(c) if ascii && c.is_ascii_alphabetic() => {
                // The word glued before: a secret word, or part of an id.
                let word_start = head
                    .rfind(|c: char| !c.is_ascii_alphabetic())
                    .map_or(0, |i| i + 1);
                let at = self.hits.partition_point(|h| h.end < run.start);
                let glued_cue = self.hits.get(at).is_some_and(|h| {
                    h.start <= word_start && h.end == run.start && matches!(h.left(), Role::Cue(_))
                });
                if !glued_cue {
                    return Glued::Id;
                }
            }
            _ => {}
        }
        let ascii_end = text[..run.end].ends_with(|c: char| c.is_ascii_digit());
        let letter_after = ascii_end
            && match next {
                Some(c) if c.is_ascii_alphabetic() => true,
                Some('_' | '@') => true,
                Some('-' | '.' | '/') => tail[1..].starts_with(|c: char| c.is_ascii_alphabetic()),
                _ => false,
            };
        if letter_after {
            Glued::Tail
        } else {
            Glued::Nothing
        }
    }

    /// The password after the word of hit `i` (or from `from` with no word, when the previous
    /// message asked for one), if a token there is one.
    fn password_after(&self, i: Option<usize>, from: usize) -> Option<Found> {
        let text = self.text;
        let mut pos = from;
        let mut intro = true;
        let mut gap = 0;
        let next_hit = |pos: usize| {
            let at = self.hits.partition_point(|h| h.start < pos);
            self.hits.get(at).filter(|h| h.start == pos)
        };
        let kind = |until: usize| match i {
            Some(i) => self.kind_of(i, until, false),
            None => self.expecting.unwrap_or(SecretKind::Password),
        };
        while pos < text.len() && gap <= FAR_RIGHT {
            if let Some(h) = next_hit(pos) {
                // Another word that names something: the value, if any, is that word's. A word
                // that only begins a longer token is part of it (`qq8812abc`).
                let token_end = text[pos..]
                    .find(|c: char| !c.is_ascii_graphic())
                    .map_or(text.len(), |at| pos + at);
                let inside = text[pos..].starts_with(|c: char| c.is_ascii_graphic())
                    && h.end < token_end
                    && text[h.end..].starts_with(|c: char| c.is_ascii_alphanumeric());
                if !inside && !matches!(h.left(), Role::None | Role::Told | Role::Length) {
                    return None;
                }
            }
            let c = text[pos..].chars().next()?;
            if c.is_whitespace() {
                if c == '\n' {
                    return None;
                }
                pos += 1;
                continue;
            }
            if matches!(c, '。' | '!' | '?') {
                return None;
            }
            if let Some(close) = closing_quote(c) {
                let inner_start = pos + c.len_utf8();
                let inner_end = text[inner_start..]
                    .find(close)
                    .map(|at| inner_start + at)
                    .filter(|&e| e - inner_start <= 64);
                if let Some(e) = inner_end {
                    let inner = &text[inner_start..e];
                    let literal = inner.len() >= 3
                        && !inner.contains('\n')
                        && inner.chars().all(|c| c.is_ascii_graphic() || c == ' ');
                    if literal {
                        if inner.bytes().all(|b| b.is_ascii_digit()) {
                            return None; // all digits: the digit reader's
                        }
                        return Some(Found {
                            start: inner_start,
                            end: e,
                            kind: kind(inner_start),
                            cue: i,
                        });
                    }
                }
                pos += c.len_utf8();
                gap += 1;
                continue;
            }
            if !c.is_ascii_graphic() {
                // A Chinese character or another symbol: an introducer or a word in between.
                intro = INTRODUCERS.contains(&&text[pos..pos + c.len_utf8()]);
                pos += c.len_utf8();
                gap += 1;
                continue;
            }
            let end = text[pos..]
                .find(|c: char| !c.is_ascii_graphic())
                .map_or(text.len(), |at| pos + at);
            let raw = &text[pos..end];
            let lead = raw.len()
                - raw
                    .trim_start_matches([':', '=', ')', ']', '}', '>', '"', '\'', ','])
                    .len();
            let token = raw[lead..]
                .trim_end_matches([',', '.', ';', ':', '?', ')', ']', '}', '"', '\'', '>']);
            let (s, e) = (pos + lead, pos + lead + token.len());
            pos = end;
            if token.is_empty() {
                // Punctuation alone: `:` and `=` introduce, brackets are transparent.
                intro |= raw.contains([':', '=']);
                continue;
            }
            gap += 1;
            if FILLERS.contains(&token) {
                intro = INTRODUCERS.contains(&token);
                continue;
            }
            let letters = token.bytes().any(|b| b.is_ascii_alphabetic());
            let digits = token.bytes().any(|b| b.is_ascii_digit());
            let symbols = token
                .bytes()
                .any(|b| b.is_ascii_punctuation() && !matches!(b, b'.' | b'@' | b'-' | b'/'));
            let address = token.contains("://")
                || token.starts_with("www.")
                || token.split_once('@').is_some_and(|(_, d)| d.contains('.'));
            if !letters {
                return None; // a number: the digit reader's
            }
            if intro && !address && token.len() >= 4 && (digits || symbols) {
                return Some(Found {
                    start: s,
                    end: e,
                    kind: kind(s),
                    cue: i,
                });
            }
            if intro && !digits && !symbols {
                // A word and a number together (`Rose 2022`).
                let rest = &text[e..];
                if let Some(num) = rest.strip_prefix(' ') {
                    let n = num
                        .find(|c: char| !c.is_ascii_alphanumeric())
                        .unwrap_or(num.len());
                    let number = &num[..n];
                    if number.len() >= 2 && number.bytes().all(|b| b.is_ascii_digit()) {
                        return Some(Found {
                            start: s,
                            end: e + 1 + n,
                            kind: kind(s),
                            cue: i,
                        });
                    }
                }
            }
            intro = false;
        }
        None
    }
}

fn closing_quote(c: char) -> Option<char> {
    Some(match c {
        '\'' => '\'',
        '"' => '"',
        '“' => '”',
        '‘' => '’',
        '「' => '」',
        '『' => '』',
        '《' => '》',
        '【' => '】',
        '(' => ')',
        '[' => ']',
        '<' => '>',
        _ => return None,
    })
}

/// A mobile (`138 0013 8000`), landline (`021-64886688`) or service (`400-670-0700`) number.
fn phone_shaped(run: &str) -> bool {
    let digits: String = run.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len();
    n == 11 && digits.starts_with('1')
        || (10..=12).contains(&n) && ["0", "400", "800"].iter().any(|p| digits.starts_with(p))
}

/// The byte position `n` [`units`] back from `at`.
fn back_units(text: &str, at: usize, n: usize) -> usize {
    let mut seen = 0;
    let mut in_word = false;
    for (i, c) in text[..at].char_indices().rev() {
        if c.is_ascii_alphanumeric() {
            if !in_word {
                if seen == n {
                    return i + c.len_utf8();
                }
                seen += 1;
            }
            in_word = true;
        } else {
            in_word = false;
            if !c.is_whitespace() {
                if seen == n {
                    return i + c.len_utf8();
                }
                seen += 1;
            }
        }
    }
    0
}

/// Words without which a message holds no password and names no secret: the gate of the
/// automaton for messages with no digit run.
fn may_name_a_secret(text: &str, scan: &Scan) -> bool {
    scan.cue_char
        || scan.letters
            && [
                "code",
                "otp",
                "pin",
                "yzm",
                "yanzhengma",
                "yan zheng",
                "pass",
                "pw",
                "mm",
                "mima",
                "mi ma",
                "case",
                "caps",
            ]
            .iter()
            .any(|w| text.contains(w))
}

/// Finds and redacts the secrets of a message. `expecting`: the previous message named a
/// secret of this kind without giving it (a number here is then read as that secret).
pub fn guard(n: Normalized, expecting: Option<SecretKind>) -> Guarded {
    let text = n.text.as_str();
    let scan = read_runs(text, true);
    let runs = &scan.runs;
    if runs.is_empty() && expecting.is_none() && !may_name_a_secret(text, &scan) {
        return Guarded {
            redacted: n.original,
            text: n.text,
            secrets: Vec::new(),
            expects: None,
        };
    }
    let trimmed = text.trim_matches(|c: char| {
        c.is_whitespace() || matches!(c, '.' | '。' | '!' | '?' | '~' | '…')
    });
    let bare_start = trimmed.as_ptr() as usize - text.as_ptr() as usize;
    let mut hits = hits(text);
    error_codes(text, &mut hits);
    let reading = Reading {
        text,
        runs,
        hits,
        expecting,
        bare: (bare_start, bare_start + trimmed.len()),
    };
    let mut found: Vec<Found> = Vec::new();
    for run in runs {
        match reading.judge(run) {
            Some(f) => found.push(f),
            None if run.mixed => {
                let within = &text[run.start..run.end];
                for mut piece in read_runs(within, false).runs {
                    (piece.start, piece.end) = (run.start + piece.start, run.start + piece.end);
                    found.extend(reading.judge(&piece));
                }
            }
            None => {}
        }
    }
    for (i, h) in reading.hits.iter().enumerate() {
        if matches!(
            h.left(),
            Role::Cue(Cue::Password | Cue::Pin | Cue::Watchword) | Role::CaseHint
        ) {
            found.extend(reading.password_after(Some(i), h.end));
        }
    }
    if matches!(expecting, Some(k) if k != SecretKind::VerificationCode) {
        found.extend(reading.password_after(None, 0));
    }
    // The last secret word of the message, if no value went with it.
    let expects = reading
        .hits
        .iter()
        .enumerate()
        .rev()
        .find(|(_, h)| matches!(h.left(), Role::Cue(_)))
        .filter(|&(i, _)| !found.iter().any(|f| f.cue == Some(i)))
        .map(|(i, h)| reading.kind_of(i, h.end, true));
    if found.is_empty() {
        return Guarded {
            redacted: n.original,
            text: n.text,
            secrets: Vec::new(),
            expects,
        };
    }
    // Overlapping finds (`Rose 2022` and its `2022`) become one span, of the first's kind.
    found.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    let mut spans: Vec<(usize, usize, SecretKind)> = Vec::with_capacity(found.len());
    for f in &found {
        match spans.last_mut() {
            Some(last) if f.start < last.1 => last.1 = last.1.max(f.end),
            _ => spans.push((f.start, f.end, f.kind)),
        }
    }
    let mut kinds: Vec<SecretKind> = spans.iter().map(|s| s.2).collect();
    kinds.sort();
    kinds.dedup();
    let orig: Vec<(usize, usize, SecretKind)> = spans
        .iter()
        .map(|&(s, e, k)| {
            // Separators the normalised text dropped around it (`三 六 九 … 二 啦`) stay.
            let (a, b) = n.original_span(s, e);
            let typed = &n.original[a..b];
            let b = a + typed.trim_end().len();
            let a = b - typed[..b - a].trim_start().len();
            (a, b, k)
        })
        .collect();
    Guarded {
        redacted: splice(&n.original, &orig),
        text: splice(text, &spans),
        secrets: kinds,
        expects,
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
        guard(Normalizer::new(&[]).unwrap().normalize(s), None)
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

    use SecretKind::{CardPin, Password as Pw, PaymentPassword as Pay, VerificationCode as Code};

    /// Each message holds the secret given, of the kind given: gone from both texts, and the
    /// only kind reported.
    fn assert_redacted(cases: &[(&str, &str, SecretKind)]) {
        let n = Normalizer::new(&[]).unwrap();
        for &(msg, secret, kind) in cases {
            let out = g(msg);
            assert_eq!(out.secrets, vec![kind], "{msg} → {}", out.redacted);
            assert!(!out.redacted.contains(secret), "{msg} → {}", out.redacted);
            let folded = n.normalize(secret).text;
            assert!(!out.text.contains(&folded), "{msg} → {}", out.text);
        }
    }

    /// None of these messages holds a secret: nothing reported, nothing changed.
    fn assert_clean(msgs: &[&str]) {
        for msg in msgs {
            let out = g(msg);
            assert!(
                out.secrets.is_empty(),
                "{msg}: {:?} → {}",
                out.secrets,
                out.redacted
            );
            assert_eq!(out.redacted, *msg);
        }
    }

    #[test]
    fn the_digit_reader_reads_every_script_and_spacing_as_one_number() {
        let read = |s: &str| -> Vec<(String, usize)> {
            let t = Normalizer::new(&[]).unwrap().normalize(s).text;
            read_runs(&t, true)
                .runs
                .iter()
                .map(|r| (t[r.start..r.end].to_owned(), r.digits))
                .collect()
        };
        let one = |s: &str, want: &str, digits: usize| {
            assert_eq!(read(s), vec![(want.to_owned(), digits)], "{s}");
        };
        one("482913", "482913", 6);
        one("４８２９１３", "482913", 6);
        one("四八二九一三", "四八二九一三", 6);
        one("肆捌贰玖壹叁", "肆捌贰玖壹叁", 6);
        one("貳參陸兩", "贰参陆两", 4);
        one("幺洞拐勾", "幺洞拐勾", 4);
        one("五〇七 三一八", "五〇七三一八", 6);
        one("4八2九1三", "4八2九1三", 6);
        one("4 8-2 9 1 3", "4 8-2 9 1 3", 6);
        one("640·197", "640·197", 6);
        one("3,0,8,1,7,5", "3,0,8,1,7,5", 6);
        one("28．64．19", "28.64.19", 6);
        one("7~7~0/9|1_3", "7~7~0/9|1_3", 6);
        // An emoji digit's keycap goes with it.
        one("5️⃣0️⃣3️⃣1️⃣", "5 \u{20e3}0 \u{20e3}3 \u{20e3}1 \u{20e3}", 4);
        // Decimals, thousands, versions and a clause's comma end a number.
        assert_eq!(
            read("余额1314.52元，共12,800元，版本8.0.49"),
            vec![("1314".to_owned(), 4)]
        );
        assert_eq!(read("482 913，100"), vec![("482 913".to_owned(), 6)]);
        // Everyday numerals in words stay words.
        assert!(read("一两个 三四天 一五一十 第一次").is_empty());
    }

    #[test]
    fn every_qualifier_is_found_where_it_begins() {
        // `qualifiers` looks only where a qualifier can begin: each must be found.
        for &(w, k) in QUALIFIERS {
            assert_eq!(qualifiers(w).next(), Some(k), "{w}");
        }
    }

    #[test]
    fn redaction_removes_exactly_the_characters_typed() {
        for (msg, want) in [
            (
                "验证码：４８２９１３。好的",
                "验证码：[redacted:code]。好的",
            ),
            ("码是 5️⃣0️⃣3️⃣1️⃣7️⃣6️⃣ 快", "码是 [redacted:code] 快"),
            (
                "驗證碼係 三 六 九 零 八 二 啦",
                "驗證碼係 [redacted:code] 啦",
            ),
            ("password: kiwi2024! ok", "password: [redacted:password] ok"),
            ("密码是「xiao_0618」", "密码是「[redacted:password]」"),
            ("  771204   ", "  [redacted:code]   "),
        ] {
            assert_eq!(g(msg).redacted, want, "{msg}");
        }
    }

    #[test]
    fn codes_in_chinese_numerals_are_redacted() {
        assert_redacted(&[
            ("验证码：七三九一零五", "七三九一零五", Code),
            ("收到的验证码是 零零八四六二", "零零八四六二", Code),
            ("我刚把 捌壹玖零肆贰 念给客服了", "捌壹玖零肆贰", Code),
            ("码 是 三三一 九九七", "三三一 九九七", Code),
            ("短信说 二〇二四八六 是验证码", "二〇二四八六", Code),
            ("幺洞幺洞拐勾 我发给他了", "幺洞幺洞拐勾", Code),
            ("验证码 9五3一2八", "9五3一2八", Code),
            ("我支付密码 伍伍陆柒捌玖", "伍伍陆柒捌玖", Pay),
            ("銀行卡密碼係 六六八八", "六六八八", CardPin),
            ("密码 两零一九零八二七", "两零一九零八二七", Pw),
        ]);
    }

    #[test]
    fn a_message_that_is_only_a_number_is_a_code() {
        assert_redacted(&[
            ("４４０２９１", "４４０２９１", Code),
            ("6630", "6630", Code),
            ("18 27 44", "18 27 44", Code),
            ("  882 019 ~ ", "882 019", Code),
            ("五五三二一零", "五五三二一零", Code),
            ("0 0 1 9 8 4", "0 0 1 9 8 4", Code),
            ("20561.", "20561", Code),
            // A number and a word or two.
            ("ok here: 5 2 9 9 1 0", "5 2 9 9 1 0", Code),
            ("给你 482913", "482913", Code),
        ]);
        assert_clean(&["since 2019", "in 1998 i think"]);
        // A number that is shaped as no code is not one, alone or not.
        assert_clean(&["-100", "2025-01-08", "13800138000", "1314.52", "12"]);
    }

    #[test]
    fn short_and_slang_code_words_name_a_code() {
        assert_redacted(&[
            ("碼係 661 042", "661 042", Code),
            ("otp=551902", "551902", Code),
            ("码发你了906331", "906331", Code),
            ("the sms code: 7730", "7730", Code),
            ("passcode 449012", "449012", Code),
            ("驗證碼 : 009 443", "009 443", Code),
            ("yzm是 552031", "552031", Code),
            ("动态口令 880146", "880146", Code),
            ("动态密码 449 810", "449 810", Code),
            ("这个码对吗 7 7 3 0", "7 7 3 0", Code),
            ("0000 这个是不是验证码", "0000", Code),
            ("code482913 thanks", "482913", Code),
            ("code?? 449120", "449120", Code),
            (
                "the 6 digit number from the text was 118 204",
                "118 204",
                Code,
            ),
            ("验证码是482913ok", "482913", Code),
        ]);
    }

    #[test]
    fn a_code_told_in_a_story_is_redacted() {
        assert_redacted(&[
            ("我把 773 019 告诉那个人了", "773 019", Code),
            (
                "she made me read 482 019 to her over the phone",
                "482 019",
                Code,
            ),
            ("我刚才手贱把手机收到的 993104 发出去了", "993104", Code),
            ("then I gave them 228 174", "228 174", Code),
            ("我回复了他 550 318", "550 318", Code),
            ("对方让我把 441 207 填进去", "441 207", Code),
            ("he told me to enter 662019 and i did", "662019", Code),
            ("my dad texted 330 912 to that guy", "330 912", Code),
            ("收到短信 内容是 992013", "992013", Code),
            ("我发了 482913 一个小时后号就没了", "482913", Code),
        ]);
        // A story about money or a number that is no code.
        assert_clean(&[
            "I sent him 5000 yesterday",
            "我发了 300 块",
            "我给了他 2000 押金",
        ]);
    }

    #[test]
    fn bank_card_pins_are_their_own_kind() {
        assert_redacted(&[
            ("建设银行卡密码是 7788", "7788", CardPin),
            ("my bank card PIN is 4410", "4410", CardPin),
            ("取款密碼：０８２１", "０８２１", CardPin),
            ("信用卡的密码 552 910", "552 910", CardPin),
            ("ATM 密码 9 9 0 1", "9 9 0 1", CardPin),
            ("我的提款密码是 3301", "3301", CardPin),
            (
                "the PIN for my debit card is 6093, I gave it away",
                "6093",
                CardPin,
            ),
        ]);
    }

    #[test]
    fn all_digit_passwords_are_passwords() {
        assert_redacted(&[
            ("我的QQ密码是 19951231", "19951231", Pw),
            ("微信登录密码 112233 会不会太简单", "112233", Pw),
            ("password: 55667788", "55667788", Pw),
            ("邮箱密码就是 246824 你帮我看看", "246824", Pw),
            ("mm 888999", "888999", Pw),
            ("pwd 1122334455", "1122334455", Pw),
            ("密码跟我生日一样 是 0719", "0719", Pw),
        ]);
    }

    #[test]
    fn a_password_is_the_token_its_word_introduces() {
        assert_redacted(&[
            ("密码: sunny_day88", "sunny_day88", Pw),
            ("my password is Tr0ub4dor&3", "Tr0ub4dor&3", Pw),
            ("pwd是 Abc!2345", "Abc!2345", Pw),
            ("密码是 'happy2023'", "happy2023", Pw),
            ("pw = xyZ_77!", "xyZ_77!", Pw),
            ("密碼係 chan2019hk", "chan2019hk", Pw),
            ("pass: Qwerty@123", "Qwerty@123", Pw),
            ("我把密码 love5201314 告诉他了", "love5201314", Pw),
            ("登录密码（全小写）mylove99", "mylove99", Pw),
            ("the password was Bluebird 77", "Bluebird 77", Pw),
            ("mima shi abc12345", "abc12345", Pw),
            ("pw is 'Blue$Sky'", "Blue$Sky", Pw),
            ("qq密码是 qq8812abc", "qq8812abc", Pw),
        ]);
        // A word that is no password, a product name not introduced as one, an address.
        assert_clean(&[
            "my password is wrong",
            "改了密码之后 用 mate60 登录不了",
            "i reset my password for abc@qq.com",
        ]);
    }

    #[test]
    fn payment_pins_in_a_sentence_are_payment_passwords() {
        assert_redacted(&[
            ("支付密码是 ４４８８２１", "４４８８２１", Pay),
            ("我的零钱密码 558 201", "558 201", Pay),
            ("付款密码 六六零九一二", "六六零九一二", Pay),
            ("wechat pay password 202020", "202020", Pay),
            ("他骗我输了支付密码 778120", "778120", Pay),
            ("交易密码 660 921 是不是泄露了", "660 921", Pay),
            ("I entered my pin 0426 on that site", "0426", Pay),
            ("他让我输入支付密码确认身份，我输了 381026", "381026", Pay),
        ]);
    }

    #[test]
    fn digits_spaced_out_any_way_are_one_code() {
        assert_redacted(&[
            ("验证码 1-2-3-9-8-7", "1-2-3-9-8-7", Code),
            ("验证码 44.19.07", "44.19.07", Code),
            ("验证码 7/7/3/1/0/9", "7/7/3/1/0/9", Code),
            ("验证码 8 ｜ 4 ｜ 1 ｜ 2", "8 ｜ 4 ｜ 1 ｜ 2", Code),
            ("我的验证码为:330 981,请帮我解封", "330 981", Code),
            ("Here is the code 5 5 0 2 1 9", "5 5 0 2 1 9", Code),
            ("code: ٤٨٢٩١٣", "٤٨٢٩١٣", Code),
            ("验证码是482913,5分钟内有效", "482913", Code),
        ]);
    }

    #[test]
    fn a_number_after_a_message_naming_a_secret_is_that_secret() {
        let n = Normalizer::new(&[]).unwrap();
        for (first, then, secret, kind) in [
            ("验证码是", "553017 快点帮我", "553017", Code),
            ("my code is", "ok so it's 4829 now", "4829", Code),
            ("我的支付密码是", "就是 7788 啊", "7788", Pay),
            ("密码是", "Abc12345 你试试", "Abc12345", Pw),
        ] {
            let named = g(first);
            assert!(named.secrets.is_empty(), "{first}");
            assert_eq!(named.expects, Some(kind), "{first}");
            let out = guard(n.normalize(then), named.expects);
            assert_eq!(out.secrets, vec![kind], "{then} → {}", out.redacted);
            assert!(!out.redacted.contains(secret), "{then} → {}", out.redacted);
            // Alone, the second message says nothing of a secret.
            assert!(g(then).secrets.is_empty(), "{then}");
        }
        // A message that gives the secret it names expects nothing more.
        assert_eq!(g("验证码是 482913").expects, None);
        // A number named as something else stays what it is.
        let out = guard(n.normalize("我的手机号 13800138000"), Some(Code));
        assert!(out.secrets.is_empty(), "{}", out.redacted);
    }

    #[test]
    fn numbers_named_as_something_else_are_left_alone() {
        assert_clean(&[
            // Errors.
            "错误码 -2006 怎么办",
            "提示 error 10014",
            "the error code is 8006",
            "验证码错误 提示 errcode 100013",
            "登录报错 ret=-10004",
            "小程序报 61003 错误",
            // Phones and hotlines.
            "我的手机号是 13912345678",
            "手机号 139 1234 5678",
            "+86 188****0000 这个号",
            "验证码收不到 我手机号 13800138000",
            "客服热线 95017",
            "打 12345 市民热线",
            "座机 021-64886688",
            // Money, dates, times, quantities.
            "转了 5000 元给他",
            "他收了我 2000 块 保证金",
            "余额 2380.50 元",
            "2024-05-11 被封的",
            "2024/5/11 被封",
            "11:30 收到短信",
            "我 2020 年注册的",
            "收到短信 说我账号 2024 年被封",
            "我的验证码收不到，等了 60 秒",
            "好友辅助要 48 小时后",
            "他让我转 3000 保证金",
            "一万二千块被骗了",
            // Orders, appeals, ids, places, versions.
            "订单号 1234567890123",
            "快递单号 YT88219938",
            "申诉编号 88017799",
            "QQ 8827731",
            "微信号 abc_1234",
            "我的微信号是 zhang_1990",
            "邮编 100080",
            "版本 8.0.50",
            "我住 1802 房间",
            "case number 00471239",
            "ticket #88231 still open",
            "银行卡尾号 8899 被扣款",
            "身份证 110101199003077777 可以解封吗",
            "邀请码 663020 是什么",
            "验证码收不到。我的生日是 19900512",
            "第 2 次申诉 编号 A1203",
            // Codes that are no account secret.
            "【快递】包裹到了 取件码 8821",
            "您的取餐码 3321",
            "网盘提取码 7x9k",
            // Words about secrets, no value.
            "验证码是6位数还是4位数",
            "支付密码输错了5次 被锁了",
            "my code didn't arrive after 5 minutes",
            "password reset link expired after 24 hours",
            // Units glued to a number are no password word.
            "宽了10mm，但扁了15mm",
        ]);
    }

    #[test]
    fn stories_in_more_verbs_and_dialects_are_redacted() {
        assert_redacted(&[
            // Read out (念, 读): what was read is the code.
            ("她叫我念的就是 七七零三一九", "七七零三一九", Code),
            ("我读的是 5 5 0 2 8 1 对吗", "5 5 0 2 8 1", Code),
            ("我念出 三九四一零二 之后才觉得不对", "三九四一零二", Code),
            // Cantonese: typed to him, given to him.
            ("我打俾佢嗰個係 204 817", "204 817", Code),
            ("之前 771 520 畀咗佢", "771 520", Code),
            ("我就將 803 214 俾佢睇", "803 214", Code),
            // Given to you.
            ("喏 给你 330 217", "330 217", Code),
            ("好啦好啦给你嘛 640218", "640218", Code),
            // What the message said, quoted or not.
            ("短信上写的是“580 213”", "580 213", Code),
            ("我就照着发了，内容是「772019」", "772019", Code),
            ("收到一条 上面写着 339 021 请勿泄露", "339 021", Code),
        ]);
        // The same verbs with money, a year, a count: no code.
        assert_clean(&[
            "给你 2000 块 行不行",
            "我念的是 2019 级",
            "打俾佢 3 次都冇人听",
            "内容是 2024 年的通知",
            "给你吧，我也不懂",
        ]);
    }

    #[test]
    fn six_digits_set_apart_one_by_one_are_a_code_but_dates_and_fractions_are_not() {
        assert_redacted(&[
            ("7/3/0/9/1/5 这样写行吗", "7/3/0/9/1/5", Code),
            ("4-8-2-9-1-3 他就收到了", "4-8-2-9-1-3", Code),
            ("1|0|2|9|3|8 这样分开", "1|0|2|9|3|8", Code),
            ("发 6.0.2.7.7.1 给他可以吗", "6.0.2.7.7.1", Code),
        ]);
        assert_clean(&[
            "2024/3/5 那天被封的",
            "3/5/2024 收到的",
            "进度 3/4 了",
            "完成了 1/2，还差一半",
            "1/2/3/4 号线都停了",
            "选项 1 2 3 4 5 6 哪个对",
            "第 1,2,3,4,5,6 步都做了",
        ]);
    }

    #[test]
    fn a_password_after_a_few_words_describing_it_is_redacted() {
        assert_redacted(&[
            ("QQ密码就是我老婆生日19880314", "19880314", Pw),
            ("邮箱密码是我名字拼音加 0522", "0522", Pw),
            ("my password is my birthday 19900827", "19900827", Pw),
            ("验证码就是短信里那个 552019", "552019", Code),
        ]);
        assert_clean(&[
            "密码就是我生日，去年改过",
            "密码是我以前用的生日 2020 年改的",
            "密码是什么 我的订单号 20240518",
        ]);
    }

    #[test]
    fn the_kind_comes_from_the_context_of_its_word() {
        assert_redacted(&[
            // A transfer, a payment farther back in the sentence.
            ("汇款的时候让我输那个六位数的密码 660 284", "660 284", Pay),
            ("他让我付钱时候要按的那个密码是 902 611", "902 611", Pay),
            ("zfmm是 118 290", "118 290", Pay),
            // A card, an ATM, a named bank farther back.
            ("去取钱要输的密码 8 2 0 1", "8 2 0 1", CardPin),
            ("招商银行 尾号不方便说 密码 4402", "4402", CardPin),
            ("ATM 机那个 密码 是 7 7 2 1", "7 7 2 1", CardPin),
            // What one logs in to keeps the word's own kind.
            ("银行卡被冻结了，我的微信密码 901 233", "901 233", Pw),
            ("转账失败了 qq密码 sunny_2020", "sunny_2020", Pw),
        ]);
        // Two secrets in one message keep their own kinds.
        for (msg, kinds) in [
            ("我的取款密码 0088 和短信上的 736291", vec![Code, CardPin]),
            ("银行卡密码 5521 还有收到的 338 104", vec![Code, CardPin]),
            ("ATM PIN 6071 and password Bunny#22", vec![Pw, CardPin]),
            ("atm pin 9910, email password Kiwi!2024", vec![Pw, CardPin]),
            ("支付密码 445566 登录密码 abc12345", vec![Pw, Pay]),
            ("验证码 482913 和 551902", vec![Code]),
        ] {
            let out = g(msg);
            assert_eq!(out.secrets, kinds, "{msg} → {}", out.redacted);
            assert!(
                !out.redacted.chars().any(|c| c.is_ascii_digit()),
                "{msg} → {}",
                out.redacted
            );
        }
    }

    #[test]
    fn a_code_a_system_shows_with_an_error_is_no_secret() {
        assert_clean(&[
            "弹出 code: 5002 登录异常",
            "系统提示 CODE:200417，请稍后再试",
            "app 报错 code 40013 怎么办",
            "it pops up an error, code: 1003",
            "code 9001 error when i log in",
            "提示 code=100503 请稍后重试",
            // Hong Kong phones, 4 + 4, after a phone word.
            "我手機號碼係 6123 4567",
            "電話號碼：9876-5432",
            "我嘅电话 5123 9988 打唔通",
            "whatsapp 9123 4567 is mine",
        ]);
        // Not when the code is the user's: introduced, received, told, or not an error.
        assert_redacted(&[
            ("the code is 482913", "482913", Code),
            ("弹出 code 是 550213 吗", "550213", Code),
            ("i typed the code 603 118 and got an error", "603 118", Code),
            ("短信提示 code 771 046", "771 046", Code),
            ("code: 902 114", "902 114", Code),
            ("登录异常了。code 551 209 给你", "551 209", Code),
        ]);
    }

    #[test]
    fn words_about_a_secret_without_its_value_expect_it() {
        for (msg, kind) in [
            ("有人问我要验证码", Some(Code)),
            ("支付密码忘了", Some(Pay)),
            ("my ATM pin is", Some(CardPin)),
            ("微信被封了怎么办", None),
            ("我的订单号是", None),
        ] {
            let out = g(msg);
            assert!(out.secrets.is_empty(), "{msg}");
            assert_eq!(out.expects, kind, "{msg}");
        }
    }
}
