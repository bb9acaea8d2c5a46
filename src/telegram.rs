//! The Telegram frontend (teloxide): an adapter from updates to the shared [`Session`] and from
//! [`Reply`] back to messages with inline keyboards. Long polling by default, a webhook on
//! request. In groups the bot is a guard: silent on ordinary chat, it answers (or, when allowed,
//! deletes) messages the detector judges to be scams; group admins choose the [`GuardMode`] and
//! exempt trusted members, the team's admins label messages (`/spam`, `/notspam`), and with an
//! admin chat every deletion and warning is posted there with buttons to undo or ban.
//!
//! Nothing here decides what to say: texts come from the catalog, answers from the session.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use teloxide::adaptors::throttle::Limits;
use teloxide::adaptors::Throttle;
use teloxide::dispatching::{Dispatcher, UpdateFilterExt};
use teloxide::error_handlers::LoggingErrorHandler;
use teloxide::payloads::{SendMessageSetters, SetMyCommandsSetters};
use teloxide::prelude::{dptree, Requester, RequesterExt};
use teloxide::types::{
    BotCommand, CallbackQuery, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, Me, Message,
    MessageId, ParseMode, ReplyParameters, Update, UserId,
};
use teloxide::update_listeners::Polling;
use teloxide::{Bot, RequestError};

use crate::dialogue::Command;
use crate::limit::Rate;
use crate::reply::Reply;
use crate::report::{self, LabelKind};
use crate::scam::Verdict;
use crate::session::{now, off_thread, Session, SessionError};
use crate::Lang;

/// The bot type every handler takes: requests go through teloxide's throttling.
pub type TgBot = Throttle<Bot>;

/// Telegram's limit is 4096 characters after entity parsing; leave room for markup.
pub const MAX_CHUNK_CHARS: usize = 3900;
const CHANNEL: &str = "telegram";

/// What the bot needs besides the session.
pub struct Tg {
    /// The session to answer with; replaced whole by a reload.
    pub live: Arc<crate::live::Live>,
    /// Telegram user ids allowed to use /stats, /reports, /spam and /notspam, and the admin
    /// chat's buttons.
    pub admins: HashSet<u64>,
    /// `SAFEPATH_ADMIN_CHAT`: where deletions and group warnings are posted for the team.
    pub admin_chat: Option<ChatId>,
}

/// A token looks like `123456:ABC-DEF…`; anything else is refused before any request.
pub fn check_token(token: &str) -> Result<(), String> {
    let (id, secret) = token
        .trim()
        .split_once(':')
        .ok_or("TELOXIDE_TOKEN is malformed: expected <bot id>:<secret>, as BotFather gives it")?;
    let ok_id = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    let ok_secret = secret.len() >= 20
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok_id && ok_secret {
        Ok(())
    } else {
        Err("TELOXIDE_TOKEN is malformed: expected <bot id>:<secret>, as BotFather gives it".into())
    }
}

/// The admin chat from `SAFEPATH_ADMIN_CHAT` (a chat id, negative for groups); unset or empty:
/// none.
pub fn parse_admin_chat(s: &str) -> Result<Option<ChatId>, String> {
    match s.trim() {
        "" => Ok(None),
        id => id.parse::<i64>().map(|id| Some(ChatId(id))).map_err(|_| {
            format!("SAFEPATH_ADMIN_CHAT: `{id}` is not a Telegram chat id (e.g. -1001234567890)")
        }),
    }
}

/// Admin user ids from `SAFEPATH_ADMINS` ("123,456").
pub fn parse_admins(s: &str) -> Result<HashSet<u64>, String> {
    s.split([',', ' '])
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.trim()
                .parse::<u64>()
                .map_err(|_| format!("SAFEPATH_ADMINS: `{p}` is not a Telegram user id"))
        })
        .collect()
}

/// The bot over `TELOXIDE_API_URL` when set, with throttling at `limits`.
pub fn bot(token: &str, api_url: Option<&str>, limits: Limits) -> Result<TgBot, String> {
    check_token(token)?;
    let mut bot = Bot::new(token.trim());
    if let Some(url) = api_url.filter(|u| !u.trim().is_empty()) {
        let url = url::Url::parse(url.trim())
            .map_err(|e| format!("TELOXIDE_API_URL is not a URL: {e}"))?;
        bot = bot.set_api_url(url);
    }
    Ok(bot.throttle(limits))
}

/// Escapes text for Telegram's HTML parse mode.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// Splits text into pieces of at most `max` characters, at paragraph, then line, then character
/// boundaries.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0;
    for para in text.split_inclusive('\n') {
        let n = para.chars().count();
        if cur_len + n > max && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            cur_len = 0;
        }
        if n > max {
            let chars: Vec<char> = para.chars().collect();
            for piece in chars.chunks(max) {
                out.push(piece.iter().collect());
            }
            continue;
        }
        cur.push_str(para);
        cur_len += n;
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out.retain(|p| !p.trim().is_empty());
    out
}

/// A reply as Telegram messages (HTML, already escaped) and the keyboard for the last one.
pub fn render(reply: &Reply) -> (Vec<String>, Option<InlineKeyboardMarkup>) {
    let (urgent, standing) = reply
        .notices
        .split_at(reply.urgent.min(reply.notices.len()));
    let mut plain = String::new();
    for n in urgent {
        plain.push_str(&format!("⚠️ {n}\n\n"));
    }
    plain.push_str(reply.text.trim_end());
    for n in standing {
        plain.push_str(&format!("\n\nℹ️ {n}"));
    }
    let pieces = split(&plain, MAX_CHUNK_CHARS)
        .iter()
        .map(|p| escape(p))
        .collect();
    let keyboard = (!reply.choices.is_empty()).then(|| {
        InlineKeyboardMarkup::new(reply.choices.iter().map(|c| {
            vec![InlineKeyboardButton::callback(
                format!("{}. {}", c.id, c.label),
                format!("c:{}", c.id),
            )]
        }))
    });
    (pieces, keyboard)
}

