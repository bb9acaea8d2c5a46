//! The detector, table-driven: each signal, each evasion trick, and the hard negatives.

use safepath::engine::Engine;
use safepath::scam::Verdict;

fn engine() -> Engine {
    Engine::shipped().expect("shipped catalog")
}

#[test]
fn each_signal_fires_on_its_kind_of_message() {
    let e = engine();
    let cases = [
        ("微信解封业务,秒解", "paid_unblock_offer"),
        ("永久号也可以解", "overpromise"),
        ("解封需要先交500保证金", "fee_demand"),
        ("300块就能帮你解封", "unblock_fee"),
        ("不成功不收费", "pay_after_success"),
        ("账号解封有需要加V: abc123", "contact_diversion"),
        ("请把收到的验证码发给我进行核实", "secret_request"),
        ("我是微信官方客服", "impersonation"),
        ("帮我辅助验证一下,完成后给你发50元红包", "assist_for_reward"),
        ("24小时内不处理将被冻结", "urgency_threat"),
        ("请下载会议软件开启屏幕共享", "remote_control"),
        ("请点击 http://wx-safe-center.top 认证", "lookalike_link"),
    ];
    for (msg, signal) in cases {
        let a = e.analyze(msg);
        assert!(
            a.scam.signals.iter().any(|s| s.name == signal),
            "{msg}: {:?}",
            a.scam.signals
        );
    }
}

#[test]
fn evasion_tricks_still_reach_the_detector() {
    let e = engine();
    for msg in [
        "解 封 找 我,包 过,➕V❤: abc_123",
        "解-封找我 包.过 +V:abc_123",
        "jie封 永久也可以 价格美丽 vx: kk0909",
        "jf找我,包过,加Ｖ：ａｂｃ１２３",
        "專業解封微信,永久號也能解,加V: jf8899",
        "解\u{200b}封找我 包\u{200d}过 加V: abc_123",
        "薇信封号?专业团队帮你解,扫码联系",
    ] {
        let a = e.analyze(msg);
        assert_eq!(
            a.scam.verdict,
            Verdict::Scam,
            "{msg}: {:?} → {}",
            a.scam.signals,
            a.text
        );
    }
}

#[test]
fn the_good_guys_are_not_flagged() {
    let e = engine();
    for msg in [
        "微信官方不会向您索要验证码,请勿泄露",
        "请不要通过第三方平台解封,官方解封不收取任何费用",
        "谨防诈骗:任何声称可以内部解封的都是骗子",
        "有人说能帮我解封要收费,这是骗子吗",
        "我朋友让我帮他辅助验证,我打电话确认过是他本人",
        "验证码收到了,注册成功了",
        "我的号昨天解封了,谢谢大家",
        "WeChat will never ask for your password or verification code",
        "Is it a scam if someone asks for a fee to unblock my account?",
        "群主:大家注意,最近有人冒充客服骗验证码,别上当",
        "【招商银行】您尾号1234的卡消费200元",
        "周末团购水果,100元三箱,需要的群里接龙",
    ] {
        let a = e.analyze(msg);
        assert_ne!(a.scam.verdict, Verdict::Scam, "{msg}: {:?}", a.scam.signals);
    }
}

#[test]
fn naming_the_app_or_its_customer_service_is_not_contact_diversion() {
    // A user who writes "wechat account" (微信 + a word) or asks how to reach customer service
    // is not being sent to a private contact; with a price in the message, that mistake alone
    // used to make an ordinary question a scam.
    let e = engine();
    for msg in [
        "close my wechat account 1846元",
        "how long does wechat account deletion take",
        "wechat support said my appeal failed",
        "小程序被封了 怎么联系客服 300元",
    ] {
        let a = e.analyze(msg);
        assert!(
            !a.scam.signals.iter().any(|s| s.name == "contact_diversion"),
            "{msg}: {:?}",
            a.scam.signals
        );
        assert_ne!(a.scam.verdict, Verdict::Scam, "{msg}");
    }
    // An app id after the app's name, or a private number for "customer service", still is.
    for msg in [
        "解封找我 微信 jf30871",
        "请联系客服QQ 88990011 处理",
        "vx fix_wx 解封",
    ] {
        let a = e.analyze(msg);
        assert!(
            a.scam.signals.iter().any(|s| s.name == "contact_diversion"),
            "{msg}: {:?}",
            a.scam.signals
        );
    }
}

