//! Stage 1 of the pipeline: raw message text → [`Normalized`] text that every later stage matches
//! against, with the original kept and every normalised byte traceable back to it.
//!
//! What it undoes, in order: traditional → simplified Chinese (`fast2s`, one character for one, so
//! positions stay aligned), compatibility forms (NFKC: full-width letters and digits, full-width
//! punctuation), zero-width and control characters, look-alike letters from other scripts (the
//! Unicode confusables skeleton, applied to non-Chinese letters only), case, separators put inside
//! Chinese words (`解 封`, `解-封`, `解.封`, emoji), and the nicknames of the app and its words
//! (`vx`, `V信`, `薇信`, `jf` …), which come from the catalog (`[aliases]`), not from this file.
//!
//! It does not decide anything: it only makes the same thing look the same.
//!
//! The per-character part (all but bridging and aliases) depends on the character alone, except
//! for 15 characters fast2s simplifies by their neighbours, so it is read from a table of the
//! Basic Multilingual Plane built from the definition (`fold_slow`) a block at a time.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use unicode_normalization::UnicodeNormalization;

/// A message after normalisation. `text` is what the matchers read; `offsets` maps each byte of
/// `text` back to the byte of `original` it came from, so a span found in `text` can be redacted
/// in `original`.
#[derive(Debug, Clone)]
pub struct Normalized {
    pub original: String,
    pub text: String,
    offsets: Vec<u32>,
}

impl Normalized {
    /// The byte range of `original` that produced `text[start..end]`.
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        let s = self.offsets[start] as usize;
        let e = if end >= self.text.len() {
            self.original.len()
        } else {
            self.offsets[end] as usize
        };
        (s, e.max(s))
    }
}

/// Compiled alias table plus the fixed folding rules. Built once from the catalog.
#[derive(Debug, Clone)]
pub struct Normalizer {
    aliases: Option<AhoCorasick>,
    /// For each alias pattern: its replacement and whether it is ASCII (ASCII aliases such as
    /// `vx` or `jf` only match as whole tokens, so `jf8899` or `wxyz` are left alone).
    targets: Vec<(String, bool)>,
}

/// Character classes the bridging step needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Han,
    /// Whitespace, emoji, symbols and the light punctuation people put inside words.
    Bridge,
    Other,
}

/// A Chinese character: the ideograph blocks, and the ideographic zero `〇` (Han script, written
/// in numbers: it must not fold to the look-alike letter `o`).
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3007 | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// The CJK Unified Ideographs and Extension A: no compatibility decomposition, no case.
pub(crate) fn is_unified_han(c: char) -> bool {
    let [a, b] = &UNIFIED_HAN;
    a.contains(&(c as u32)) || b.contains(&(c as u32))
}

/// The blocks [`is_unified_han`] covers.
pub(crate) const UNIFIED_HAN: [std::ops::RangeInclusive<u32>; 2] =
    [0x3400..=0x4DBF, 0x4E00..=0x9FFF];

fn is_emoji_or_symbol(c: char) -> bool {
    matches!(c as u32,
        0x2190..=0x21FF   // arrows
        | 0x2300..=0x23FF // technical
        | 0x2460..=0x24FF // enclosed alphanumerics (after NFKC, the rest)
        | 0x25A0..=0x27BF // shapes, dingbats, misc symbols
        | 0x2900..=0x297F
        | 0x2B00..=0x2BFF
        | 0x3030 | 0x303D
        | 0xFE00..=0xFE0F // variation selectors
        | 0x1F000..=0x1FAFF
        | 0xE0020..=0xE007F)
}

fn is_invisible(c: char) -> bool {
    // Controls but the line break and the tab; beyond ASCII, controls, zero-width characters,
    // bidi overrides and other format characters.
    if c.is_ascii() {
        return c.is_ascii_control() && c != '\n' && c != '\t';
    }
    c.is_control()
        || matches!(c as u32,
            0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
            | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFEFF | 0xFFA0
            | 0xFFF0..=0xFFF8)
}

fn class(c: char) -> Class {
    if c.is_ascii() {
        return ASCII_CLASS[c as usize];
    }
    class_of(c)
}

/// [`class`] of the ASCII characters, read from a table.
static ASCII_CLASS: std::sync::LazyLock<[Class; 128]> =
    std::sync::LazyLock::new(|| std::array::from_fn(|i| class_of(char::from(i as u8))));

