//! Stage 4: what the person wants. Scores every intent of the catalog from the patterns that
//! fired ([`crate::catalog::Patterns::matches`]), and ranks them with a confidence.
//!
//! In: the indices of the catalog patterns that matched. Out: [`IntentResult`] — the best intent,
//! its confidence, and the ranked candidates with the patterns that fired for each.
//! A strong pattern counts 1, a weak one 0.4; a veto pattern silences its intent.

use serde::Serialize;
use smallvec::SmallVec;

use crate::catalog::{Catalog, Owner};
use crate::model::{Model, Prediction};

/// The intent of a message for nothing the product covers.
pub const OUT_OF_SCOPE: &str = "out_of_scope";

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
    /// The learned model named an intent no pattern raised: a step of the flow the user is in
    /// that fits the message (a route) comes first.
    #[serde(skip)]
    pub learned: bool,
}

impl IntentResult {
    pub fn fixed(intent: &str, confidence: f32) -> IntentResult {
        IntentResult {
            intent: intent.into(),
            confidence,
            ranked: Vec::new(),
            learned: false,
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
            intent: OUT_OF_SCOPE.into(),
            confidence: 1.0 - top,
            ranked,
            learned: false,
        };
    }
    IntentResult {
        intent: ranked[0].intent.clone(),
        confidence: confidence(top, second),
        ranked,
        learned: false,
    }
}

/// At or above this confidence the patterns decide alone: they are precise where they are sure.
pub const PATTERN_SURE: f32 = 0.6;
/// The model's probability at which it decides for one of the patterns' unsure candidates.
pub const MODEL_SURE: f32 = 0.5;
/// … and at which it names an intent no pattern raised: it must be surer to claim what no
/// pattern did (measured on real forum questions, many about other apps).
pub const MODEL_ALONE: f32 = 0.8;
/// The least probability with which the model picks one of the patterns' candidates.
pub const MODEL_PICKS: f32 = 0.2;

/// The patterns' ranking and the learned model's probabilities, made one decision: a confident
/// pattern wins; otherwise a confident model names the intent (surer when no pattern raised
/// it); otherwise the model picks among the patterns' candidates; otherwise the patterns stand.
/// The thresholds were chosen on `tests/data/firstsight-intents.jsonl` (real forum questions);
/// `shared/eval/heldout-*` only measured the result.
/// When the model decides, the confidence is its (calibrated) probability and the reason says
/// which messages it found this one close to. `predict` is only asked when the patterns are
/// unsure.
pub fn fuse(
    catalog: &Catalog,
    ranked: IntentResult,
    model: &Model,
    predict: impl FnOnce() -> Prediction,
) -> IntentResult {
    if ranked.intent != OUT_OF_SCOPE && ranked.confidence >= PATTERN_SURE {
        return ranked;
    }
    let p = &predict();
    let prob = |id: &str| model.label(id).map_or(0.0, |i| p.probs[i]);
    let (best, pb) = p.best();
    let best = model.labels()[best].as_str();
    let raised = ranked.ranked.iter().any(|c| c.intent == best);
    let need = if raised { MODEL_SURE } else { MODEL_ALONE };
    let chosen = if pb >= need && catalog.intent(best).is_some() {
        Some((best.to_owned(), pb))
    } else {
        ranked
            .ranked
            .iter()
            .map(|c| (c.intent.clone(), prob(&c.intent)))
            .filter(|(_, q)| *q >= MODEL_PICKS)
            .max_by(|a, b| a.1.total_cmp(&b.1))
    };
    let Some((mut intent, confidence)) = chosen else {
        return ranked;
    };
    // The model knows the contract's intents; a finer one of the catalog that the patterns
    // raised and that counts as the model's choice is what it meant (`other_platform` for a
    // QQ question the model calls `out_of_scope`).
    if let Some(finer) = ranked
        .ranked
        .iter()
        .find(|c| c.intent != intent && catalog.public_id(&c.intent) == intent)
    {
        intent = finer.intent.clone();
    }
    let because: std::sync::Arc<str> = format!(
        "model: close to messages about {intent} ({:.0}%)",
        confidence * 100.0
    )
    .into();
    let mut ranked = ranked.ranked;
    let mut winner = match ranked.iter().position(|c| c.intent == intent) {
        Some(i) => ranked.remove(i),
        None => Candidate {
            intent: intent.clone(),
            score: 0.0,
            patterns: Vec::new(),
        },
    };
    let learned = winner.patterns.is_empty();
    winner.patterns.push(because);
    ranked.insert(0, winner);
    IntentResult {
        intent,
        confidence,
        ranked,
        learned,
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
