//! Whole conversations through the session, on a temporary sled store, in both languages.

mod common;

use common::{all_bytes_under, contains, session};
use safepath::session::{decode_state, encode_state, STATE_VERSION};

#[test]
fn chinese_self_unblock_flow_continues_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = session(dir.path());
        let r = s
            .turn("test", "alice", "vx被封了七天咋解开", false)
            .unwrap();
        assert_eq!(r.intent, "self_unblock");
        assert_eq!(r.node, "self_unblock");
        assert!(r.text.contains("人脸识别"), "{}", r.text);
        assert!(r.choices.len() >= 3);
        s.store().flush().unwrap();
    }
    // A new process on the same data directory picks the conversation up where it was.
    let s = session(dir.path());
    let r = s.turn("test", "alice", "1", false).unwrap();
    assert_eq!(r.node, "self_unblock.face");
    assert!(r.text.contains("普通话"), "{}", r.text);
    let r = s.turn("test", "alice", "返回", false).unwrap();
    assert_eq!(r.node, "self_unblock");
}

#[test]
fn english_permanent_ban_leads_to_the_appeal() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let r = s
        .turn(
            "test",
            "bob",
            "my account is permanently banned, what can I do",
            false,
        )
        .unwrap();
    assert_eq!(r.intent, "permanent_ban");
    assert!(r.text.contains("cannot be self-unblocked"), "{}", r.text);
    let r = s.turn("test", "bob", "1", false).unwrap();
    assert_eq!(r.node, "appeal");
    assert!(r.text.contains("3 to 7 working days"));
    assert!(r.notices.iter().any(|n| n.contains("app's own page")));
}

#[test]
fn an_unclear_message_gets_a_question_not_a_guess() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let r = s.turn("test", "carol", "解封", false).unwrap();
    assert_eq!(r.node, "clarify");
    assert!(!r.choices.is_empty());
    let r = s.turn("test", "carol", "1", false).unwrap();
    assert_ne!(r.node, "clarify");
}

#[test]
fn helping_a_friend_asks_about_phone_confirmation_and_remembers_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let r = s
        .turn("test", "dan", "朋友让我帮他辅助验证解封,怎么操作", false)
        .unwrap();
    assert_eq!(r.node, "assist_friend");
    assert!(r.text.contains("电话"));
    let r = s.turn("test", "dan", "3", false).unwrap();
    assert_eq!(r.node, "assist_friend.stranger");
    let key = s.user_key("test", "dan");
    let raw = s.store().load_state(&key).unwrap().unwrap();
    let state = decode_state(&raw).expect("a readable state");
    assert_eq!(
        state.slots.get("knows_person").map(String::as_str),
        Some("stranger")
    );
}

#[test]
fn menu_restart_and_language_switch_work_from_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    s.turn("test", "erin", "怎么注销微信账号", false).unwrap();
    let r = s.turn("test", "erin", "English", false).unwrap();
    assert_eq!(r.node, "account_deletion");
    assert!(r.text.contains("can't be undone"), "{}", r.text);
    // Locked to English even when the user types Chinese.
    let r = s.turn("test", "erin", "菜单", false).unwrap();
    assert_eq!(r.node, "menu");
    assert!(r.text.contains("I'm safepath"));
    let r = s.turn("test", "erin", "重新开始", false).unwrap();
    assert_eq!(r.node, "menu");
    let r = s.turn("test", "erin", "返回", false).unwrap();
    assert_eq!(r.node, "menu");
}