fn class_of(c: char) -> Class {
    if is_han(c) {
        Class::Han
    } else if c.is_whitespace()
        || is_emoji_or_symbol(c)
        || matches!(
            c,
            '-' | '_'
                | '.'
                | '·'
                | '•'
                | '*'
                | '~'
                | '|'
                | '/'
                | '\\'
                | '^'
                | '`'
                | '\''
                | '"'
                | '丶'
                | '、'
                | '〃'
                | '…'
                | '='
                | '#'
        )
    {
        Class::Bridge
    } else {
        Class::Other
    }
}

/// Plus signs scammers use for "+V" / "+Q".
fn fold_plus(c: char) -> char {
    match c {
        '➕' | '✚' | '✙' | '﹢' | '＋' => '+',
        _ => c,
    }
}

/// What folding makes of one character `orig`, whose simplified form is `simp`: none, one or
/// several characters, each given to `push`.
fn fold_char(orig: char, simp: char, mut push: impl FnMut(char)) {
    if orig.is_ascii() {
        if !is_invisible(orig) {
            push(orig.to_ascii_lowercase());
        }
        return;
    }
    // The common case: a unified ideograph stays itself under NFKC, case folding and the
    // skeleton, so only the simplification applies (the general path below gives the same).
    if is_unified_han(simp) {
        push(simp);
        return;
    }
    for c in std::iter::once(simp).nfkc() {
        if is_invisible(c) {
            continue;
        }
        let c = fold_plus(c);
        if c.is_alphabetic() && !c.is_ascii() && !is_han(c) {
            let mut buf = [0u8; 4];
            for s in unicode_security::confusable_detection::skeleton(c.encode_utf8(&mut buf)) {
                s.to_lowercase().for_each(&mut push);
            }
        } else {
            c.to_lowercase().for_each(&mut push);
        }
    }
}

/// Folding as defined, a message at a time: `fast2s` simplifies (one character for one, so
/// positions stay aligned, and a few characters by their neighbours), then each character is
/// folded. [`Normalizer::fold`] gives the same from a table.
fn fold_slow(raw: &str) -> Normalized {
    let simplified = if raw.chars().any(is_han) {
        fast2s::convert(raw)
    } else {
        raw.to_owned()
    };
    let mut chars: Vec<(char, u32)> = Vec::with_capacity(raw.len());
    for ((at, orig), simp) in raw.char_indices().zip(simplified.chars()) {
        fold_char(orig, simp, |c| chars.push((c, at as u32)));
    }
    bridge(raw, &chars)
}

/// The characters `fast2s` simplifies by what stands next to them (`乾隆` keeps its `乾`):
/// a message holding one is folded by [`fold_slow`].
const T2S_IN_CONTEXT: [char; 15] = [
    '兒', '覆', '夥', '藉', '瞭', '麽', '幺', '於', '乾', '著', '苧', '闔', '鍾', '讎', '畫',
];

/// One character of the Basic Multilingual Plane folded, as [`FOLD`] holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Folded {
    One(char),
    Dropped,
    /// Folds to several characters: [`fold_char`] with this simplified form makes them.
    Several(char),
    /// Simplified by its neighbours: the whole message takes [`fold_slow`].
    InContext,
}

/// The table's entries: a character's bits, and its kind above them.
const KIND_SHIFT: u32 = 24;

impl Folded {
    /// `c` folded, from its block of the table (built on first use: a block costs ~50 µs, and
    /// a message touches a few of the 256).
    fn of(c: char) -> Folded {
        let Ok(i) = u16::try_from(c as u32) else {
            // Beyond the BMP: fast2s leaves it as it is.
            return Folded::Several(c);
        };
        let block = FOLD[usize::from(i >> 8)].get_or_init(|| fold_block(i >> 8));
        Folded::decode(block[usize::from(i & 0xFF)])
    }

    fn encode(self) -> u32 {
        let (kind, c) = match self {
            Folded::One(c) => (0, c),
            Folded::Dropped => (1, '\0'),
            Folded::Several(c) => (2, c),
            Folded::InContext => (3, '\0'),
        };
        kind << KIND_SHIFT | c as u32
    }

    fn decode(v: u32) -> Folded {
        let c =
            || char::from_u32(v & ((1 << KIND_SHIFT) - 1)).unwrap_or(char::REPLACEMENT_CHARACTER);
        match v >> KIND_SHIFT {
            0 => Folded::One(c()),
            1 => Folded::Dropped,
            2 => Folded::Several(c()),
            _ => Folded::InContext,
        }
    }

