//! The HTTP frontend for support desks (axum): tickets, conversations, reports and the team's
//! labels on them, health, metrics, reloading the catalog and models, the OpenAPI document and
//! the team's reports page. A thin adapter: every answer comes from the
//! shared [`Session`]; this module only translates HTTP to it and back.
//!
//! Errors always have the shape `{"error": {"code", "message"}}`; codes are stable.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::live::{Live, ReloadError};
use crate::reply::Reply;
use crate::report::{self, Label, LabelKind, Labelled};
use crate::scam::ScamResult;
use crate::session::{now, off_thread, Session, SessionError};
use crate::store::{Store, StoreError};
use crate::Lang;

/// Largest request body accepted (the text limit itself is the engine's, 64 KiB).
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// A request that takes longer is answered with `timeout`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Most reports one `GET /v1/reports` returns.
pub const MAX_PAGE: usize = 1000;

/// How long the reports page's figures are reused: the page itself refreshes once a minute, and
/// each computation reads a month of reports.
pub const DASHBOARD_MAX_AGE: Duration = Duration::from_secs(60);
/// Reports read from the store at a time while the reports page is counted: the month is
/// aggregated page by page, never held whole (30,000 reports were 186 MB).
const DASHBOARD_PAGE: usize = 1000;
/// Reports the page lists.
const DASHBOARD_LATEST: usize = 20;

const OPENAPI: &str = include_str!("web/openapi.json");
const REPORTS_PAGE: &str = include_str!("web/reports.html");
const REPORTS_SCRIPT: &str = include_str!("web/reports.js");
const REPORTS_STYLE: &str = include_str!("web/reports.css");
/// The page loads only its own script and style and talks only to its own origin; no other site
/// may frame it.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; form-action 'none'; base-uri 'none'; \
    frame-ancestors 'none'";

/// What the routes share.
pub struct Api {
    /// The session to answer with; replaced whole by a reload.
    live: Arc<Live>,
    /// SHA-256 of the bearer token, compared in constant time.
    token: [u8; 32],
    /// The reports page's last figures and when they were counted. Held while they are
    /// recounted, so viewers arriving together wait for one count instead of each making one.
    dashboard: Mutex<Option<(Instant, Arc<Dashboard>)>>,
}

impl Api {
    /// `token` must be non-empty: every route but /healthz and /metrics requires it.
    pub fn new(session: Arc<Session>, token: &str) -> Result<Api, String> {
        Api::with_live(Arc::new(Live::fixed(session)), token)
    }

    /// An API whose catalog and models `POST /v1/admin/reload` (or SIGHUP) can replace.
    pub fn with_live(live: Arc<Live>, token: &str) -> Result<Api, String> {
        if token.trim().is_empty() {
            return Err("SAFEPATH_API_TOKEN is empty; set it to a long random string".into());
        }
        Ok(Api {
            live,
            token: Sha256::digest(token.as_bytes()).into(),
            dashboard: Mutex::new(None),
        })
    }

    /// The session for one request.
    fn session(&self) -> Arc<Session> {
        self.live.session()
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        // The scheme is case-insensitive (RFC 7235 §2.1): `bearer` and `BEARER` are `Bearer`.
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim_start().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map_or("", |(_, token)| token);
        // Hashing first makes the comparison independent of the token's length too.
        let given: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        bool::from(given.ct_eq(&self.token))
    }
}

/// An error as the API returns it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds until a refused request may succeed (`Retry-After`).
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A field of the right type with a value the API does not accept.
    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
    }
}

/// An id (a ticket's, a user's) must be present and bounded.
fn check_id(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.len() > 256 {
        return Err(ApiError::invalid(format!(
            "`{field}` must be 1 to 256 bytes"
        )));
    }
    Ok(())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut r = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        r
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> ApiError {
        let msg = e.to_string();
        match e {
            SessionError::Empty => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "empty_text", msg)
            }
            SessionError::TooLong(_) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "text_too_long", msg)
            }
            SessionError::RateLimited(wait_ms) => ApiError {
                retry_after: Some(wait_ms.div_ceil(1000).max(1)),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", msg)
            },
            SessionError::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "store error");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store cannot be reached or written right now; nothing was recorded, try again",
        )
    }
}

