//! The second message (#29): follow-ups answered in the flow they belong to, victims, other
//! platforms, the report flow, choice numbers, languages and scripts — each through a real
//! session on a temporary store. The phrasings here are written for these tests; the measured
//! conversations are in `tests/data/dialogues/` (`safepath eval --dialogues`).

mod common;

use common::{all_bytes_under, contains, session};
use safepath::catalog::Catalog;
use safepath::dialogue::Command;
use safepath::reply::Reply;
use safepath::session::Session;

/// Plays `lines` as one user and returns every reply.
fn talk(s: &Session, user: &str, lines: &[&str]) -> Vec<Reply> {
    lines
        .iter()
        .map(|l| s.turn("test", user, l, false).unwrap())
        .collect()
}

#[test]
fn a_follow_up_is_answered_by_the_flow_it_follows() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    // A mini program's appeal takes 7 working days, not the 3–7 of a WeChat account appeal.
    let r = talk(
        &s,
        "mp",
        &["我们公司的小程序收到处罚通知了", "申诉大概几天能出结果"],
    );
    assert_eq!(r[0].node, "miniprogram_appeal");
    assert_eq!(r[1].node, "miniprogram_appeal", "{}", r[1].text);
    assert!(r[1].text.contains("7个工作日"), "{}", r[1].text);
    assert!(!r[1].text.contains("3到7"), "{}", r[1].text);
    // English, after a payment restriction: the documents are the appeal's materials.
    let r = talk(
        &s,
        "pay",
        &[
            "my wechat pay got restricted yesterday",
            "which documents should I upload",
        ],
    );
    assert_eq!(r[0].node, "payment_restricted");
    assert_eq!(r[1].node, "appeal.materials", "{}", r[1].text);
    // After deletion: changing one's mind is the waiting period, not what happens to the data.
    let r = talk(
        &s,
        "del",
        &["我要注销微信号", "提交完又不想注销了 还能撤回吗"],
    );
    assert_eq!(r[1].node, "account_deletion.withdraw", "{}", r[1].text);
    assert!(r[1].text.contains("重新登录"));
}

#[test]
fn a_victim_gets_the_victims_steps_and_the_code_is_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let r = talk(
        &s,
        "v1",
        &[
            "那个自称客服的人骗我 我已经把短信验证码告诉他了",
            "接下来怎么办",
        ],
    );
    assert_eq!(r[0].node, "scam_victim", "{}", r[0].text);
    // The contract's intent, with the finer flow beside it.
    assert_eq!(r[0].intent, "report_scam");
    assert_eq!(r[0].flow, "scam_victim");
    assert!(r[0].text.contains("修改密码"));
    assert_eq!(r[1].node, "scam_victim");
    // Whatever a frightened person asks next that names nothing else: the steps again, never
    // "out of scope".
    let r = s.turn("test", "v1", "好害怕 晚上睡不着", false).unwrap();
    assert_eq!(r.node, "scam_victim", "{}", r.text);
    // Read out to the caller, or money into the "safe account": the victim's steps too.
    for told in [
        "刚才把手机收到的几位数字念给对方听了",
        "我已经把钱转到他说的安全账户了",
    ] {
        let r = talk(&s, told, &[told]);
        assert_eq!(r[0].node, "scam_victim", "{told}: {}", r[0].text);
    }
    // The code itself, typed into the story: hidden, never stored, and still the victim's steps.
    let r = talk(&s, "v2", &["他叫我把验证码发过去 我发了 735201"]);
    assert_eq!(r[0].node, "scam_victim", "{}", r[0].text);
    assert_eq!(r[0].secrets, vec!["verification_code"]);
    assert!(!r[0].text.contains("735201"));
    s.store().flush().unwrap();
    assert!(!contains(&all_bytes_under(dir.path()), "735201"));
    // Warning someone not to give it is not being a victim.
    let r = talk(&s, "v3", &["千万不要把验证码告诉别人对吧"]);
    assert_ne!(r[0].node, "scam_victim", "{}", r[0].text);
}

