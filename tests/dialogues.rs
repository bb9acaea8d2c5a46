//! The dialogue runner itself: a small fixture set it must pass, and wrong expectations it must
//! report. (The full set in `tests/data/dialogues/` is a measurement, not a test: it does not
//! pass yet, and `safepath eval --dialogues` prints its figures.)

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::engine;
use safepath::eval::dialogues::{self, Conversation, DialogueScores, Expect, OneOf};

const FIXTURE: &str = "tests/data/dialogues-fixture";

fn fixture() -> Vec<Conversation> {
    dialogues::read_dir(Path::new(FIXTURE)).expect("the fixture set reads")
}

fn play(conversations: &[Conversation]) -> DialogueScores {
    let scratch = tempfile::tempdir().unwrap();
    dialogues::score(&engine(), conversations, scratch.path()).expect("a scratch store")
}

fn expect_of<'a>(set: &'a mut [Conversation], id: &str, turn: usize) -> &'a mut Expect {
    &mut set
        .iter_mut()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no conversation {id}"))
        .turns[turn]
        .expect
}

#[test]
fn the_fixture_conversations_all_pass_and_every_kind_of_check_is_made() {
    let set = fixture();
    let s = play(&set);
    assert!(s.failed_turns.is_empty(), "{:#?}", s.failed_turns);
    assert_eq!(s.overall.conversations, set.len());
    assert_eq!(s.overall.succeeded, set.len());
    assert_eq!(s.overall.success_rate, 1.0);
    assert_eq!(s.overall.turn_accuracy, 1.0);
    // The one conversation that lands out of scope expected it.
    assert_eq!(s.overall.in_scope, set.len());
    // Turns without expectations are played but not counted.
    let written: usize = set.iter().map(|c| c.turns.len()).sum();
    assert_eq!(s.overall.turns, written - 1);
    for check in [
        "intent",
        "node",
        "not_node",
        "not_out_of_scope",
        "reply_contains",
        "reply_lacks",
        "recorded",
        "lang",
        "secrets",
        "verdict",
    ] {
        assert!(
            s.checks.get(check).is_some_and(|n| n.checked > 0),
            "{check} never checked: {:?}",
            s.checks
        );
    }
    assert_eq!(s.by_file.len(), 2);
    assert_eq!(s.by_category["report"].conversations, 3);
    assert!(s.unknown_names.is_empty(), "{:?}", s.unknown_names);
}

#[test]
fn a_wrong_expectation_is_reported_as_a_failed_turn_and_conversation() {
    let mut set = fixture();
    // The face check is where choice 1 leads; say it is the appeal.
    expect_of(&mut set, "fx-unblock-face-back", 1).node = Some(OneOf::One("appeal".into()));
    // The reported ad: say it was not recorded, and must not mention what it does.
    let e = expect_of(&mut set, "fx-forwarded-ad", 0);
    e.recorded = Some(false);
    e.reply_lacks = vec!["永久封禁".into()];
    let s = play(&set);
    assert_eq!(
        s.failed_conversations,
        vec!["fx-unblock-face-back", "fx-forwarded-ad"]
    );
    assert_eq!(s.overall.succeeded, set.len() - 2);
    assert!(s.overall.turn_accuracy < 1.0);
    assert_eq!(s.overall.turns_passed, s.overall.turns - 2);
    let face = &s.failed_turns[0];
    assert_eq!(
        (face.conversation.as_str(), face.turn),
        ("fx-unblock-face-back", 2)
    );
    assert_eq!(face.failures.len(), 1);
    assert_eq!(
        (face.failures[0].check, face.failures[0].want.as_str()),
        ("node", "appeal")
    );
    assert_eq!(face.failures[0].got, "self_unblock.face");
    let ad = &s.failed_turns[1];
    let checks: Vec<&str> = ad.failures.iter().map(|f| f.check).collect();
    assert_eq!(checks, ["reply_lacks", "recorded"]);
    assert_eq!(s.checks["recorded"].failed, 1);
    assert_eq!(s.by_category["report"].succeeded, 2);
    // The listing names the conversation, the turn and what was wanted.
    let shown = face.to_string();
    assert!(shown.contains("fx-unblock-face-back #2") && shown.contains("want appeal"));
}