/// A JSON body, read with errors in the API's shape: invalid UTF-8, bad JSON, wrong types and an
/// oversized body each get their own code.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        format!("the request body is over {MAX_BODY_BYTES} bytes"),
                    )
                } else {
                    ApiError::new(StatusCode::BAD_REQUEST, "bad_body", e.body_text())
                }
            })?;
        if std::str::from_utf8(&bytes).is_err() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_utf8",
                "the body is not valid UTF-8",
            ));
        }
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => ApiError::invalid(e.to_string()),
                _ => ApiError::new(StatusCode::BAD_REQUEST, "bad_json", e.to_string()),
            }
        })
    }
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    off_thread(f).await.unwrap_or_else(|| {
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        ))
    })
}

type Shared = State<Arc<Api>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketIn {
    id: String,
    text: String,
    #[serde(default)]
    lang: Option<Lang>,
}

#[derive(Serialize)]
struct TicketOut {
    id: String,
    deflect: bool,
    /// The answer a desk can send as it is: notices, the official path and the choices.
    answer: String,
    #[serde(flatten)]
    reply: Reply,
}

async fn tickets(State(api): Shared, Body(t): Body<TicketIn>) -> Result<Json<TicketOut>, ApiError> {
    check_id("id", &t.id)?;
    let out = |id: String, reply: Reply| {
        Json(TicketOut {
            id,
            deflect: reply.deflectable,
            answer: reply.to_plain(),
            reply,
        })
    };
    // Most tickets need no store: answered here, a few microseconds of work, without the
    // hand-off to a blocking thread (which cost more than the answer).
    if let Some(reply) = api.session().ticket_without_store(&t.id, &t.text, t.lang) {
        return Ok(out(t.id, reply?));
    }
    blocking(move || {
        let reply = api.session().ticket(&t.id, &t.text, t.lang)?;
        Ok(out(t.id, reply))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageIn {
    user: String,
    text: String,
}

async fn messages(State(api): Shared, Body(m): Body<MessageIn>) -> Result<Json<Reply>, ApiError> {
    check_id("user", &m.user)?;
    blocking(move || Ok(Json(api.session().turn("api", &m.user, &m.text, false)?))).await
}

async fn forget_user(
    State(api): Shared,
    user: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    // The id comes percent-encoded in the path: bytes that decode to no text are refused like an
    // invalid body, and the id is held to the same bounds as `/v1/messages`' `user`.
    let Path(user) = user.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_utf8",
            "the user id in the path is not valid UTF-8 once percent-decoded",
        )
    })?;
    check_id("user", &user)?;
    blocking(move || {
        api.session().forget("api", &user)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportIn {
    text: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Serialize)]
struct ReportOut {
    id: u64,
    /// False when the same text had already been reported through the API.
    new: bool,
    scam: ScamResult,
}

async fn post_report(
    State(api): Shared,
    Body(r): Body<ReportIn>,
) -> Result<(StatusCode, Json<ReportOut>), ApiError> {
    let channel = r.channel.unwrap_or_else(|| "api".into());
    if channel.is_empty()
        || channel.len() > 32
        || !channel
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::invalid(
            "`channel` must be 1 to 32 letters, digits, - or _",
        ));
    }
    Session::check_text(&r.text)?;
    if r.note.as_ref().is_some_and(|n| n.len() > 4096) {
        return Err(ApiError::invalid("`note` must be at most 4096 bytes"));
    }
    blocking(move || {
        let s = &api.session();
        let a = s.analyze(&r.text);
        // A note is free text too: it is redacted like any message.
        let note = r.note.map(|n| s.engine().analyze(&n).redacted);
        let key = s.user_key(&channel, "agent");
        let (id, new) = s.record(&channel, &key, &a, note, now())?;
        let status = if new {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok((
            status,
            Json(ReportOut {
                id,
                new,
                scam: a.scam,
            }),
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportsQuery {
    /// `YYYY-MM-DD` or unix seconds.
    #[serde(default)]
    since: Option<String>,
    /// Only reports with an id above this one (the previous page's `next`).
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Serialize)]
struct ReportsOut {
    reports: Vec<Labelled>,
    /// Pass as `after` for the next page; null when this page is the last.
    next: Option<u64>,
}

fn parse_since(s: Option<&str>) -> Result<u64, ApiError> {
    match s {
        None | Some("") => Ok(0),
        Some(s) => s
            .parse::<u64>()
            .or_else(|_| report::parse_day(s).map_err(ApiError::invalid)),
    }
}

async fn get_reports(
    State(api): Shared,
    q: Result<Query<ReportsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ReportsOut>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    let since = parse_since(q.since.as_deref())?;
    // A page of none is a mistake, not a request for one; above the maximum, the maximum.
    let limit = match q.limit.unwrap_or(100) {
        0 => {
            return Err(ApiError::invalid(format!(
                "`limit` must be 1 to {MAX_PAGE}"
            )))
        }
        n => n.min(MAX_PAGE),
    };
    blocking(move || {
        let reports = api
            .session()
            .store()
            .labelled_reports(q.after.unwrap_or(0), since, limit)?;
        let next = (reports.len() == limit)
            .then(|| reports.last().map(|r| r.report.id))
            .flatten();
        Ok(Json(ReportsOut { reports, next }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelIn {
    label: LabelKind,
    #[serde(default)]
    note: Option<String>,
    /// Who labels (an agent's name); stored only as a salted hash. Default: `api`.
    #[serde(default)]
    by: Option<String>,
}

#[derive(Serialize)]
struct LabelOut {
    id: u64,
    label: Label,
}

/// A report id from the path: digits, or a refusal in the API's shape.
fn report_id(id: Result<Path<String>, PathRejection>) -> Result<u64, ApiError> {
    id.ok()
        .and_then(|Path(id)| id.parse::<u64>().ok())
        .ok_or_else(|| ApiError::invalid("the report id in the path must be a number"))
}

async fn label_report(
    State(api): Shared,
    id: Result<Path<String>, PathRejection>,
    Body(l): Body<LabelIn>,
) -> Result<Json<LabelOut>, ApiError> {
    let id = report_id(id)?;
    if l.note.as_ref().is_some_and(|n| n.len() > 4096) {
        return Err(ApiError::invalid("`note` must be at most 4096 bytes"));
    }
    let by = l.by.unwrap_or_else(|| "api".into());
    check_id("by", &by)?;
    blocking(move || {
        let s = api.session();
        let label = Label {
            label: l.label,
            by: s.user_key("label", &by),
            time: now(),
            // Free text: redacted like any message.
            note: l.note.map(|n| s.engine().analyze(&n).redacted),
        };
        if !s.store().set_label(id, &label)? {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "no_such_report",
                format!("there is no report {id}"),
            ));
        }
        Ok(Json(LabelOut { id, label }))
    })
    .await
}

async fn reload(State(api): Shared) -> Result<Json<crate::live::Version>, ApiError> {
    blocking(move || {
        api.live.reload().map(Json).map_err(|e| match e {
            ReloadError::NoSource => {
                ApiError::new(StatusCode::CONFLICT, "reload_unavailable", e.to_string())
            }
            ReloadError::Store(s) => s.into(),
            e => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "reload_refused",
                e.to_string(),
            ),
        })
    })
    .await
}

/// What the reports page shows: counts for today and the last 7 days, reports per day for 30
/// days, the most named contacts and the latest reports.
#[derive(Debug, Serialize)]
pub struct Dashboard {
    today: report::Stats,
    week: report::Stats,
    month: report::Stats,
    latest: Vec<Labelled>,
}

impl Dashboard {
    /// Counts the last 30 days (UTC) of reports as of `now`, reading them `page` at a time.
    fn count(store: &dyn Store, now: u64, page: usize) -> Result<Dashboard, StoreError> {
        let today = report::parse_day(&report::day(now)).unwrap_or(0);
        let week = today.saturating_sub(6 * 86_400);
        let month = today.saturating_sub(29 * 86_400);
        let mut tallies = [
            report::Tally::default(),
            Default::default(),
            Default::default(),
        ];
        let mut latest = VecDeque::with_capacity(DASHBOARD_LATEST + 1);
        let mut after = 0;
        loop {
            let reports = store.labelled_reports(after, month, page)?;
            for r in &reports {
                for (tally, from) in tallies.iter_mut().zip([today, week, month]) {
                    if r.report.time >= from {
                        tally.add_labelled(r);
                    }
                }
            }
            for r in reports.iter().rev().take(DASHBOARD_LATEST).rev() {
                if latest.len() == DASHBOARD_LATEST {
                    latest.pop_front();
                }
                latest.push_back(r.clone());
            }
            match reports.last() {
                Some(last) if reports.len() == page => after = last.report.id,
                _ => break,
            }
        }
        let [today, week, month] = tallies.map(|t| t.finish(10));
        Ok(Dashboard {
            today,
            week,
            month,
            latest: latest.into_iter().rev().collect(),
        })
    }
}

async fn dashboard(State(api): Shared) -> Result<Json<Arc<Dashboard>>, ApiError> {
    blocking(move || {
        let mut cached = api.dashboard.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, d)) = cached.as_ref() {
            if at.elapsed() < DASHBOARD_MAX_AGE {
                return Ok(Json(d.clone()));
            }
        }
        let d = Arc::new(Dashboard::count(
            api.session().store(),
            now(),
            DASHBOARD_PAGE,
        )?);
        *cached = Some((Instant::now(), d.clone()));
        Ok(Json(d))
    })
    .await
}

async fn healthz(State(api): Shared) -> Response {
    match blocking(move || Ok(api.session().store().health()?)).await {
        Ok(_) => Json(serde_json::json!({"status": "ok"})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn metrics(State(api): Shared) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        api.live.render_metrics(),
    )
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Html(REPORTS_PAGE),
    )
}

async fn page_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        REPORTS_SCRIPT,
    )
}

async fn page_style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        REPORTS_STYLE,
    )
}

/// Gives the API's error shape to the error answers no handler wrote: an unknown route, a method
/// a route does not take (its `Allow` header kept), an extractor's plain-text refusal.
async fn error_shape(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let resp = next.run(req).await;
    let status = resp.status();
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such route".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            format!("this route does not take {method}; the `Allow` header names what it takes"),
        ),
        s if s.is_client_error() => ("bad_request", format!("the request was refused ({s})")),
        _ => ("internal", "internal error".to_owned()),
    };
    let mut shaped = ApiError::new(status, code, message).into_response();
    if let Some(allow) = resp.headers().get(header::ALLOW) {
        shaped.headers_mut().insert(header::ALLOW, allow.clone());
    }
    shaped
}

