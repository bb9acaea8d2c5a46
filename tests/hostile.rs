//! Hostile input through the whole pipeline: never a panic, and a typed code never survives
//! redaction, whatever surrounds it.

use proptest::prelude::*;
use safepath::engine::Engine;
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::shipped().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_text_is_analysed_without_panic(s in "\\PC{0,200}") {
        let a = engine().analyze(&s);
        prop_assert!(a.intent.confidence >= 0.0 && a.intent.confidence <= 1.0);
    }

    #[test]
    fn separators_controls_and_emoji_are_survived(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("解".to_string()), Just("封".to_string()), Just("\u{202e}".to_string()),
                Just("\u{200b}".to_string()), Just("😀".to_string()), Just("-".to_string()),
                Just("\u{0}".to_string()), Just("Ｖ".to_string()), Just(" ".to_string()),
                "[a-z0-9]{1,4}",
            ],
            0..400,
        )
    ) {
        let s: String = parts.concat();
        engine().analyze(&s);
    }

    #[test]
    fn a_typed_code_is_always_redacted(
        before in "[\\p{Han}a-z ,。]{0,30}",
        code in "[0-9]{6}",
        after in "[\\p{Han}a-z ,。]{0,30}",
    ) {
        let msg = format!("{before}验证码是{code}{after}");
        let a = engine().analyze(&msg);
        prop_assert!(!a.redacted.contains(&code), "{} → {}", msg, a.redacted);
        prop_assert!(!a.text.contains(&code));
    }
}

#[test]
fn floods_and_huge_messages_do_not_hang() {
    let e = engine();
    e.analyze(&"-".repeat(10_000));
    e.analyze(&"😀".repeat(10_000));
    e.analyze(&"解 ".repeat(20_000));
    e.analyze(&"a".repeat(64 * 1024));
}