#[test]
fn prices_and_contacts_alone_are_ordinary_commerce() {
    let e = engine();
    let a = e.analyze("二手自行车出售,价格200元,有意私聊,加V: bike_2024");
    assert!(a.scam.signals.is_empty(), "{:?}", a.scam.signals);
    let a = e.analyze("账号解封,价格200元,有意私聊,加V: bike_2024");
    assert_eq!(a.scam.verdict, Verdict::Scam, "{:?}", a.scam.signals);
}

#[test]
fn official_links_are_not_lookalikes() {
    let e = engine();
    let a = e.analyze("微信安全中心 https://weixin110.qq.com/ 可以申诉");
    assert!(
        !a.scam.signals.iter().any(|s| s.name == "lookalike_link"),
        "{:?}",
        a.scam.signals
    );
}

#[test]
fn every_verdict_carries_its_reasons() {
    let e = engine();
    let a = e.analyze("内部渠道解封,收费200,加急另收100");
    assert_eq!(a.scam.verdict, Verdict::Scam);
    assert!(a.scam.signals.len() >= 2);
    assert!(a.scam.signals.iter().all(|s| !s.evidence.is_empty()));
}

#[test]
fn asking_what_unblocking_costs_is_a_question_not_a_scam() {
    // The asker is not the one charging: no scam verdict (nothing is logged against them), but
    // the answer is the one about fees: official unblocking is free, whoever charges is a scam.
    let e = engine();
    for msg in [
        "官方解封收费吗",
        "解封要钱吗",
        "收不收费的 解封",
        "is there a fee to unblock wechat",
        "does unblocking cost anything?",
    ] {
        let a = e.analyze(msg);
        assert_ne!(a.scam.verdict, Verdict::Scam, "{msg}: {:?}", a.scam.signals);
        assert_eq!(a.intent.intent, "report_scam", "{msg}");
        assert!(a.scam.fee_mentioned, "{msg}: the fee warning is due");
    }
    // `要不要` asks, it does not deny: the fee is still mentioned. The self-service steps answer
    // (they say it is free), with the fee warning.
    let a = e.analyze("自助解封要不要花钱");
    assert_eq!(a.intent.intent, "self_unblock");
    assert!(a.scam.fee_mentioned, "{:?}", a.scam.signals);
    assert_ne!(a.scam.verdict, Verdict::Scam);
}

#[test]
fn offers_in_other_words_are_still_offers() {
    let e = engine();
    for msg in [
        "专业解除微信限制 当天搞定 价格私聊",
        "加我QQ 3344556677 帮你处理封号问题",
        "技术解冻各种冻结号 费用面议 私我",
    ] {
        let a = e.analyze(msg);
        assert_eq!(a.scam.verdict, Verdict::Scam, "{msg}: {:?}", a.scam.signals);
    }
}

#[test]
fn someone_posing_as_support_is_reported_when_retold() {
    // The person it happened to tells of it: a report, not a scam of their own.
    let e = engine();
    for msg in [
        "有个自称客服的让我转账解封",
        "对方说他是微信客服 让我交钱解封",
        "有人找我要验证码 我没给",
    ] {
        let a = e.analyze(msg);
        assert_eq!(
            a.intent.intent, "report_scam",
            "{msg}: {:?}",
            a.scam.signals
        );
        assert_ne!(a.scam.verdict, Verdict::Scam, "{msg}: {:?}", a.scam.signals);
    }
}

#[test]
fn a_sum_named_in_a_question_is_not_a_price() {
    // A bare amount makes a price only next to the unblocking it would pay for; a fee word
    // (deposit, fee) may stand a little way off.
    let e = engine();
    for msg in [
        "申诉需要准备什么材料 3969元",
        "解封要找几个好友 3476元",
        "申诉需要准备什么材料 我号里还有3969元",
    ] {
        let a = e.analyze(msg);
        assert_ne!(a.scam.verdict, Verdict::Scam, "{msg}: {:?}", a.scam.signals);
    }
    for msg in [
        "解封需要先交500保证金",
        "申诉加急 只要200元",
        "解封300元 包成功",
    ] {
        let a = e.analyze(msg);
        assert_eq!(a.scam.verdict, Verdict::Scam, "{msg}: {:?}", a.scam.signals);
    }
}