#[test]
fn code_and_password_typed_by_user_never_reach_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = session(dir.path());
        let r = s
            .turn("test", "frank", "验证码是 482913 你帮我看看", false)
            .unwrap();
        assert_eq!(r.intent, "share_secret");
        assert_eq!(r.secrets, vec!["verification_code"]);
        assert!(r.notices.iter().any(|n| n.contains("隐藏")));
        s.turn(
            "test",
            "frank",
            "my password is Sunshine2024, can you log in for me",
            false,
        )
        .unwrap();
        // In report mode the text is stored: the secret inside must not be.
        s.turn("test", "frank", "我要举报", false).unwrap();
        let r = s
            .turn(
                "test",
                "frank",
                "客服让我把验证码 771204 发给他,支付密码是 135790",
                false,
            )
            .unwrap();
        assert!(r.reported);
        s.store().flush().unwrap();
        let reports = s.store().reports(0, 0, 10).unwrap();
        assert_eq!(reports.len(), 1);
        assert!(
            reports[0].text.contains("[redacted:code]"),
            "{}",
            reports[0].text
        );
    }
    let bytes = all_bytes_under(dir.path());
    for secret in [
        "482913",
        "Sunshine2024",
        "sunshine2024",
        "771204",
        "135790",
        "frank",
    ] {
        assert!(
            !contains(&bytes, secret),
            "{secret} found in the data directory"
        );
    }
}

#[test]
fn forwarded_unblock_ad_is_reported_explained_and_not_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let ad = "专业解封微信,永久号也能解,先解后付,加V: jf8899";
    let r = s.turn("test", "gina", ad, true).unwrap();
    assert_eq!(r.node, "scam_detected");
    assert!(r.reported);
    assert!(r.notices[0].contains("已记录"));
    assert!(
        r.text.contains("永久封禁不能自助解除"),
        "reasons missing: {}",
        r.text
    );
    s.turn("test", "gina", ad, true).unwrap();
    let reports = s.store().reports(0, 0, 100).unwrap();
    assert_eq!(reports.len(), 1, "the same report twice is stored once");
    assert_eq!(reports[0].channel, "test");
    assert_ne!(reports[0].user, "gina");
    // The contact it named now weighs on a new message that carries it.
    let a = s.analyze("有需要的加V: jf8899");
    assert!(
        a.scam.signals.iter().any(|x| x.name == "known_contact"),
        "{:?}",
        a.scam.signals
    );
}

#[test]
fn only_tickets_that_need_no_store_are_answered_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let routine = "微信被封了怎么解封";
    let quick = s
        .ticket_without_store("T1", routine, None)
        .unwrap()
        .unwrap();
    let full = s.ticket("T1", routine, None).unwrap();
    assert_eq!(
        (&quick.intent, &quick.node, &quick.text),
        (&full.intent, &full.node, &full.text)
    );
    // A contact to look up, or a report due: left to `ticket`, and nothing recorded.
    assert!(s
        .ticket_without_store("T2", "有需要的加V: jf8899", None)
        .is_none());
    let offer = "专业解封微信 先付300定金 包解封 不成功不收费";
    assert!(s.ticket_without_store("T3", offer, None).is_none());
    assert!(s.store().reports(0, 0, 10).unwrap().is_empty());
    assert!(s.ticket("T3", offer, None).unwrap().reported);
    // Bad input is answered at once.
    assert!(matches!(
        s.ticket_without_store("T4", "   ", None),
        Some(Err(safepath::session::SessionError::Empty))
    ));
}

#[test]
fn a_code_announced_in_one_message_and_sent_in_the_next_is_redacted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = session(dir.path());
        let r = s.turn("test", "gina", "验证码是", false).unwrap();
        assert!(r.secrets.is_empty());
        let r = s
            .turn("test", "gina", "553017 快点帮我解封", false)
            .unwrap();
        assert_eq!(r.secrets, vec!["verification_code"]);
        assert_eq!(r.intent, "share_secret");
        // The bot remembers for one message only: a number two messages on is judged alone.
        s.turn("test", "gina", "好的", false).unwrap();
        let r = s.turn("test", "gina", "我住 1802 房间", false).unwrap();
        assert!(r.secrets.is_empty());
        // The same split over a report: the pasted text is stored without the code.
        s.turn("test", "gina", "我要举报", false).unwrap();
        s.turn("test", "gina", "他说把短信验证码发给他", false)
            .unwrap();
        s.turn("test", "gina", "我就发了 660 481 然后号就被登了", false)
            .unwrap();
        s.store().flush().unwrap();
    }
    let bytes = all_bytes_under(dir.path());
    for secret in ["553017", "660 481", "660481"] {
        assert!(
            !contains(&bytes, secret),
            "{secret} found in the data directory"
        );
    }
}