/// Sends with retries: teloxide's throttle waits out a 429; a network error is retried here with
/// backoff, so an acknowledged answer is not dropped on a blip.
async fn send(
    bot: &TgBot,
    chat: ChatId,
    html: String,
    keyboard: Option<InlineKeyboardMarkup>,
    reply_to: Option<MessageId>,
) -> Result<Message, RequestError> {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        let mut req = bot
            .send_message(chat, html.clone())
            .parse_mode(ParseMode::Html);
        if let Some(k) = &keyboard {
            req = req.reply_markup(k.clone());
        }
        if let Some(m) = reply_to {
            req = req.reply_parameters(ReplyParameters::new(m).allow_sending_without_reply());
        }
        match req.await {
            Ok(m) => return Ok(m),
            Err(RequestError::RetryAfter(after)) if attempt < 5 => {
                tokio::time::sleep(after.duration()).await;
            }
            Err(RequestError::Network(e)) if attempt < 5 => {
                tracing::warn!(error = %e, attempt, "sending failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e),
        }
        attempt += 1;
    }
}

async fn send_reply(bot: &TgBot, chat: ChatId, reply: &Reply) -> Result<(), RequestError> {
    let (pieces, keyboard) = render(reply);
    let last = pieces.len().saturating_sub(1);
    for (i, p) in pieces.into_iter().enumerate() {
        let kb = if i == last { keyboard.clone() } else { None };
        send(bot, chat, p, kb, None).await?;
    }
    Ok(())
}

async fn send_text(bot: &TgBot, chat: ChatId, text: &str) -> Result<(), RequestError> {
    for p in split(text, MAX_CHUNK_CHARS) {
        send(bot, chat, escape(&p), None, None).await?;
    }
    Ok(())
}

/// The commands shown in Telegram's menu, per language.
fn commands(lang: Lang) -> Vec<BotCommand> {
    let list: [(&str, &str, &str); 8] = [
        (
            "start",
            "开始:我能帮你做什么",
            "Start: what I can do for you",
        ),
        ("menu", "主菜单", "Main menu"),
        ("help", "帮助和命令", "Help and commands"),
        (
            "report",
            "举报骗局:转发可疑消息给我",
            "Report a scam: forward me the message",
        ),
        ("lang", "切换语言 / language", "Switch language / 语言"),
        ("cancel", "取消,重新开始", "Cancel and start over"),
        (
            "privacy",
            "我保存了什么,保存多久",
            "What I keep and for how long",
        ),
        (
            "forget",
            "删除我保存的关于你的内容",
            "Delete what I keep about you",
        ),
    ];
    list.iter()
        .map(|(c, zh, en)| BotCommand::new(*c, if lang == Lang::Zh { *zh } else { *en }))
        .collect()
}

/// Registers the commands in Chinese (for Chinese clients) and English (everyone else).
pub async fn register_commands(bot: &TgBot) -> Result<(), RequestError> {
    bot.set_my_commands(commands(Lang::Zh))
        .language_code("zh")
        .await?;
    bot.set_my_commands(commands(Lang::En)).await?;
    Ok(())
}

/// `/cmd@botname args` → ("cmd", "args").
fn parse_command<'a>(text: &'a str, me: &Me) -> Option<(String, &'a str)> {
    let rest = text.strip_prefix('/')?;
    let (head, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let (name, bot) = head.split_once('@').unwrap_or((head, ""));
    if !bot.is_empty() && !bot.eq_ignore_ascii_case(me.username()) {
        return None;
    }
    Some((name.to_ascii_lowercase(), args.trim()))
}

fn hint(code: Option<&str>) -> Option<Lang> {
    code.map(|c| {
        if c.starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    })
}

fn kind(msg: &Message) -> &'static str {
    if msg.chat.is_private() {
        "private"
    } else if msg.chat.is_group() || msg.chat.is_supergroup() {
        "group"
    } else {
        "other"
    }
}

/// Sends a session answer, or the polite text for an error.
async fn answer(
    bot: &TgBot,
    tg: &Tg,
    chat: ChatId,
    lang: Lang,
    r: Option<Result<Reply, SessionError>>,
) -> Result<(Option<String>, Option<&'static str>), RequestError> {
    let session = tg.live.session();
    let cat = session.engine().catalog();
    match r {
        Some(Ok(reply)) => {
            send_reply(bot, chat, &reply).await?;
            Ok((Some(reply.intent), Some(reply.scam.verdict.name())))
        }
        Some(Err(SessionError::Empty)) => Ok((None, None)),
        Some(Err(SessionError::RateLimited(_))) => {
            send_text(bot, chat, cat.text("rate_limited", lang)).await?;
            Ok((None, None))
        }
        Some(Err(e)) => {
            tracing::error!(error = %e, "a turn failed");
            send_text(bot, chat, cat.text("unavailable", lang)).await?;
            Ok((None, None))
        }
        None => {
            send_text(bot, chat, cat.text("unavailable", lang)).await?;
            Ok((None, None))
        }
    }
}