/// Auth on the protected routes.
async fn require_token(State(api): Shared, req: Request, next: Next) -> Response {
    if api.authorized(req.headers()) {
        next.run(req).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send `Authorization: Bearer <SAFEPATH_API_TOKEN>`",
        )
        .into_response()
    }
}

/// Timing, metrics and the request timeout, around every route.
async fn observe(State(api): Shared, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let start = Instant::now();
    let resp = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long; try again",
        )
        .into_response(),
    };
    api.session()
        .metrics()
        .request(&route, resp.status().as_u16(), start.elapsed());
    resp
}

/// Every route, ready to serve (or to merge with the Telegram webhook's router).
pub fn router(api: Arc<Api>) -> Router {
    let protected = Router::new()
        .route("/v1/tickets", post(tickets))
        .route("/v1/messages", post(messages))
        .route("/v1/users/{user}", delete(forget_user))
        .route("/v1/reports", post(post_report).get(get_reports))
        .route("/v1/reports/{id}/label", post(label_report))
        .route("/v1/admin/reload", post(reload))
        .route("/v1/dashboard", get(dashboard))
        .route_layer(middleware::from_fn_with_state(api.clone(), require_token));
    Router::new()
        .route("/", get(page))
        .route("/reports.js", get(page_script))
        .route("/reports.css", get(page_style))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi))
        .merge(protected)
        .layer(middleware::from_fn_with_state(api.clone(), observe))
        .layer(middleware::from_fn(error_shape))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api)
}