#[test]
fn state_records_of_versions_2_and_3_are_read() {
    // Versions 2 and 3 are this version's record without its last fields (`awaiting_secret`,
    // then `traditional`), each a zero byte when unset.
    let state = safepath::dialogue::State {
        node: Some("menu".into()),
        offered: vec!["self_unblock".into()],
        updated: 1_700_000_000,
        ..Default::default()
    };
    let v4 = encode_state(&state).unwrap();
    assert_eq!(
        (v4[0], &v4[v4.len() - 2..]),
        (STATE_VERSION, [0u8, 0].as_slice())
    );
    for (version, missing) in [(3u8, 1), (2, 2)] {
        let mut old = v4[..v4.len() - missing].to_vec();
        old[0] = version;
        assert_eq!(decode_state(&old), Some(state.clone()), "version {version}");
    }
    // A record one byte short of its version is damaged, not guessed at.
    let mut short = v4[..v4.len() - 2].to_vec();
    short[0] = 3;
    assert_eq!(decode_state(&short), None);
}

#[test]
fn an_unreadable_or_old_state_record_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let key = s.user_key("test", "hank");
    s.store().save_state(&key, b"\xff\x00 not json").unwrap();
    let r = s.turn("test", "hank", "你好", false).unwrap();
    assert_eq!(r.intent, "greeting");
    s.store()
        .save_state(&key, br#"{"v":99,"state":{"node":"x"}}"#)
        .unwrap();
    let r = s.turn("test", "hank", "1", false).unwrap();
    assert_ne!(r.node, "x");
}

#[test]
fn a_conversation_stored_by_the_previous_version_continues() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let key = s.user_key("test", "iris");
    let now = safepath::session::now();
    let v1 = format!(
        r#"{{"v":1,"state":{{"lang":"zh","node":"menu","offered":["self_unblock"],"updated":{now}}}}}"#
    );
    s.store().save_state(&key, v1.as_bytes()).unwrap();
    let r = s.turn("test", "iris", "1", false).unwrap();
    assert_eq!(
        r.node, "self_unblock",
        "the JSON record of version 1 is read"
    );
    // Saved again in this version's form, which reads back to the same conversation.
    let raw = s.store().load_state(&key).unwrap().unwrap();
    assert_eq!(raw[0], STATE_VERSION);
    let state = decode_state(&raw).unwrap();
    assert_eq!(state.node.as_deref(), Some("self_unblock"));
    assert_eq!(decode_state(&encode_state(&state).unwrap()), Some(state));
}

#[test]
fn a_damaged_record_of_this_version_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    s.turn("test", "jules", "怎么注销微信账号", false).unwrap();
    let key = s.user_key("test", "jules");
    let good = s.store().load_state(&key).unwrap().unwrap();
    assert!(decode_state(&good).is_some());
    let r = s.turn("test", "jules", "1", false).unwrap();
    assert_eq!(
        r.node, "account_deletion.kept",
        "the intact record continues"
    );
    s.store().save_state(&key, &good).unwrap();
    let mut trailing = good.clone();
    trailing.push(0);
    let cut = &good[..good.len() / 2];
    for bad in [&trailing[..], cut, &[STATE_VERSION][..], &[99, 0, 0][..]] {
        assert_eq!(decode_state(bad), None, "{bad:?}");
        s.store().save_state(&key, bad).unwrap();
        let r = s.turn("test", "jules", "1", false).unwrap();
        assert_ne!(r.node, "account_deletion.kept", "{bad:?} must not continue");
        s.store().save_state(&key, &good).unwrap();
    }
}

#[test]
fn idle_conversations_expire() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let key = s.user_key("test", "ivy");
    // A conversation last touched long ago, sitting on the menu.
    s.store()
        .save_state(
            &key,
            br#"{"v":1,"state":{"node":"menu","offered":["self_unblock"],"updated":1}}"#,
        )
        .unwrap();
    let r = s.turn("test", "ivy", "1", false).unwrap();
    assert_ne!(
        r.node, "self_unblock",
        "an expired conversation must not continue"
    );
    assert_eq!(s.store().expire_states(u64::MAX).unwrap(), 1);
}