#[test]
fn the_phone_bill_is_not_a_fee() {
    // `欠费` (the phone is out of credit) and `话费` are the user's own bill, not a price.
    let e = engine();
    for msg in [
        "解封要发短信 我手机欠费了发不出去怎么办",
        "欠费停机了 解封短信发不了",
    ] {
        let a = e.analyze(msg);
        assert_eq!(
            a.scam.verdict,
            Verdict::Clean,
            "{msg}: {:?}",
            a.scam.signals
        );
        assert!(!a.scam.fee_mentioned, "{msg}: {:?}", a.scam.signals);
    }
    // A fee is still a fee when it is right after the unblocking it pays for.
    for msg in ["解封费300", "解封需要交费吗"] {
        let a = e.analyze(msg);
        assert!(a.scam.fee_mentioned, "{msg}: {:?}", a.scam.signals);
    }
}

#[test]
fn a_code_asked_for_in_other_words_or_as_the_price_of_help_is_a_request() {
    let e = engine();
    for msg in [
        "发我你收到的6位数字，我帮你把号解开",
        "他说要我的登录密码才能帮我申诉",
    ] {
        let a = e.analyze(msg);
        assert!(
            a.scam.signals.iter().any(|s| s.name == "secret_request"),
            "{msg}: {:?}",
            a.scam.signals
        );
    }
    // Told by the user, it is a report; said to the user, a scam.
    for msg in [
        "他说要我的登录密码才能帮我申诉",
        "someone asked me to send them the code I got by sms",
    ] {
        assert_eq!(e.analyze(msg).intent.intent, "report_scam", "{msg}");
    }
    assert_eq!(
        e.analyze("发我你收到的6位数字，我帮你把号解开")
            .scam
            .verdict,
        Verdict::Scam
    );
}

/// Each fraud family around a lost account has a signal of its own that names it, written from
/// the family's shape (not from one ad), and the reply explains it.
#[test]
fn every_fraud_family_is_named_by_its_signal() {
    let e = engine();
    let cases: &[(&str, &str)] = &[
        (
            "code_request",
            "在吗 我手机号换了 你收到的验证码截图发我一下",
        ),
        ("code_request", "帮我接收个验证码吧 新号注册要用"),
        // Taiwan's words for the SMS and the code (簡訊, 認證碼), in traditional characters.
        ("code_request", "我的LINE要重新登入 麻煩你幫我代收驗證碼"),
        ("code_request", "等一下你會收到一則簡訊 裡面的認證碼傳給我"),
        (
            "code_request",
            "Sorry I sent you a 6-digit code by mistake, can you forward it to me please",
        ),
        ("disguised_assist", "小妹妹帮个忙扫一下这个码 送你一包纸巾"),
        ("disguised_assist", "我在做推广兼职 你扫一下码点个确认就行"),
        (
            "disguised_assist",
            "刚注册的新号需要老用户扫一下验证 帮帮忙",
        ),
        (
            "fake_support",
            "您开通的百万保障明天到期 不取消每月自动扣费500元",
        ),
        ("fake_support", "你之前的校园贷账户要注销 不然影响征信"),
        ("fake_support", "客服这边误将您升级成了VIP会员 需要配合取消"),
        ("after_fee", "解冻需要先交2000保证金 解冻后原路退回"),
        ("after_fee", "您的转账金额不足 系统无法解冻 需要再转800"),
        ("after_fee", "请先刷一笔流水 资金验证通过就退给你"),
        ("after_fee", "你要先交3000元保证金才能提现"),
        ("after_fee", "卡号填错了 缴纳解冻金才能放款"),
        ("account_rental", "闲置微信号出租 每天35元 不影响你使用"),
        ("account_rental", "高价收v 老号优先 私聊"),
        ("account_rental", "每天同步登录一下电脑版 就有60元报酬"),
        (
            "link_lure",
            "您的微信需要二次实名认证 请点击链接完成 否则冻结",
        ),
        ("link_lure", "【ETC】认证已失效 请点击 etc-renz.top 办理"),
        ("link_lure", "您的积分今晚清零 打开 jf-duihuan.top 马上兑换"),
        // The code sent to your phone and wanted back; your number filled in for theirs.
        ("code_request", "验证码会发到你手机上 收到转给我一下"),
        ("code_request", "我登录时填的你的手机号 等下那个验证码给我"),
        (
            "code_request",
            "Hey a code went to your phone, what does it say?",
        ),
        // Pay first to get money back; a "safe account"; top up when the credit is short.
        ("after_fee", "我们团队可以帮你追回被骗的钱 先交2000定金"),
        ("after_fee", "你把钱转到安全账户 核查完就退给你"),
        ("after_fee", "信用分不足 需要充值500提升后才能出款"),
        ("account_rental", "不用密码 扫码登录就行 一天50"),
        ("account_rental", "帮忙接码 一条5块 日结"),
        ("task_job_lure", "抖音点赞 一个赞2元 当天结算"),
        ("task_job_lure", "足不出户 日赚300 宝妈学生都能做"),
    ];
    for (signal, msg) in cases {
        let a = e.analyze(msg);
        let def = e
            .catalog()
            .signals
            .iter()
            .find(|s| s.name == *signal)
            .unwrap();
        assert!(!def.explain.zh.is_empty() && !def.explain.en.is_empty());
        assert!(
            a.scam.signals.iter().any(|s| s.name == *signal),
            "{msg}: {:?}",
            a.scam.signals
        );
        assert_ne!(
            a.scam.verdict,
            Verdict::Clean,
            "{msg}: {:?}",
            a.scam.signals
        );
    }
    // Near the families but ordinary: a shop's deposit, a real refund, a shop's QR code, an
    // official warning about the very scheme.
    for msg in [
        "定金交了500 尾款到店再付",
        "退款已原路退回 请注意查收",
        "扫码点餐 桌号在桌角",
        "租房押金一个月 房租每月2000",
        "官方从未举办过扫码送礼品的辅助解封活动 不要理会",
        "我的微信收到验证码了 登录成功",
        "转账1000元选了24小时后才能到账 明天就到",
        "返利满10元才能提现 我现在才8块",
        "我收到一条简讯 说我的包裹到了",
        "肯德基招兼职 时薪22元 到店面试",
        "验证码已发送到您的手机 请勿告诉他人",
        "会员明天到期 请在App里续费",
        "我把微信借给我妈用了几天",
    ] {
        let a = e.analyze(msg);
        assert_eq!(
            a.scam.verdict,
            Verdict::Clean,
            "{msg}: {:?}",
            a.scam.signals
        );
    }
}