#[test]
fn another_platform_is_named_pointed_to_its_own_help_and_never_deflected() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let r = talk(
        &s,
        "qq",
        &[
            "QQ账号被冻结了怎么办",
            "那一般要等几天",
            "我的微信也被限制登录了",
        ],
    );
    assert_eq!(r[0].node, "other_platform", "{}", r[0].text);
    assert_eq!(r[0].intent, "out_of_scope");
    assert_eq!(r[0].flow, "other_platform");
    assert!(r[0].text.contains("QQ"), "{}", r[0].text);
    assert!(!r[0].text.contains("人脸识别"));
    assert!(!r[0].deflectable);
    // The follow-up stays with the other app; WeChat named again leaves it.
    assert_eq!(r[1].node, "other_platform", "{}", r[1].text);
    assert!(r[1].text.contains("QQ"));
    assert_eq!(r[2].node, "self_unblock", "{}", r[2].text);
    let r = talk(&s, "dy", &["my douyin account got banned"]);
    assert_eq!(r[0].node, "other_platform", "{}", r[0].text);
    assert!(r[0].text.contains("Douyin"), "{}", r[0].text);
}

#[test]
fn in_report_mode_a_question_is_answered_and_only_the_ad_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let r = s
        .command("test", "rep", Command::Goto("report_scam".into()), None)
        .unwrap();
    assert_eq!(r.node, "report_scam");
    let r = talk(
        &s,
        "rep",
        &[
            "你们收到举报以后会怎么处理?",
            "专业解封各种违规号 秒解 先付300 加v jf7788",
        ],
    );
    assert!(!r[0].reported, "{}", r[0].text);
    assert_ne!(r[0].node, "report_recorded");
    assert!(r[1].reported, "{}", r[1].text);
}

#[test]
fn choice_numbers_as_people_write_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let r = talk(&s, "c", &["微信被封了", "12", "选第二个"]);
    assert_eq!(r[0].node, "self_unblock");
    let offered = r[0].choices.len();
    // Out of range: the same step, saying which numbers there are.
    assert_eq!(r[1].node, "self_unblock");
    assert!(
        r[1].text.contains(&format!("1 到 {offered}")),
        "{}",
        r[1].text
    );
    assert_eq!(r[2].node, "self_unblock.friend");
}

#[test]
fn commands_do_not_switch_the_language() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let r = talk(&s, "l", &["微信被封了", "1", "back"]);
    assert_eq!(r[2].node, "self_unblock");
    assert!(r[2].text.contains("自己"), "{}", r[2].text);
}

#[test]
fn traditional_and_cantonese_writers_read_traditional_characters() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let r = talk(&s, "t", &["我的微信帳號被盜了", "1"]);
    assert_eq!(r[0].node, "account_recovery");
    assert!(r[0].text.contains("盜"), "{}", r[0].text);
    assert!(!r[0].text.contains("盗"));
    // A choice number keeps the script; the choices are converted too.
    assert!(r[1].text.contains("證"), "{}", r[1].text);
    assert!(r[0].choices.iter().all(|c| !c.label.contains("验")));
    // Cantonese with no traditional-only character.
    let r = talk(&s, "y", &["我俾人封咗号 点算"]);
    assert_ne!(r[0].node, "out_of_scope", "{}", r[0].text);
    let simplified_only = ['号', '说', '这', '们', '码', '请'];
    assert!(
        !r[0].text.chars().any(|c| simplified_only.contains(&c)),
        "{}",
        r[0].text
    );
    // Simplified writers are answered in simplified.
    let r = talk(&s, "s", &["我的微信账号被盗了"]);
    assert!(r[0].text.contains("盗"));
}

/// The catalog's follow-up tables refuse what would silently do nothing.
#[test]
fn the_catalog_refuses_unknown_topics_and_non_contract_counts_as() {
    let shipped: Vec<(String, String)> = std::fs::read_dir("intents")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    let broken = shipped.iter().cloned().chain([(
        "extra.toml".to_string(),
        r#"
[[intent]]
id = "extra"
entry = "menu"
strong = ['extra-word']
counts_as = "not_a_contract_intent"
followups = { how_soon = "menu" }
label = { zh = "额外", en = "Extra" }
"#
        .to_string(),
    )]);
    let errs = Catalog::from_sources(broken).unwrap_err().to_string();
    assert!(
        errs.contains("unknown follow-up topic `how_soon`"),
        "{errs}"
    );
    assert!(errs.contains("not one of the contract's intents"), "{errs}");
    assert!(Catalog::from_sources(shipped).is_ok());
}