#[test]
fn empty_and_oversized_messages_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    assert!(s
        .turn("test", "jo", "   ", false)
        .unwrap_err()
        .to_string()
        .contains("empty"));
    let big = "解".repeat(100_000);
    assert!(s
        .turn("test", "jo", &big, false)
        .unwrap_err()
        .to_string()
        .contains("too long"));
}

#[test]
fn a_choice_can_be_typed_out_instead_of_numbered() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    s.turn("test", "kim", "账号被短期封了 能自己解吗", false)
        .unwrap();
    let r = s.turn("test", "kim", "人脸识别验证", false).unwrap();
    assert_eq!(r.node, "self_unblock.face");
    s.turn("test", "kim", "返回", false).unwrap();
    let r = s.turn("test", "kim", "Face verification", false).unwrap();
    assert_eq!(r.node, "self_unblock.face");
}

#[test]
fn a_step_that_did_not_work_leads_to_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let turn = |text: &str| s.turn("test", "carol", text, false).unwrap();
    // Named outright, the face check is answered by its own node, not the whole procedure.
    let r = turn("人脸识别一直失败 解不了封");
    assert_eq!(
        (r.intent.as_str(), r.node.as_str()),
        ("self_unblock", "self_unblock.face")
    );
    // A bare "still not working" carries on the flow the user is in: face → a helper → appeal.
    assert_eq!(turn("还是不行").node, "self_unblock.friend");
    assert_eq!(turn("还是不行").node, "appeal");
    // A clear request for something else is not taken for the flow's next step.
    let r = turn("算了 我想注销微信");
    assert_eq!(r.node, "account_deletion");
    assert_eq!(
        turn("注销按钮是灰色的 点不了").node,
        "account_deletion.grey"
    );
}

#[test]
fn routes_do_not_apply_outside_their_flow() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    // Nowhere yet: "still not working" says nothing, so it is not taken for any flow's step.
    let r = s.turn("test", "dave", "还是不行", false).unwrap();
    assert_eq!(r.intent, "out_of_scope");
    assert!(
        !r.node.starts_with("self_unblock") && r.node != "appeal",
        "{}",
        r.node
    );
    // In English, at the appeal: asking what to prepare gets the materials node.
    let r = s
        .turn(
            "test",
            "dave",
            "I was banned by mistake and want to appeal",
            false,
        )
        .unwrap();
    assert_eq!(r.node, "appeal");
    let r = s
        .turn(
            "test",
            "dave",
            "what evidence should i prepare for the appeal",
            false,
        )
        .unwrap();
    assert_eq!(r.node, "appeal.materials");
}

#[test]
fn someone_who_already_paid_gets_the_victims_steps_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    for (user, text) in [
        ("erin", "微信被封了 网上找了个解封的 交了200 现在他不回我了"),
        (
            "erin2",
            "i paid a guy 50 usd to unban my wechat and he blocked me",
        ),
    ] {
        let r = s.turn("test", user, text, false).unwrap();
        assert_eq!(
            (r.intent.as_str(), r.node.as_str()),
            ("report_scam", "scam_victim"),
            "{text}"
        );
    }
    // Only asking about an offer: the report answer, which asks for the message.
    let r = s
        .turn("test", "frank", "有人说花300块就能帮我解封,是真的吗", false)
        .unwrap();
    assert_eq!(r.node, "report_scam");
}