#[test]
fn an_unexpected_out_of_scope_answer_counts_against_staying_in_scope() {
    let mut set = fixture();
    // Expect nothing where the bot has no step to go back to: the answer is out of scope.
    expect_of(&mut set, "fx-nothing-to-return-to", 0).node = None;
    let s = play(&set);
    assert_eq!(s.overall.in_scope, set.len() - 1);
    // With no expectation the turn is not a failure, only out of scope.
    assert_eq!(s.overall.succeeded, set.len());
    // An expectation of staying in scope fails there.
    expect_of(&mut set, "fx-nothing-to-return-to", 0).not_out_of_scope = Some(true);
    let s = play(&set);
    assert_eq!(s.failed_conversations, vec!["fx-nothing-to-return-to"]);
    assert_eq!(s.failed_turns[0].failures[0].check, "not_out_of_scope");
}

#[test]
fn proposed_names_are_listed_apart_and_any_of_a_list_is_accepted() {
    let mut set = fixture();
    expect_of(&mut set, "fx-paid-then-police", 1).node = Some(OneOf::Any(vec![
        "victim_steps".into(),
        "scam_victim".into(),
    ]));
    let s = play(&set);
    assert!(s.failed_turns.is_empty(), "{:#?}", s.failed_turns);
    assert_eq!(s.unknown_names.get("node victim_steps"), Some(&1));
}

#[test]
fn a_misspelt_expectation_or_a_repeated_id_is_refused_with_its_place() {
    let typo = r#"{"id": "a", "turns": [{"say": "你好", "expect": {"nodes": "greeting"}}]}"#;
    let err = dialogues::read("typos", &format!("\n{typo}\n")).unwrap_err();
    assert!(err.starts_with("typos.jsonl:2:"), "{err}");
    assert!(err.contains("nodes"), "{err}");
    let empty = r#"{"turns": []}"#;
    assert!(dialogues::read("e", empty)
        .unwrap_err()
        .contains("at least one turn"));
    let dir = tempfile::tempdir().unwrap();
    let line = r#"{"id": "same", "turns": [{"say": "你好"}]}"#;
    std::fs::write(dir.path().join("a.jsonl"), line).unwrap();
    std::fs::write(dir.path().join("b.jsonl"), line).unwrap();
    let err = dialogues::read_dir(dir.path()).unwrap_err();
    assert!(err.contains("`same` is used twice"), "{err}");
    // Without an id a conversation is named by its file and line.
    let c = dialogues::read("f", "\n\n{\"turns\": [{\"say\": \"hi\"}]}").unwrap();
    assert_eq!(
        (c[0].id.as_str(), c[0].category.as_str()),
        ("f.jsonl:3", "f")
    );
}

#[test]
fn the_measured_set_reads_and_expects_only_the_catalog_or_its_documented_proposals() {
    // Reading, not passing: the set measures work not done yet (see its README).
    let dir = Path::new("tests/data/dialogues");
    let set = dialogues::read_dir(dir).expect("the dialogue set reads");
    assert!(set.len() >= 150, "{} conversations", set.len());
    for c in &set {
        assert!(
            (2..=5).contains(&c.turns.len()),
            "{}: {} turns",
            c.id,
            c.turns.len()
        );
        assert!(c.source.is_some(), "{}: no source", c.id);
    }
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    for name in dialogues::unknown_names(engine().catalog(), &set).keys() {
        let bare = name.split_once(' ').map_or(name.as_str(), |(_, n)| n);
        assert!(
            readme.contains(&format!("**`{bare}`**")),
            "{name} is expected but neither in the catalog nor proposed in the README"
        );
    }
}

#[test]
fn no_follow_up_the_set_measures_is_a_line_the_models_are_trained_on() {
    // First turns may be phrasings the catalog knows (they set the context); a follow-up copied
    // into the corpus would be measured on its own training data.
    let corpus = safepath::corpus::Corpus::load(Path::new("corpus")).expect("the corpus");
    let trained: std::collections::HashSet<&str> = corpus
        .intents
        .iter()
        .map(|l| l.text.trim())
        .chain(corpus.scam.iter().map(|l| l.text.trim()))
        .collect();
    let set = dialogues::read_dir(Path::new("tests/data/dialogues")).unwrap();
    let copied: Vec<(&str, &str)> = set
        .iter()
        .flat_map(|c| {
            c.turns
                .iter()
                .skip(1)
                .map(move |t| (c.id.as_str(), t.say.trim()))
        })
        .filter(|(_, say)| trained.contains(say))
        .collect();
    assert!(copied.is_empty(), "follow-ups in the corpus: {copied:?}");
}

#[test]
fn the_command_prints_the_figures_as_json() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("safepath")
        .unwrap()
        .args(["--data"])
        .arg(data.path())
        .args(["eval", "--dialogues", FIXTURE, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["overall"]["success_rate"], 1.0);
    assert_eq!(v["overall"]["conversations"], fixture().len());
    // Nothing was written to the data directory: the reports went to a scratch store.
    assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 0);
}
