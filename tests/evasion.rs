//! Evasions in combination: scam lines the engine catches, rewritten the way spammers dodge
//! filters — zero-width characters, full-width letters and digits, traditional characters,
//! spaces and emoji between the characters, the app's and QQ's nicknames, pinyin for a syllable,
//! digits spaced out — keep their verdict, whatever stack of rewrites is applied.

use std::sync::OnceLock;

use proptest::prelude::*;
use safepath::engine::Engine;
use safepath::scam::Verdict;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::shipped().unwrap())
}

/// The corpus's scam lines that the engine calls a scam as written.
fn caught() -> &'static [String] {
    static L: OnceLock<Vec<String>> = OnceLock::new();
    L.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/scam");
        let mut out = Vec::new();
        for f in ["probe.jsonl", "real.jsonl", "real2.jsonl"] {
            for line in std::fs::read_to_string(dir.join(f)).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let text = v["text"].as_str().unwrap();
                if v["scam"] == true
                    && text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
                    && engine().analyze(text).scam.verdict == Verdict::Scam
                {
                    out.push(text.to_owned());
                }
            }
        }
        out
    })
}

#[derive(Debug, Clone, Copy)]
enum Evasion {
    ZeroWidth,
    FullWidth,
    Traditional,
    SpacedHan,
    EmojiBetween,
    AppNickname,
    QqNickname,
    Pinyin,
    SpacedDigits,
}

fn apply(e: Evasion, text: &str) -> String {
    let between = |sep: &str| {
        let mut out = String::new();
        let chars: Vec<char> = text.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            out.push(*c);
            let han = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c);
            if han(*c) && chars.get(i + 1).is_some_and(|n| han(*n)) {
                out.push_str(sep);
            }
        }
        out
    };
    match e {
        Evasion::ZeroWidth => text.chars().flat_map(|c| [c, '\u{200b}']).collect(),
        Evasion::FullWidth => text
            .chars()
            .map(|c| match c {
                '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap(),
                c => c,
            })
            .collect(),
        Evasion::Traditional => text
            .chars()
            .map(|c| match c {
                '号' => '號',
                '账' => '賬',
                '这' => '這',
                '为' => '為',
                '们' => '們',
                '请' => '請',
                '时' => '時',
                '证' => '證',
                '验' => '驗',
                '码' => '碼',
                '费' => '費',
                '钱' => '錢',
                '转' => '轉',
                '冻' => '凍',
                '务' => '務',
                '专' => '專',
                '业' => '業',
                c => c,
            })
            .collect(),
        Evasion::SpacedHan => between(" "),
        Evasion::EmojiBetween => between("🔥"),
        Evasion::AppNickname => text.replace("微信", "威信"),
        Evasion::QqNickname => text.replace("QQ", "扣扣").replace("qq", "扣扣"),
        Evasion::Pinyin => text.replace("解封", "jie封").replace("验证码", "yan证码"),
        Evasion::SpacedDigits => text
            .chars()
            .flat_map(|c| {
                let spaced = c.is_ascii_digit();
                [Some(c), spaced.then_some(' ')]
            })
            .flatten()
            .collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("SAFEPATH_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400)
    ))]
    #[test]
    fn a_caught_scam_stays_caught_under_any_stack_of_evasions(
        line in any::<prop::sample::Index>(),
        stack in prop::collection::vec(prop::sample::select(vec![
            Evasion::ZeroWidth, Evasion::FullWidth, Evasion::Traditional, Evasion::SpacedHan,
            Evasion::EmojiBetween, Evasion::AppNickname, Evasion::QqNickname, Evasion::Pinyin,
            Evasion::SpacedDigits,
        ]), 1..4),
    ) {
        let lines = caught();
        prop_assert!(lines.len() > 150, "only {} scam lines caught as written", lines.len());
        let original = &lines[line.index(lines.len())];
        let evaded = stack.iter().fold(original.clone(), |t, e| apply(*e, &t));
        let a = engine().analyze(&evaded);
        prop_assert_eq!(a.scam.verdict, Verdict::Scam, "{:?} → {} ({:?})", stack, evaded, a.scam.signals);
    }
}