async fn on_message(bot: TgBot, msg: Message, me: Me, tg: Arc<Tg>) -> Result<(), RequestError> {
    let Some(user) = msg.from.as_ref().filter(|u| !u.is_bot) else {
        return Ok(());
    };
    let text = msg
        .text()
        .or_else(|| msg.caption())
        .unwrap_or_default()
        .to_owned();
    let kind = kind(&msg);
    let (intent, verdict) = if kind == "private" {
        private(
            &bot,
            &tg,
            &msg,
            &me,
            user.id,
            hint(user.language_code.as_deref()),
            text,
        )
        .await?
    } else if kind == "group" {
        let lang = hint(user.language_code.as_deref());
        group(&bot, &tg, &msg, &me, user.id, lang, text).await?
    } else {
        (None, None)
    };
    tracing::info!(
        chat = kind,
        intent = intent.as_deref().unwrap_or("-"),
        verdict = verdict.unwrap_or("-"),
        "update"
    );
    Ok(())
}

type Outcome = (Option<String>, Option<&'static str>);

async fn private(
    bot: &TgBot,
    tg: &Arc<Tg>,
    msg: &Message,
    me: &Me,
    user: UserId,
    hint: Option<Lang>,
    text: String,
) -> Result<Outcome, RequestError> {
    let chat = msg.chat.id;
    let uid = user.0.to_string();
    let s = tg.live.session();
    let lang = {
        let (s, uid) = (s.clone(), uid.clone());
        off_thread(move || s.lang_known(CHANNEL, &uid))
            .await
            .flatten()
            .or(hint)
            .unwrap_or(Lang::Zh)
    };
    let cat = s.engine().catalog();
    let cmd = |c: Command| {
        let (s, uid) = (s.clone(), uid.clone());
        off_thread(move || s.command(CHANNEL, &uid, c, hint))
    };
    if let Some((name, _)) = parse_command(&text, me) {
        match name.as_str() {
            "start" => {
                send_text(bot, chat, cat.text("start", lang)).await?;
                return answer(bot, tg, chat, lang, cmd(Command::Menu).await).await;
            }
            "menu" => return answer(bot, tg, chat, lang, cmd(Command::Menu).await).await,
            "cancel" => return answer(bot, tg, chat, lang, cmd(Command::Restart).await).await,
            "report" => {
                return answer(
                    bot,
                    tg,
                    chat,
                    lang,
                    cmd(Command::Goto("report_scam".into())).await,
                )
                .await
            }
            "help" => {
                send_text(bot, chat, cat.text("help", lang)).await?;
                return Ok((None, None));
            }
            "privacy" => {
                let days = (s.idle_secs() / 86_400).max(1).to_string();
                send_text(
                    bot,
                    chat,
                    &cat.text("privacy", lang).replace("{days}", &days),
                )
                .await?;
                return Ok((None, None));
            }
            "lang" => {
                let kb = InlineKeyboardMarkup::new([[
                    InlineKeyboardButton::callback("中文", "l:zh"),
                    InlineKeyboardButton::callback("English", "l:en"),
                ]]);
                send(
                    bot,
                    chat,
                    escape(cat.text("lang_prompt", lang)),
                    Some(kb),
                    None,
                )
                .await?;
                return Ok((None, None));
            }
            "forget" => {
                let (s2, uid2) = (s.clone(), uid.clone());
                match off_thread(move || s2.forget(CHANNEL, &uid2)).await {
                    Some(Ok(())) => send_text(bot, chat, cat.text("forgotten", lang)).await?,
                    _ => send_text(bot, chat, cat.text("unavailable", lang)).await?,
                }
                return Ok((None, None));
            }
            "spam" | "notspam" if tg.admins.contains(&user.0) => {
                let kind = if name == "spam" {
                    LabelKind::Scam
                } else {
                    LabelKind::NotScam
                };
                match label_reply(tg, msg, user, kind).await {
                    Some(id) => send_labelled(bot, &s, chat, lang, kind, id).await?,
                    None => send_text(bot, chat, cat.text("label_reply_needed", lang)).await?,
                }
                return Ok((None, None));
            }
            "stats" | "reports" if tg.admins.contains(&user.0) => {
                let s2 = s.clone();
                let since = now().saturating_sub(7 * 86_400);
                let reports = off_thread(move || s2.store().reports(0, since, usize::MAX))
                    .await
                    .and_then(|r| r.ok());
                let Some(reports) = reports else {
                    send_text(bot, chat, cat.text("unavailable", lang)).await?;
                    return Ok((None, None));
                };
                let body = if name == "stats" {
                    admin_stats(&reports)
                } else {
                    admin_latest(&reports, 10)
                };
                send_text(bot, chat, &body).await?;
                return Ok((None, None));
            }
            _ => {} // Anything else is answered as ordinary text.
        }
    }
    let forwarded = msg.forward_origin().is_some();
    let r = {
        let (s, uid) = (s.clone(), uid.clone());
        off_thread(move || s.turn(CHANNEL, &uid, &text, forwarded)).await
    };
    answer(bot, tg, chat, lang, r).await
}

/// Last 7 days of reports, for admins.
fn admin_stats(reports: &[report::Report]) -> String {
    let st = report::stats(reports, 5);
    let mut out = format!("Reports, last 7 days: {}\n", st.total);
    for (day, n) in &st.by_day {
        out.push_str(&format!("  {day}: {n}\n"));
    }
    out.push_str("By signal:\n");
    for (sig, n) in &st.by_signal {
        out.push_str(&format!("  {sig}: {n}\n"));
    }
    out.push_str("Most named contacts:\n");
    for (c, n) in &st.top_indicators {
        out.push_str(&format!("  {c}: {n}\n"));
    }
    out
}

/// The latest reports (already redacted), for admins.
fn admin_latest(reports: &[report::Report], n: usize) -> String {
    let mut out = String::new();
    for r in reports.iter().rev().take(n) {
        let text: String = r.text.chars().take(200).collect();
        out.push_str(&format!(
            "#{} {} {} {} [{}]\n{}\n\n",
            r.id,
            report::day(r.time),
            r.channel,
            r.verdict.name(),
            r.signals
                .iter()
                .filter(|s| s.weight > 0.0)
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            text
        ));
    }
    if out.is_empty() {
        out.push_str("No reports in the last 7 days.");
    }
    out
}

fn guard_key(chat: ChatId) -> String {
    format!("telegram-guard/{}", chat.0)
}

fn trust_key(chat: ChatId) -> String {
    format!("telegram-trust/{}", chat.0)
}

/// How a group is guarded, as its admins set it with `/guard on|dry|off` (stored per group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GuardMode {
    /// Warn about scams, delete nothing (the default).
    #[default]
    Off,
    /// Touch nothing in the group: record what would have been deleted and tell the admin chat.
    Dry,
    /// Delete scams (when the bot may).
    On,
}

