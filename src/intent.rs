//! Stage 4: what the person wants. Scores every intent of the catalog from the patterns that
//! fired ([`crate::catalog::Patterns::matches`]), and ranks them with a confidence.
//!
//! In: the indices of the catalog patterns that matched. Out: [`IntentResult`] — the best intent,
//! its confidence, and the ranked candidates with the patterns that fired for each.
//! A strong pattern counts 1, a weak one 0.4; a veto pattern silences its intent.

use serde::Serialize;
use smallvec::SmallVec;

use crate::catalog::{Catalog, Owner};

const STRONG: f32 = 1.0;
const WEAK: f32 = 0.4;
/// Below this score nothing is claimed: the message is out of scope.
pub const MIN_SCORE: f32 = 0.5;

#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub intent: String,
    pub score: f32,
    pub patterns: Vec<std::sync::Arc<str>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IntentResult {
    pub intent: String,
    pub confidence: f32,
    pub ranked: Vec<Candidate>,
}

impl IntentResult {
    pub fn fixed(intent: &str, confidence: f32) -> IntentResult {
        IntentResult {
            intent: intent.into(),
            confidence,
            ranked: Vec::new(),
        }
    }
}

/// Confidence grows with the evidence for the best intent and shrinks with a close runner-up.
pub fn confidence(top: f32, second: f32) -> f32 {
    if top <= 0.0 {
        return 0.0;
    }
    let strength = 1.0 - (-1.5 * top).exp();
    strength * top / (top + second)
}

pub fn rank(catalog: &Catalog, matched: &[usize]) -> IntentResult {
    let n = catalog.intents.len();
    let owner = |p: usize| catalog.patterns.owner[p];
    // Scores on the stack: a catalog has a few dozen intents at most, and this runs per message.
    let mut score: SmallVec<[f32; 32]> = smallvec::smallvec![0.0; n];
    let mut vetoed: SmallVec<[bool; 32]> = smallvec::smallvec![false; n];
    for &p in matched {
        match owner(p) {
            Owner::Strong(i) => score[i] += STRONG,
            Owner::Weak(i) => score[i] += WEAK,
            Owner::Veto(i) => vetoed[i] = true,
            _ => {}
        }
    }
    let fired = |i: usize| {
        matched
            .iter()
            .filter(|&&p| matches!(owner(p), Owner::Strong(o) | Owner::Weak(o) if o == i))
            .map(|&p| catalog.patterns.source[p].clone())
            .collect()
    };
    // Courtesy ("thanks", "hello") that comes with a request yields to the request.
    let request =
        (0..n).any(|i| !catalog.intents[i].courtesy && !vetoed[i] && score[i] >= MIN_SCORE);
    let mut ranked: Vec<Candidate> = (0..n)
        .filter(|&i| score[i] > 0.0 && !vetoed[i] && !(request && catalog.intents[i].courtesy))
        .map(|i| Candidate {
            intent: catalog.intents[i].id.clone(),
            score: score[i],
            patterns: fired(i),
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
    let top = ranked.first().map_or(0.0, |c| c.score);
    let second = ranked.get(1).map_or(0.0, |c| c.score);
    if top < MIN_SCORE {
        return IntentResult {
            intent: "out_of_scope".into(),
            confidence: 1.0 - top,
            ranked,
        };
    }
    IntentResult {
        intent: ranked[0].intent.clone(),
        confidence: confidence(top, second),
        ranked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped catalog's ranking of a raw message (normalised as the engine does).
    fn shipped_intent() -> impl Fn(&str) -> String {
        let c = Catalog::shipped().unwrap();
        move |t| {
            let n = c.normalizer.normalize(t);
            rank(&c, &c.patterns.matches(&n.text)).intent
        }
    }

    #[test]
    fn courtesy_yields_to_the_request_it_comes_with() {
        let intent = shipped_intent();
        assert_eq!(intent("怎么注销微信 谢谢"), "account_deletion");
        assert_eq!(
            intent("delete wechat account steps, thanks"),
            "account_deletion"
        );
        assert_eq!(intent("你好 我的微信被封了 谢谢"), "self_unblock");
        // Alone, or with nothing that asks for an answer, courtesy is answered as such.
        assert_eq!(intent("好的谢谢"), "thanks");
        assert_eq!(intent("hello 明白了 谢谢"), "thanks");
        assert_eq!(intent("你好"), "greeting");
    }

    #[test]
    fn a_success_told_back_is_thanked_unless_it_asks_for_more() {
        let intent = shipped_intent();
        assert_eq!(intent("我的号昨天解封了,谢谢大家"), "thanks");
        assert_eq!(intent("我的号解封成功了,全程自己刷脸,没花一分钱"), "thanks");
        assert_eq!(intent("my account is unblocked now, thanks!"), "thanks");
        // Banned again, or another problem left: the request is answered.
        assert_eq!(intent("已经解封了 又被封了怎么办"), "self_unblock");
        assert_eq!(intent("解封成功了 但是朋友圈还是用不了"), "appeal");
    }

    #[test]
    fn english_ban_words_start_a_word() {
        // `unblock` holds `block`: read as a ban word, a warning against paying for unblocking
        // was answered with the payment-restriction steps.
        let intent = shipped_intent();
        for t in [
            "Don't pay anyone to unblock your WeChat, use the official appeal",
            "beware of people who offer to unblock your account for money",
        ] {
            assert_ne!(intent(t), "payment_restricted", "{t}");
        }
        assert_eq!(intent("my wechat pay is blocked"), "payment_restricted");
    }

    #[test]
    fn confidence_rewards_evidence_and_penalises_a_close_second() {
        assert!(confidence(2.0, 0.0) > confidence(1.0, 0.0));
        assert!(confidence(1.0, 0.0) > confidence(1.0, 0.8));
        assert_eq!(confidence(0.0, 0.0), 0.0);
        assert!(confidence(3.0, 0.0) <= 1.0);
    }
}