#[test]
fn the_midnight_conversation_reaches_the_victims_steps_and_records_nothing_it_should_not() {
    // The user the product is for: banned, offered a paid unblock, already paid part of it.
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let r = s
        .turn("test", "hana", "vx被封了怎么办 有人说300能解", false)
        .unwrap();
    assert_eq!(r.node, "self_unblock");
    assert!(
        r.notices.iter().any(|n| n.contains("免费")),
        "{:?}",
        r.notices
    );
    let r = s.turn("test", "hana", "我已经给了他100了", false).unwrap();
    assert_eq!(r.node, "scam_victim", "{}", r.text);
    // The scam's answer asks for the message; what the person says next is theirs to ask.
    let r = s
        .turn("test", "ivan", "我要举报一个代解封的骗子", false)
        .unwrap();
    assert_eq!(r.node, "report_scam");
    let r = s.turn("test", "ivan", "他现在不回我了", false).unwrap();
    assert_eq!(r.node, "scam_victim", "{}", r.text);
    let r = s
        .turn("test", "judy", "我要举报一个代解封的骗子", false)
        .unwrap();
    assert_eq!(r.node, "report_scam");
    let r = s
        .turn("test", "judy", "算了 我想问一下怎么注销微信", false)
        .unwrap();
    assert_eq!(r.node, "account_deletion", "{}", r.text);
    assert!(!r.reported);
    let r = s
        .turn("test", "kim", "我要举报一个代解封的骗子", false)
        .unwrap();
    assert_eq!(r.node, "report_scam");
    let r = s.turn("test", "kim", "怎么报警", false).unwrap();
    assert_eq!(r.node, "scam_victim", "{}", r.text);
    assert!(!r.reported);
    assert!(s.store().reports(0, 0, 100).unwrap().is_empty());
    // The pasted message itself is still checked and recorded.
    let r = s
        .turn("test", "lee", "我要举报一个代解封的骗子", false)
        .unwrap();
    assert_eq!(r.node, "report_scam");
    let r = s
        .turn("test", "lee", "专业解封 加V jf8899 先付200", false)
        .unwrap();
    assert_eq!(r.node, "report_recorded");
    assert!(r.reported);
    assert_eq!(s.store().reports(0, 0, 100).unwrap().len(), 1);
}

#[test]
fn an_english_message_naming_the_app_is_answered_in_english() {
    // Normalisation spells `wechat` as `微信`; the language is the one the person wrote in.
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let r = s
        .turn(
            "test",
            "mona",
            "my wechat got banned, a guy says he can fix it for 50 dollars",
            false,
        )
        .unwrap();
    assert!(r.text.is_ascii() || r.text.contains("Log in"), "{}", r.text);
    assert!(!r.text.contains("登录"), "{}", r.text);
    let r = s
        .turn("test", "mona", "I already sent him 20", false)
        .unwrap();
    assert_eq!(r.node, "scam_victim", "{}", r.text);
    assert!(r.text.contains("Pay nothing more"), "{}", r.text);
}

#[test]
fn no_friend_to_help_leads_to_the_non_friend_helper_then_its_conditions() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let turn = |text: &str| s.turn("test", "erin", text, false).unwrap();
    assert_eq!(turn("我的号被封了").node, "self_unblock");
    assert_eq!(turn("人脸识别一直失败").node, "self_unblock.face");
    // Said in the flow, "no friend can help" is the next step, not a question out of scope.
    let r = turn("我没有朋友能帮我");
    assert_eq!(r.node, "self_unblock.friend");
    assert!(r.text.contains("非好友辅助"), "{}", r.text);
    assert_eq!(turn("身边一个朋友都没法帮").node, "unblock_helper_rules");
}

#[test]
fn a_victim_asking_for_the_money_back_is_told_how_and_warned_of_the_second_scam() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let turn = |user: &str, text: &str| s.turn("test", user, text, false).unwrap();
    let r = turn("gina", "我在网上找人解封 给了他300 现在联系不上了");
    assert_eq!(r.node, "scam_victim");
    // At the victim's steps (a node of no intent's flow), the bare question still has its answer
    // (no pattern names an intent; what the learned model guesses does not take the user out of
    // the flow, and the answer is the step's intent's).
    let r = turn("gina", "钱还能要回来吗");
    assert_eq!(r.node, "scam_victim.money");
    assert!(
        matches!(r.intent.as_str(), "out_of_scope" | "report_scam"),
        "{}",
        r.intent
    );
    assert!(
        r.text.contains("报警") && r.text.contains("第二次骗局"),
        "{}",
        r.text
    );
    // Said outright, from nowhere.
    assert_eq!(turn("hank", "被骗的钱能追回吗").node, "scam_victim.money");
    // Away from the victim's nodes the bare question is not taken for it.
    assert_ne!(turn("ivan", "钱还能要回来吗").node, "scam_victim.money");
}