impl GuardMode {
    /// The stored setting (absent or unknown: off).
    pub fn parse(setting: Option<&str>) -> GuardMode {
        match setting {
            Some("on") => GuardMode::On,
            Some("dry") => GuardMode::Dry,
            _ => GuardMode::Off,
        }
    }

    /// The mode `/guard ARGS` asks for: `off`, `dry`, else on.
    fn from_args(args: &str) -> GuardMode {
        match args.trim().to_ascii_lowercase().as_str() {
            "off" => GuardMode::Off,
            "dry" => GuardMode::Dry,
            _ => GuardMode::On,
        }
    }

    fn name(self) -> &'static str {
        match self {
            GuardMode::Off => "off",
            GuardMode::Dry => "dry",
            GuardMode::On => "on",
        }
    }
}

/// What the bot does with a group message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupAction {
    Ignore,
    Warn,
    Delete,
    /// Dry run: what would have been deleted, left alone and told to the admin chat.
    WouldDelete,
}

/// Only a scam verdict gets a reaction (a warning, a question about a scam or a retold offer
/// scores below it), and none for a member the group trusts; deleting needs the group's consent
/// and the right to delete; a dry run touches nothing.
pub fn group_action(
    verdict: Verdict,
    mode: GuardMode,
    can_delete: bool,
    trusted: bool,
) -> GroupAction {
    match verdict {
        Verdict::Scam if trusted => GroupAction::Ignore,
        Verdict::Scam if mode == GuardMode::Dry => GroupAction::WouldDelete,
        Verdict::Scam if mode == GuardMode::On && can_delete => GroupAction::Delete,
        Verdict::Scam => GroupAction::Warn,
        _ => GroupAction::Ignore,
    }
}