#[test]
fn an_offer_retold_or_asked_about_is_not_itself_the_scam() {
    // However many signals it carries, the message tells of someone else's offer: the score is
    // held under the scam line by the context's ceiling, and the answer is the report flow.
    let e = engine();
    let a = e.analyze("有个人说帮他辅助解封给我50元红包 扫个码就行 还要我先交保证金 这是骗子吗");
    assert!(a.scam.score < 0.9, "{:?}", a.scam);
    assert_eq!(a.intent.intent, "report_scam");
}

#[test]
fn the_family_named_is_the_scheme_not_the_models_likeness() {
    let e = engine();
    let a = e.analyze("在吗 我手机号换了 你收到的验证码截图发我一下");
    assert!(a
        .scam
        .signals
        .iter()
        .any(|s| s.name == "similar_to_known_scams"));
    let family = a.scam.family(e.catalog()).unwrap();
    assert_eq!(family.name, "code_request");
    assert!(family.explain.zh.contains("验证码"));
    // Nothing fired: no family.
    assert!(e.analyze("明天几点开会").scam.family(e.catalog()).is_none());
}

#[test]
fn a_link_that_spells_an_official_name_is_a_scam_on_its_own() {
    // The registrable domain is what counts: an official name in front of a foreign domain, or
    // spelt with look-alike digits, is the page's maker's doing; official domains are not.
    let e = engine();
    let cases: &[(&str, bool)] = &[
        ("请登录 weixin.qq.com.zhanghao-anquan.top 完成验证", true),
        ("账号异常 访问 http://wx.qq.com.jiedong.vip 处理", true),
        (
            "Log in at wechat-account-check.net to keep your account",
            true,
        ),
        ("零钱提现失败 请到 tenpay-kefu.xyz 重新提交", true),
        ("领取红包封面 we1xin-fengmian.cn", true),
        ("公众号文章 https://mp.weixin.qq.com/s/abc 写得不错", false),
        ("财付通官网 tenpay.com 可以查交易", false),
        ("腾讯云 tencentcloud.com 的发票怎么开", false),
    ];
    for &(msg, imitation) in cases {
        let a = e.analyze(msg);
        let named: Vec<&str> = a.scam.signals.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            named.contains(&"lookalike_link"),
            imitation,
            "{msg}: {named:?}"
        );
        assert_eq!(
            a.scam.verdict == Verdict::Scam,
            imitation,
            "{msg}: {named:?}"
        );
    }
    // Asked about, it is a question.
    let a = e.analyze("有人发我 wechat-help-center.net 这个网站是真的吗");
    assert_ne!(a.scam.verdict, Verdict::Scam, "{:?}", a.scam.signals);
}