    /// What the definition makes of `c` alone.
    fn compute(c: char) -> Folded {
        if T2S_IN_CONTEXT.contains(&c) {
            return Folded::InContext;
        }
        // fast2s simplifies three-byte characters only; alone, one has no neighbours that count.
        let simp = if c.len_utf8() == 3 {
            let mut buf = [0u8; 4];
            fast2s::convert(c.encode_utf8(&mut buf))
                .chars()
                .next()
                .unwrap_or(c)
        } else {
            c
        };
        let mut out: smallvec::SmallVec<[char; 4]> = smallvec::SmallVec::new();
        fold_char(c, simp, |f| out.push(f));
        match out[..] {
            [] => Folded::Dropped,
            [one] => Folded::One(one),
            _ => Folded::Several(simp),
        }
    }
}

/// Block `b` of the table: characters `b * 256 ..` (surrogates, which no `char` is, kept as is).
fn fold_block(b: u16) -> Box<[u32; 256]> {
    let mut block = Box::new([0u32; 256]);
    for (i, entry) in block.iter_mut().enumerate() {
        let code = u32::from(b) << 8 | i as u32;
        *entry = char::from_u32(code)
            .map_or(Folded::Dropped, Folded::compute)
            .encode();
    }
    block
}

/// What folding makes of each character of the Basic Multilingual Plane, in blocks of 256.
static FOLD: [std::sync::OnceLock<Box<[u32; 256]>>; 256] =
    [const { std::sync::OnceLock::new() }; 256];

impl Normalizer {
    /// `aliases`: (variant, canonical) pairs, e.g. ("vx", "微信"). Variants are themselves folded
    /// (lower case, simplified) so the table may be written either way.
    pub fn new(aliases: &[(String, String)]) -> Result<Self, aho_corasick::BuildError> {
        let base = Normalizer {
            aliases: None,
            targets: Vec::new(),
        };
        if aliases.is_empty() {
            return Ok(base);
        }
        let mut pats = Vec::with_capacity(aliases.len());
        let mut targets = Vec::with_capacity(aliases.len());
        for (variant, canonical) in aliases {
            let v = base.fold(variant).text;
            if v.is_empty() {
                continue;
            }
            targets.push((canonical.clone(), v.is_ascii()));
            pats.push(v);
        }
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&pats)?;
        Ok(Normalizer {
            aliases: Some(ac),
            targets,
        })
    }

    /// Full normalisation: fold, bridge, then map aliases.
    pub fn normalize(&self, raw: &str) -> Normalized {
        let folded = self.fold(raw);
        self.apply_aliases(folded)
    }

    /// Folding and bridging, without aliases (used on alias tables and patterns too).
    ///
    /// Each character is folded through [`FOLD`], a table of what folding makes of every
    /// character of the Basic Multilingual Plane; a message holding one of the few characters
    /// whose simplification depends on its neighbours ([`T2S_IN_CONTEXT`]) is folded by
    /// [`fold_slow`], the definition the table is built from.
    fn fold(&self, raw: &str) -> Normalized {
        let mut chars: Vec<(char, u32)> = Vec::with_capacity(raw.len());
        for (at, orig) in raw.char_indices() {
            let at = at as u32;
            if orig.is_ascii() {
                if !is_invisible(orig) {
                    chars.push((orig.to_ascii_lowercase(), at));
                }
                continue;
            }
            match Folded::of(orig) {
                Folded::One(c) => chars.push((c, at)),
                Folded::Dropped => {}
                Folded::Several(simp) => fold_char(orig, simp, |c| chars.push((c, at))),
                Folded::InContext => return fold_slow(raw),
            }
        }
        bridge(raw, &chars)
    }

    fn apply_aliases(&self, n: Normalized) -> Normalized {
        let Some(ac) = &self.aliases else { return n };
        let text = n.text.as_str();
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len() + 8);
        let mut offsets = Vec::with_capacity(n.offsets.len() + 8);
        let mut last = 0;
        for m in ac.find_iter(text) {
            let (target, ascii) = &self.targets[m.pattern().as_usize()];
            if *ascii {
                // Part of a longer token (an id, an address, a password): leave it alone.
                let word = |b: u8| {
                    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'@' | b'.' | b'-' | b'/')
                };
                let before = m.start() > 0 && word(bytes[m.start() - 1]);
                let after = m.end() < bytes.len() && word(bytes[m.end()]);
                if before || after {
                    continue;
                }
            }
            out.push_str(&text[last..m.start()]);
            offsets.extend_from_slice(&n.offsets[last..m.start()]);
            out.push_str(target);
            offsets.extend(std::iter::repeat_n(n.offsets[m.start()], target.len()));
            last = m.end();
        }
        if last == 0 {
            return n;
        }
        out.push_str(&text[last..]);
        offsets.extend_from_slice(&n.offsets[last..]);
        offsets.push(n.original.len() as u32);
        Normalized {
            original: n.original,
            text: out,
            offsets,
        }
    }
}