/// The user ids a group trusts, from their stored form (ids separated by spaces).
fn trusted_ids(setting: Option<&str>) -> Vec<u64> {
    let mut ids: Vec<u64> = setting
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn join_ids(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
}

async fn group(
    bot: &TgBot,
    tg: &Arc<Tg>,
    msg: &Message,
    me: &Me,
    user: UserId,
    user_lang: Option<Lang>,
    text: String,
) -> Result<Outcome, RequestError> {
    let chat = msg.chat.id;
    let s = tg.live.session();
    let cat = s.engine().catalog();
    // Commands answer in the sender's app language; warnings in the language of the scam.
    let lang = crate::normalize::detect_lang(&text)
        .filter(|_| !text.starts_with('/'))
        .or(user_lang)
        .unwrap_or(Lang::Zh);
    if let Some((name, args)) = parse_command(&text, me) {
        group_command(bot, tg, msg, user, lang, &name, args).await?;
        return Ok((None, None));
    }
    if text.trim().is_empty() || Session::check_text(&text).is_err() {
        return Ok((None, None));
    }
    let analysis = {
        let (s, text) = (s.clone(), text.clone());
        match off_thread(move || s.analyze(&text)).await {
            Some(a) => a,
            None => return Ok((None, None)),
        }
    };
    let verdict = analysis.scam.verdict;
    let intent = Some(
        s.engine()
            .catalog()
            .public_id(&analysis.intent.intent)
            .to_owned(),
    );
    if verdict != Verdict::Scam {
        return Ok((intent, Some(verdict.name())));
    }
    let (mode, trusted) = {
        let s2 = s.clone();
        off_thread(move || {
            let setting = |k: String| s2.store().setting(&k).ok().flatten();
            let mode = GuardMode::parse(setting(guard_key(chat)).as_deref());
            let trusted = trusted_ids(setting(trust_key(chat)).as_deref()).contains(&user.0);
            (mode, trusted)
        })
        .await
        .unwrap_or_default()
    };
    let bot_member = bot.get_chat_member(chat, me.id).await.ok();
    let can_delete = bot_member.as_ref().is_some_and(|m| m.can_delete_messages());
    let can_ban = bot_member
        .as_ref()
        .is_some_and(|m| m.can_restrict_members());
    let action = group_action(verdict, mode, can_delete, trusted);
    if action == GroupAction::Ignore {
        return Ok((intent, Some(verdict.name())));
    }
    // The notice names the scheme: the explanation of the signal the verdict rests on.
    let family = analysis
        .scam
        .family(cat)
        .map(|def| def.explain.get(lang).to_owned());
    let signals: Vec<String> = analysis
        .scam
        .signals
        .iter()
        .filter(|x| x.weight > 0.0)
        .map(|x| x.name.clone())
        .collect();
    let redacted = analysis.redacted.clone();
    // Recorded whatever the action; then flood control on the bot's own voice in the chat.
    let report = {
        let (s2, uid) = (s.clone(), user.0.to_string());
        let note = Some(format!("group; action: {action:?}").to_lowercase());
        let recorded = off_thread(move || {
            let key = s2.user_key(CHANNEL, &uid);
            s2.record(CHANNEL, &key, &analysis, note, now())
        })
        .await;
        match recorded {
            Some(Ok((id, _))) => Some(id),
            _ => {
                tracing::error!("a group scam report could not be recorded");
                None
            }
        }
    };
    if let (Some(admin_chat), Some(id)) = (tg.admin_chat, report) {
        let seen = Seen {
            chat,
            sender: user,
            report: id,
            action,
            signals,
            text: redacted,
            can_ban,
        };
        if let Err(e) = tell_admin_chat(bot, &s, admin_chat, &seen).await {
            tracing::warn!(error = %e, "the admin chat could not be told");
        }
    }
    if action == GroupAction::WouldDelete {
        tracing::info!(chat = chat.0, "dry run: a scam would have been deleted");
        return Ok((intent, Some(verdict.name())));
    }
    let chat_key = format!("telegram-chat/{}", chat.0);
    let s2 = s.clone();
    if off_thread(move || s2.allow(CHANNEL, &chat_key, Rate::CHAT))
        .await
        .is_some_and(|r| r.is_err())
    {
        return Ok((intent, Some(verdict.name())));
    }
    let named = |notice: &str| match &family {
        Some(why) => format!("{notice}\n{why}"),
        None => notice.to_owned(),
    };
    match action {
        GroupAction::Delete => {
            bot.delete_message(chat, msg.id).await?;
            send_text(bot, chat, &named(cat.text("group_deleted", lang))).await?;
        }
        GroupAction::Warn => {
            send(
                bot,
                chat,
                escape(&named(cat.text("group_warning", lang))),
                None,
                Some(msg.id),
            )
            .await?;
        }
        GroupAction::Ignore | GroupAction::WouldDelete => {}
    }
    Ok((intent, Some(verdict.name())))
}

/// A group scam the bot acted on, as the admin chat is told about it.
struct Seen {
    chat: ChatId,
    sender: UserId,
    report: u64,
    action: GroupAction,
    signals: Vec<String>,
    /// The message, secrets redacted.
    text: String,
    /// Whether the bot may ban members of the group (the ban button shows only then).
    can_ban: bool,
}

/// Posts a deletion, a warning or a dry run's would-be deletion to the admin chat, with its
/// signals, the redacted text and two buttons: "not a scam" (labels it, and restores the text
/// if it was deleted) and "ban the sender" (when the bot may).
async fn tell_admin_chat(
    bot: &TgBot,
    s: &Session,
    admin_chat: ChatId,
    seen: &Seen,
) -> Result<(), RequestError> {
    let cat = s.engine().catalog();
    let lang = Lang::Zh;
    let (head, deleted) = match seen.action {
        GroupAction::Delete => ("admin_deleted", true),
        GroupAction::WouldDelete => ("admin_dry", false),
        _ => ("admin_warned", false),
    };
    let body = format!(
        "{}\n{} {}\n\n{}",
        cat.text(head, lang)
            .replace("{chat}", &seen.chat.0.to_string())
            .replace("{id}", &seen.report.to_string()),
        cat.text("admin_signals", lang),
        seen.signals.join(", "),
        seen.text.chars().take(1000).collect::<String>()
    );
    let mut row = vec![InlineKeyboardButton::callback(
        cat.text("admin_not_scam", lang),
        format!("n:{}:{}:{}", seen.chat.0, seen.report, u8::from(deleted)),
    )];
    if seen.can_ban {
        row.push(InlineKeyboardButton::callback(
            cat.text("admin_ban", lang),
            format!("b:{}:{}", seen.chat.0, seen.sender.0),
        ));
    }
    let pieces = split(&body, MAX_CHUNK_CHARS);
    let last = pieces.len().saturating_sub(1);
    for (i, p) in pieces.into_iter().enumerate() {
        let kb = (i == last).then(|| InlineKeyboardMarkup::new([row.clone()]));
        send(bot, admin_chat, escape(&p), kb, None).await?;
    }
    Ok(())
}

/// A group command: `/guard`, `/trust`, `/untrust`, `/trusted` for the group's admins;
/// `/spam`, `/notspam` for the team's; `/start`, `/help`.
async fn group_command(
    bot: &TgBot,
    tg: &Arc<Tg>,
    msg: &Message,
    user: UserId,
    lang: Lang,
    name: &str,
    args: &str,
) -> Result<(), RequestError> {
    let chat = msg.chat.id;
    let s = tg.live.session();
    let cat = s.engine().catalog();
    let group_admin = matches!(name, "guard" | "trust" | "untrust" | "trusted");
    if group_admin && !bot.get_chat_member(chat, user).await?.is_privileged() {
        send_text(bot, chat, cat.text("guard_admins_only", lang)).await?;
        return Ok(());
    }
    let replied_sender = msg
        .reply_to_message()
        .and_then(|m| m.from.as_ref())
        .map(|u| u.id.0);
    match name {
        "guard" => {
            let mode = GuardMode::from_args(args);
            let s2 = s.clone();
            let set =
                off_thread(move || s2.store().set_setting(&guard_key(chat), mode.name())).await;
            let id = match (set, mode) {
                (Some(Ok(())), GuardMode::On) => "guard_on",
                (Some(Ok(())), GuardMode::Dry) => "guard_dry",
                (Some(Ok(())), GuardMode::Off) => "guard_off",
                _ => "unavailable",
            };
            send_text(bot, chat, cat.text(id, lang)).await?;
        }
        "trust" | "untrust" => {
            // `/untrust ID` also works, for a member whose messages are gone.
            let member = replied_sender.or_else(|| args.parse().ok().filter(|_| name == "untrust"));
            let Some(member) = member else {
                send_text(bot, chat, cat.text("trust_reply_needed", lang)).await?;
                return Ok(());
            };
            let (s2, add) = (s.clone(), name == "trust");
            let set = off_thread(move || {
                let store = s2.store();
                let mut ids = trusted_ids(store.setting(&trust_key(chat))?.as_deref());
                ids.retain(|&x| x != member);
                if add {
                    ids.push(member);
                }
                store.set_setting(&trust_key(chat), &join_ids(&ids))
            })
            .await;
            let id = match set {
                Some(Ok(())) if add => "trusted",
                Some(Ok(())) => "untrusted",
                _ => "unavailable",
            };
            send_text(bot, chat, cat.text(id, lang)).await?;
        }
        "trusted" => {
            let s2 = s.clone();
            let ids = off_thread(move || s2.store().setting(&trust_key(chat)))
                .await
                .and_then(|r| r.ok());
            let text = match ids.map(|v| trusted_ids(v.as_deref())) {
                None => cat.text("unavailable", lang).to_owned(),
                Some(ids) if ids.is_empty() => cat.text("trusted_none", lang).to_owned(),
                Some(ids) => format!("{}\n{}", cat.text("trusted_list", lang), join_ids(&ids)),
            };
            send_text(bot, chat, &text).await?;
        }
        "spam" | "notspam" if tg.admins.contains(&user.0) => {
            let kind = if name == "spam" {
                LabelKind::Scam
            } else {
                LabelKind::NotScam
            };
            let Some(labelled) = label_reply(tg, msg, user, kind).await else {
                send_text(bot, chat, cat.text("label_reply_needed", lang)).await?;
                return Ok(());
            };
            // From an admin of a group that asked for deletions, /spam deletes as well.
            if kind == LabelKind::Scam {
                let s2 = s.clone();
                let mode = off_thread(move || s2.store().setting(&guard_key(chat)))
                    .await
                    .and_then(|r| r.ok())
                    .flatten();
                if GuardMode::parse(mode.as_deref()) == GuardMode::On {
                    if let Some(target) = msg.reply_to_message() {
                        // Labelled either way: a bot without the right to delete only says so
                        // in the log.
                        if let Err(e) = bot.delete_message(chat, target.id).await {
                            tracing::warn!(error = %e, "a message labelled scam could not be deleted");
                        }
                    }
                }
            }
            send_labelled(bot, &s, chat, lang, kind, labelled).await?;
        }
        "start" | "help" => send_text(bot, chat, cat.text("help", lang)).await?,
        _ => {}
    }
    Ok(())
}

/// Labels the message `msg` replies to, for the admin `by`: recorded as a report of its sender
/// (the one already recorded when the bot reported it: reports are deduplicated), then labelled.
/// `None` when `msg` replies to no text or the store fails.
async fn label_reply(tg: &Tg, msg: &Message, by: UserId, kind: LabelKind) -> Option<u64> {
    let target = msg.reply_to_message()?;
    let text = target.text().or_else(|| target.caption())?.to_owned();
    let sender = target.from.as_ref().map_or(by.0, |u| u.id.0).to_string();
    let s = tg.live.session();
    off_thread(move || {
        let a = s.analyze(&text);
        let key = s.user_key(CHANNEL, &sender);
        let (id, _) = s.record(CHANNEL, &key, &a, Some("telegram label".into()), now())?;
        label_report(&s, id, kind, by)?;
        Ok::<_, crate::store::StoreError>(id)
    })
    .await?
    .inspect_err(|e| tracing::error!(error = %e, "a label could not be stored"))
    .ok()
}

/// Sets the team's label on report `id` for the Telegram admin `by`; `Ok(false)`: no such report.
fn label_report(
    s: &Session,
    id: u64,
    kind: LabelKind,
    by: UserId,
) -> Result<bool, crate::store::StoreError> {
    let label = report::Label {
        label: kind,
        by: s.user_key("label", &format!("telegram:{}", by.0)),
        time: now(),
        note: None,
    };
    s.store().set_label(id, &label)
}

async fn send_labelled(
    bot: &TgBot,
    s: &Session,
    chat: ChatId,
    lang: Lang,
    kind: LabelKind,
    id: u64,
) -> Result<(), RequestError> {
    let key = match kind {
        LabelKind::Scam => "labelled_scam",
        LabelKind::NotScam => "labelled_not_scam",
    };
    let text = s.engine().catalog().text(key, lang);
    send_text(bot, chat, &text.replace("{id}", &id.to_string())).await
}

/// A press on an admin chat's button: `n:CHAT:REPORT:DELETED` (not a scam) or `b:CHAT:USER`
/// (ban the sender). Only the team's admins may press them.
async fn on_admin_button(
    bot: &TgBot,
    tg: &Tg,
    q: &CallbackQuery,
    here: ChatId,
) -> Result<(), RequestError> {
    if !tg.admins.contains(&q.from.id.0) {
        return Ok(());
    }
    let s = tg.live.session();
    let cat = s.engine().catalog();
    let lang = Lang::Zh;
    let parts: Vec<&str> = q.data.as_deref().unwrap_or("").split(':').collect();
    match parts.as_slice() {
        ["n", group, id, deleted] => {
            let (Ok(group), Ok(id)) = (group.parse::<i64>(), id.parse::<u64>()) else {
                return Ok(());
            };
            let (s2, by) = (s.clone(), q.from.id);
            let done = off_thread(move || {
                if !label_report(&s2, id, LabelKind::NotScam, by)? {
                    return Ok(None);
                }
                let text = s2
                    .store()
                    .reports(id.saturating_sub(1), 0, 1)?
                    .into_iter()
                    .find(|r| r.id == id)
                    .map(|r| r.text);
                Ok::<_, crate::store::StoreError>(Some(text))
            })
            .await
            .and_then(|r| r.ok())
            .flatten();
            let Some(text) = done else {
                send_text(bot, here, cat.text("unavailable", lang)).await?;
                return Ok(());
            };
            if *deleted == "1" {
                if let Some(text) = text {
                    let quote = format!(
                        "{}\n<blockquote>{}</blockquote>",
                        escape(cat.text("admin_restored", lang)),
                        escape(&text)
                    );
                    send(bot, ChatId(group), quote, None, None).await?;
                }
            }
            send_labelled(bot, &s, here, lang, LabelKind::NotScam, id).await?;
        }
        ["b", group, member] => {
            let (Ok(group), Ok(member)) = (group.parse::<i64>(), member.parse::<u64>()) else {
                return Ok(());
            };
            let id = match bot.ban_chat_member(ChatId(group), UserId(member)).await {
                Ok(_) => "admin_banned",
                Err(e) => {
                    tracing::warn!(error = %e, "banning a sender failed");
                    "unavailable"
                }
            };
            send_text(bot, here, cat.text(id, lang)).await?;
        }
        _ => {}
    }
    Ok(())
}

async fn on_callback(bot: TgBot, q: CallbackQuery, tg: Arc<Tg>) -> Result<(), RequestError> {
    // Answer the press first so the client stops its spinner, whatever happens next.
    bot.answer_callback_query(q.id.clone()).await?;
    let Some(chat) = q.message.as_ref().map(|m| m.chat().id) else {
        return Ok(());
    };
    let data = q.data.as_deref().unwrap_or("");
    if data.starts_with("n:") || data.starts_with("b:") {
        return on_admin_button(&bot, &tg, &q, chat).await;
    }
    let uid = q.from.id.0.to_string();
    let hint = hint(q.from.language_code.as_deref());
    let s = tg.live.session();
    let r = match data.split_once(':') {
        Some(("c", n)) if n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()) => {
            let n = n.to_owned();
            off_thread(move || s.turn(CHANNEL, &uid, &n, false)).await
        }
        Some(("l", code)) => {
            let l = if code == "en" { Lang::En } else { Lang::Zh };
            off_thread(move || s.command(CHANNEL, &uid, Command::Lang(l), hint)).await
        }
        _ => return Ok(()),
    };
    let (intent, verdict) = answer(&bot, &tg, chat, hint.unwrap_or(Lang::Zh), r).await?;
    tracing::info!(
        chat = "private",
        intent = intent.as_deref().unwrap_or("-"),
        verdict = verdict.unwrap_or("-"),
        "update"
    );
    Ok(())
}