/// What keeps slow or many clients from exhausting the server, and how long shutdown waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// A client must send a request's headers within this time, the first request's and each
    /// next one's on a kept-alive connection; then the connection is closed.
    pub header_timeout: Duration,
    /// Connections served at once; more wait in the kernel's accept queue until one closes.
    pub max_connections: usize,
    /// After the shutdown signal, requests in flight get this long to finish; then the
    /// connections still open are closed.
    pub shutdown_deadline: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
            shutdown_deadline: Duration::from_secs(5),
        }
    }
}

/// Descriptors kept for everything but client connections: the store's files, Redis and Bot API
/// connections, logs.
pub const RESERVED_FDS: u64 = 128;

impl ServerLimits {
    /// These limits with as many connections as `open_files` descriptors allow: a connection
    /// refused for want of a descriptor is worse than one that waits to be accepted.
    pub fn within_open_files(self, open_files: u64) -> ServerLimits {
        let fit = open_files.saturating_sub(RESERVED_FDS).max(1);
        ServerLimits {
            max_connections: self
                .max_connections
                .min(usize::try_from(fit).unwrap_or(usize::MAX)),
            ..self
        }
    }
}

/// Serves with the default [`ServerLimits`] until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, ServerLimits::default(), shutdown).await
}

/// Serves until `shutdown` resolves (Ctrl-C / SIGTERM in the binary), then stops accepting,
/// lets requests in flight finish within the deadline and closes what is left. What a client was
/// told is recorded was flushed before it was told; an unanswered request recorded nothing it
/// was promised.
///
/// hyper's connection builder is used directly (axum's `serve` sets neither a header timeout nor
/// a connection cap): without them, clients that send half a header hold a connection and a
/// descriptor each, forever.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;
    use tokio::sync::{watch, Semaphore};

    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?addr, ?limits, "serving");
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    // Dropped when this function returns: connections past the deadline stop with it.
    let (abort, _) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (slot, stream) = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let conn =
            http1.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        let mut aborted = abort.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                r = conn => if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                },
                _ = aborted.changed() => {}
            }
            drop(slot);
        });
    }
    drop(listener);
    let open = graceful.count();
    if tokio::time::timeout(limits.shutdown_deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open,
            deadline = ?limits.shutdown_deadline,
            "connections still open at the shutdown deadline are closed"
        );
    }
    Ok(())
}