/// Drops separators between two Chinese characters (`解 封` → `解封`), collapses other runs of
/// whitespace and emoji to one space, and keeps punctuation between letters (`wx-safe.top`).
fn bridge(raw: &str, chars: &[(char, u32)]) -> Normalized {
    let mut text = String::with_capacity(raw.len());
    let mut offsets: Vec<u32> = Vec::with_capacity(raw.len() + 1);
    let push = |text: &mut String, offsets: &mut Vec<u32>, c: char, at: u32| {
        text.push(c);
        offsets.extend(std::iter::repeat_n(at, c.len_utf8()));
    };
    let mut i = 0;
    let mut prev = Class::Other;
    while i < chars.len() {
        let (c, at) = chars[i];
        let k = class(c);
        if k != Class::Bridge {
            push(&mut text, &mut offsets, c, at);
            prev = k;
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && class(chars[i].0) == Class::Bridge {
            i += 1;
        }
        let next = chars.get(i).map(|&(c, _)| class(c));
        let run = &chars[start..i];
        if prev == Class::Han && next == Some(Class::Han) {
            continue;
        }
        if text.is_empty() || next.is_none() {
            // Leading and trailing separators: keep punctuation, drop blanks.
            for &(c, at) in run {
                if !c.is_whitespace() && !is_emoji_or_symbol(c) {
                    push(&mut text, &mut offsets, c, at);
                }
            }
            continue;
        }
        let blank = run
            .iter()
            .any(|&(c, _)| c.is_whitespace() || is_emoji_or_symbol(c));
        if blank {
            push(&mut text, &mut offsets, ' ', run[0].1);
        } else {
            for &(c, at) in run {
                push(&mut text, &mut offsets, c, at);
            }
        }
        prev = Class::Bridge;
    }
    offsets.push(raw.len() as u32);
    Normalized {
        original: raw.to_owned(),
        text,
        offsets,
    }
}

/// The language a message is written in, when it says: any Chinese character makes it Chinese;
/// two or more Latin letters (full-width ones too) and no Chinese make it English; digits alone
/// say nothing. Read it off the message as written, before aliases (`wechat` → `微信`).
/// Characters only Cantonese writing uses (`俾人封咗`): its writers read traditional script.
const CANTONESE: &[char] = &[
    '咗', '佢', '嘅', '唔', '喺', '冇', '嘢', '啲', '睇', '攞', '嚟', '咩', '乜',
];

/// Whether Chinese text is written in traditional characters (or Cantonese): `Some(true)` when
/// a character simplifies or is Cantonese, `Some(false)` when `simplified` (a converter to
/// traditional) would change it, `None` when it tells nothing (no Chinese, or only characters
/// both scripts share).
pub fn detect_traditional(text: &str, to_traditional: impl FnOnce(&str) -> String) -> Option<bool> {
    if !text.chars().any(is_han) {
        return None;
    }
    if text.chars().any(|c| CANTONESE.contains(&c)) || fast2s::convert(text) != text {
        return Some(true);
    }
    (to_traditional(text) != text).then_some(false)
}

pub fn detect_lang(text: &str) -> Option<crate::Lang> {
    let mut latin = 0;
    for c in text.chars() {
        if is_han(c) {
            return Some(crate::Lang::Zh);
        }
        if c.is_ascii_alphabetic() || matches!(c, 'Ａ'..='Ｚ' | 'ａ'..='ｚ') {
            latin += 1;
        }
    }
    (latin >= 2).then_some(crate::Lang::En)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm() -> Normalizer {
        let aliases: Vec<(String, String)> = [
            ("vx", "微信"),
            ("v信", "微信"),
            ("薇信", "微信"),
            ("jf", "解封"),
            ("jie封", "解封"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        Normalizer::new(&aliases).unwrap()
    }

    #[test]
    fn evasions_fold_to_the_same_text() {
        let n = norm();
        let cases = [
            ("解 封", "解封"),
            ("解-封", "解封"),
            ("解.封", "解封"),
            ("解🔥封", "解封"),
            ("解\u{200b}封", "解封"),
            ("帳號", "帐号"),
            ("ＶＸ", "微信"),
            ("V信", "微信"),
            ("薇 信", "微信"),
            ("jie封", "解封"),
            ("JF 找我", "解封 找我"),
            ("➕V", "+v"),
            ("１２３", "123"),
            ("wеchat", "wechat"), // Cyrillic е
        ];
        for (raw, want) in cases {
            assert_eq!(n.normalize(raw).text, want, "normalising {raw:?}");
        }
    }

    #[test]
    fn ascii_aliases_only_match_whole_tokens() {
        let n = norm();
        assert_eq!(n.normalize("加V: jf8899").text, "加v: jf8899");
        assert_eq!(n.normalize("vx: kk0909").text, "微信: kk0909");
        assert_eq!(n.normalize("wxyz jfk fast_jf").text, "wxyz jfk fast_jf");
    }

    #[test]
    fn spans_map_back_to_the_original() {
        let n = norm();
        let m = n.normalize("ＶＸ号 验证码 ４８２９１３ 好");
        let at = m.text.find("482913").unwrap();
        let (s, e) = m.original_span(at, at + 6);
        assert_eq!(&m.original[s..e].trim(), &"４８２９１３");
    }

    #[test]
    fn english_keeps_word_spaces_and_url_punctuation() {
        let n = norm();
        assert_eq!(
            n.normalize("Click  http://WX-Safe.top now").text,
            "click http://wx-safe.top now"
        );
    }

    #[test]
    fn hostile_input_is_cleaned_not_fatal() {
        let n = norm();
        assert_eq!(n.normalize("").text, "");
        assert_eq!(n.normalize("\u{202e}解封\u{202d}").text, "解封");
        let seps = "-".repeat(10_000);
        assert_eq!(n.normalize(&format!("解{seps}封")).text, "解封");
    }

    #[test]
    fn the_unified_ideograph_test_covers_its_blocks_and_nothing_else() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let listed = UNIFIED_HAN.iter().any(|r| r.contains(&(c as u32)));
            assert_eq!(is_unified_han(c), listed, "{c:?}");
        }
    }

    #[test]
    fn unified_ideographs_are_unchanged_by_nfkc_and_case() {
        // The premise of the fast path in `fold`.
        for c in UNIFIED_HAN
            .iter()
            .flat_map(|r| r.clone())
            .filter_map(char::from_u32)
        {
            assert!(is_han(c) && !is_invisible(c), "{c}");
            assert_eq!(std::iter::once(c).nfkc().collect::<String>(), c.to_string());
            assert_eq!(c.to_lowercase().collect::<String>(), c.to_string());
            // The premise of the digit count's fast path (`guard::Digits`).
            assert!(!c.is_numeric(), "{c}");
        }
    }

    /// The table and the definition it is built from agree.
    fn same_as_defined(n: &Normalizer, raw: &str) {
        let (fast, slow) = (n.fold(raw), fold_slow(raw));
        assert_eq!(fast.text, slow.text, "folding {raw:?}");
        assert_eq!(fast.offsets, slow.offsets, "offsets of {raw:?}");
    }

    #[test]
    fn the_fold_table_agrees_with_the_definition_on_every_character() {
        let n = norm();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            // Alone, between ideographs (bridging) and between letters.
            for raw in [format!("{c}"), format!("解{c}封"), format!("a{c}b")] {
                same_as_defined(&n, &raw);
            }
        }
    }

    #[test]
    fn characters_simplified_by_their_neighbours_are_folded_in_context() {
        let n = norm();
        for raw in [
            "乾隆",
            "乾淨",
            "看著",
            "著作",
            "回覆",
            "覆蓋",
            "計畫",
            "畫畫",
            "慰藉 藉口",
        ] {
            same_as_defined(&n, raw);
        }
        // The same character, kept in one word and simplified in another: no table of single
        // characters could say both.
        assert_eq!(n.fold("乾隆").text, "乾隆");
        assert_eq!(n.fold("乾淨").text, "干净");
    }

    proptest::proptest! {
        #[test]
        fn folding_mixed_text_agrees_with_the_definition(
            raw in "[a-zA-Z0-9 .\\-_@:/\u{200b}\u{202e}帳號微信解封乾隆著畫覆藉於Ｖ１２ａ＋➕😀，。！ ]{0,40}"
        ) {
            same_as_defined(&norm(), &raw);
        }
    }

    #[test]
    fn language_is_detected_from_script() {
        assert_eq!(detect_lang("vx被封了"), Some(crate::Lang::Zh));
        assert_eq!(detect_lang("hello"), Some(crate::Lang::En));
        assert_eq!(detect_lang("123"), None);
        assert_eq!(
            detect_lang("ｗｅｃｈａｔ ｂａｎｎｅｄ"),
            Some(crate::Lang::En)
        );
    }
}