/// The handler tree.
pub fn handler() -> teloxide::dispatching::UpdateHandler<RequestError> {
    dptree::entry()
        .branch(Update::filter_message().endpoint(on_message))
        .branch(Update::filter_callback_query().endpoint(on_callback))
}

/// How updates arrive.
pub enum Mode {
    /// Long polling (`getUpdates`), with this long-poll timeout.
    Polling(Duration),
    /// Telegram posts updates to `url`; served on `listen` together with `extra` routes (the
    /// HTTP API), the secret token checked on every post.
    Webhook {
        url: url::Url,
        listen: std::net::SocketAddr,
        secret: String,
        extra: axum::Router,
    },
}

/// Runs the bot until `shutdown` resolves; then updates in flight get `limits.shutdown_deadline`
/// to be answered (a long poll Telegram does not answer is not waited for), and it returns. An
/// update not answered by then is not confirmed to Telegram, which sends it again at the next
/// start. In webhook mode the server keeps `limits`' header timeout and connection cap too.
pub async fn run(
    bot: TgBot,
    tg: Arc<Tg>,
    mode: Mode,
    limits: crate::http::ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let me = bot
        .get_me()
        .await
        .map_err(|e| format!("Telegram refused the bot token or cannot be reached: {e}"))?;
    register_commands(&bot)
        .await
        .map_err(|e| format!("registering the bot's commands failed: {e}"))?;
    tracing::info!(bot = %me.username(), "telegram bot started");
    let mut dispatcher = Dispatcher::builder(bot.clone(), handler())
        .dependencies(dptree::deps![tg, me])
        .default_handler(|_| async {})
        .error_handler(LoggingErrorHandler::with_custom_text(
            "an update could not be answered",
        ))
        .build();
    let token = dispatcher.shutdown_token();
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stopping.send(());
        if let Ok(done) = token.shutdown() {
            done.await;
        }
    });
    let deadline = async move {
        if stopped.await.is_ok() {
            tokio::time::sleep(limits.shutdown_deadline).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        r = dispatch(bot, &mut dispatcher, mode, limits) => r,
        () = deadline => {
            tracing::warn!(
                deadline = ?limits.shutdown_deadline,
                "updates still in flight at the shutdown deadline are left for Telegram to resend"
            );
            Ok(())
        }
    }
}