/// The next connection, once a slot is free for it. Errors are the listener's, not the
/// server's: a client that left before being accepted is skipped, and anything else (out of
/// descriptors) is waited out rather than spun on.
async fn accept(
    listener: &tokio::net::TcpListener,
    slots: &Arc<tokio::sync::Semaphore>,
) -> (tokio::sync::OwnedSemaphorePermit, tokio::net::TcpStream) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .expect("the connection slots are never closed");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return (slot, stream),
            Err(e)
                if matches!(
                    e.kind(),
                    ConnectionAborted | ConnectionRefused | ConnectionReset
                ) => {}
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection failed; retrying in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;
    use crate::scam::{Indicator, IndicatorKind, Signal, Verdict};
    use crate::store::SledStore;

    fn report(time: u64, n: u64) -> Report {
        Report {
            id: 0,
            time,
            channel: "api".into(),
            user: "agent".into(),
            text: format!("report {n}"),
            verdict: if n.is_multiple_of(3) {
                Verdict::Suspicious
            } else {
                Verdict::Scam
            },
            score: 0.9,
            signals: vec![Signal {
                name: format!("signal_{}", n % 4),
                weight: if n.is_multiple_of(5) { 0.0 } else { 1.0 },
                evidence: String::new(),
            }],
            indicators: vec![Indicator {
                kind: IndicatorKind::WechatId,
                value: format!("id{}", n % 7),
            }],
            note: None,
        }
    }

    #[test]
    fn the_dashboard_counted_in_pages_is_the_month_counted_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let today = report::parse_day("2026-11-30").unwrap();
        // 40 days back to today, one to three reports a day: ten days fall outside the month.
        let mut n = 0;
        for days_ago in (0..40u64).rev() {
            for k in 0..(1 + days_ago % 3) {
                n += 1;
                let t = today - days_ago * 86_400 + 60 * k;
                store.append_report(&n.to_string(), report(t, n)).unwrap();
            }
        }
        let now = today + 3_600;
        let all = store.reports(0, 0, usize::MAX).unwrap();
        let from =
            |t: u64| -> Vec<Report> { all.iter().filter(|r| r.time >= t).cloned().collect() };
        for page in [1, 3, 1000] {
            let d = Dashboard::count(&store, now, page).unwrap();
            assert_eq!(d.today, report::stats(&from(today), 10), "page {page}");
            assert_eq!(d.week, report::stats(&from(today - 6 * 86_400), 10));
            assert_eq!(d.month, report::stats(&from(today - 29 * 86_400), 10));
            assert!(d.month.total < all.len(), "older reports are left out");
            let newest: Vec<u64> = all.iter().rev().take(20).map(|r| r.id).collect();
            let latest: Vec<u64> = d.latest.iter().map(|r| r.report.id).collect();
            assert_eq!(latest, newest, "page {page}");
        }
    }

    #[test]
    fn connections_fit_the_open_file_limit() {
        let wanted = ServerLimits {
            max_connections: 4096,
            ..ServerLimits::default()
        };
        assert_eq!(wanted.within_open_files(1_048_576), wanted);
        assert_eq!(
            wanted.within_open_files(1024).max_connections,
            1024 - RESERVED_FDS as usize
        );
        // Never none: a process with almost no descriptors still serves one at a time.
        assert_eq!(wanted.within_open_files(10).max_connections, 1);
    }
}