#[test]
fn asking_how_to_go_on_shows_the_step_again_instead_of_out_of_scope() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let turn = |user: &str, text: &str| s.turn("test", user, text, false).unwrap();
    assert_eq!(turn("jane", "vx被封了怎么办").node, "self_unblock");
    for text in ["我现在该怎么办?", "然后呢。", "看不懂", "好的,接下来呢"] {
        let r = turn("jane", text);
        assert_eq!(r.node, "self_unblock", "{text}: {}", r.text);
        assert!(r.text.starts_with("我们还在这一步"), "{text}: {}", r.text);
        assert!(r.text.contains("人脸识别"), "{text}: {}", r.text);
        assert!(!r.choices.is_empty(), "{text}");
    }
    // Staying does not fill the way back with the same step.
    assert_eq!(turn("jane", "返回").node, "menu");
    // A message about the step is still routed: the step did not work.
    assert_eq!(turn("jane", "1").node, "self_unblock");
    assert_eq!(turn("jane", "还是不行").node, "appeal");
    // In English, at the appeal.
    assert_eq!(
        turn("kim", "I was wrongly banned, how do I appeal").node,
        "appeal"
    );
    let r = turn("kim", "what now?");
    assert_eq!(r.node, "appeal");
    assert!(r.text.starts_with("We're still at this step"), "{}", r.text);
    // Asked with no step to return to, it is still out of scope.
    assert_eq!(turn("leo", "然后呢").node, "out_of_scope");
    // While the bot waits for a pasted scam, asking how to go on is not recorded as the scam.
    let r = turn("mia", "我想举报一个骗子");
    assert_eq!(r.node, "report_scam", "{}", r.text);
    let r = turn("mia", "然后呢");
    assert_eq!(r.node, "report_scam");
    assert!(!r.reported);
}

#[test]
fn after_a_detour_or_at_a_step_already_given_the_user_keeps_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    let turn = |user: &str, text: &str| s.turn("test", user, text, false).unwrap();
    // A question out of scope in the middle of the steps, then "what now": the steps again.
    assert_eq!(turn("nina", "微信被封了").node, "self_unblock");
    assert_eq!(turn("nina", "人脸识别一直过不了").node, "self_unblock.face");
    assert_eq!(turn("nina", "朋友都不在身边").node, "self_unblock.friend");
    assert_eq!(turn("nina", "今天天气怎么样").node, "out_of_scope");
    let r = turn("nina", "那怎么办");
    assert_eq!(r.node, "self_unblock.friend", "{}", r.text);
    assert!(r.text.starts_with("我们还在这一步"), "{}", r.text);
    // The detour is not a step to go back to.
    assert_eq!(turn("nina", "返回").node, "self_unblock.face");
    // The midnight story: the price named, the money sent, the police asked about at the
    // victim's steps, which already say it: they are shown again, not the general answer.
    let r = turn("omar", "有人说能帮我解封 要200");
    assert_eq!(r.intent, "report_scam", "{}", r.text);
    assert!(
        r.notices.iter().any(|n| n.contains("免费")),
        "{:?}",
        r.notices
    );
    assert_eq!(turn("omar", "我已经转了").node, "scam_victim");
    for text in ["他把我拉黑了", "怎么报警"] {
        let r = turn("omar", text);
        assert_eq!(r.node, "scam_victim", "{text}: {}", r.text);
        assert!(
            r.text.starts_with("我们还在这一步") || r.text.starts_with("这一步的说明里就有答案"),
            "{text}: {}",
            r.text
        );
    }
    assert_eq!(turn("omar", "钱能要回来吗").node, "scam_victim.money");
}