/// Receives and answers updates until the dispatcher is shut down.
async fn dispatch(
    bot: TgBot,
    dispatcher: &mut Dispatcher<TgBot, RequestError, teloxide::dispatching::DefaultKey>,
    mode: Mode,
    limits: crate::http::ServerLimits,
) -> Result<(), String> {
    let errors = LoggingErrorHandler::with_custom_text("receiving updates failed");
    match mode {
        Mode::Polling(timeout) => {
            let listener = Polling::builder(bot)
                .timeout(timeout)
                .delete_webhook()
                .await
                .build();
            dispatcher.dispatch_with_listener(listener, errors).await;
        }
        Mode::Webhook {
            url,
            listen,
            secret,
            extra,
        } => {
            use teloxide::update_listeners::webhooks;
            // Listen before Telegram is told the URL: it may post at once.
            let tcp = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("listening on {listen}: {e}"))?;
            let options = webhooks::Options::new(listen, url).secret_token(secret.clone());
            let (listener, stop, router) = webhooks::axum_to_router(bot, options)
                .await
                .map_err(|e| format!("setting the webhook failed: {e}"))?;
            let app = router
                .layer(axum::middleware::from_fn(move |req, next| {
                    check_secret(secret.clone(), req, next)
                }))
                .merge(extra);
            tokio::spawn(async move {
                if let Err(e) = crate::http::serve_with(tcp, app, limits, stop).await {
                    tracing::error!(error = %e, "the webhook server stopped");
                }
            });
            dispatcher.dispatch_with_listener(listener, errors).await;
        }
    }
    Ok(())
}

/// Refuses webhook posts without the secret token, compared in constant time (teloxide checks it
/// too, but not in constant time).
async fn check_secret(
    secret: String,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use subtle::ConstantTimeEq;
    let given = req
        .headers()
        .get("x-telegram-bot-api-secret-token")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let ok = given.len() == secret.len() && bool::from(given.ct_eq(secret.as_bytes()));
    if ok {
        next.run(req).await
    } else {
        axum::http::StatusCode::UNAUTHORIZED.into_response()
    }
}

/// Limits for teloxide's throttle: Telegram's own by default.
pub fn default_limits() -> Limits {
    Limits::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_before_any_request() {
        assert!(check_token("123456:ABCdef_ghi-jklmnopqrstuvwx").is_ok());
        for bad in [
            "",
            "abc",
            "123456",
            "123:short",
            "abc:ABCdefghijklmnopqrstuvwx",
            "123:has space in it aaaaaaaaaa",
        ] {
            assert!(check_token(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_admins("1, 22,333").unwrap().len(), 3);
        assert!(parse_admins("1,x").is_err());
        assert!(parse_admins("").unwrap().is_empty());
    }

    #[test]
    fn html_is_escaped_and_long_text_split() {
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
        let long = format!("{}\n{}", "段".repeat(3000), "落".repeat(3000));
        let parts = split(&long, MAX_CHUNK_CHARS);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_CHUNK_CHARS));
        let huge = "字".repeat(10_000);
        let parts = split(&huge, MAX_CHUNK_CHARS);
        assert_eq!(parts.concat(), huge);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_CHUNK_CHARS));
    }

    #[test]
    fn groups_only_react_to_scams_and_delete_only_when_allowed() {
        use GroupAction::*;
        use GuardMode::{Dry, Off, On};
        assert_eq!(group_action(Verdict::Clean, On, true, false), Ignore);
        assert_eq!(group_action(Verdict::Suspicious, On, true, false), Ignore);
        assert_eq!(group_action(Verdict::Scam, Off, true, false), Warn);
        assert_eq!(group_action(Verdict::Scam, On, false, false), Warn);
        assert_eq!(group_action(Verdict::Scam, On, true, false), Delete);
        // A dry run touches nothing, whatever the bot may do.
        assert_eq!(group_action(Verdict::Scam, Dry, true, false), WouldDelete);
        assert_eq!(group_action(Verdict::Scam, Dry, false, false), WouldDelete);
        // A trusted member is never acted on.
        for mode in [Off, Dry, On] {
            assert_eq!(group_action(Verdict::Scam, mode, true, true), Ignore);
        }
    }

    #[test]
    fn guard_settings_and_trusted_lists_read_back() {
        assert_eq!(GuardMode::parse(None), GuardMode::Off);
        for m in [GuardMode::Off, GuardMode::Dry, GuardMode::On] {
            assert_eq!(GuardMode::parse(Some(m.name())), m);
            assert_eq!(GuardMode::from_args(m.name()), m);
        }
        assert_eq!(
            GuardMode::from_args(""),
            GuardMode::On,
            "/guard alone turns it on"
        );
        assert_eq!(trusted_ids(Some("7 3 x 7")), vec![3, 7]);
        assert_eq!(join_ids(&trusted_ids(Some("7 3"))), "3 7");
        assert!(trusted_ids(None).is_empty());
    }
}
