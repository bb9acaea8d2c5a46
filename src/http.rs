//! The HTTP frontend for support desks (axum): tickets, conversations, reports, health, metrics,
//! the OpenAPI document and the team's reports page. A thin adapter: every answer comes from the
//! shared [`Session`]; this module only translates HTTP to it and back.
//!
//! Errors always have the shape `{"error": {"code", "message"}}`; codes are stable.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
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

use crate::reply::Reply;
use crate::report::{self, Report};
use crate::scam::ScamResult;
use crate::session::{now, off_thread, Session, SessionError};
use crate::store::StoreError;
use crate::Lang;

/// Largest request body accepted (the text limit itself is the engine's, 64 KiB).
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// A request that takes longer is answered with `timeout`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Most reports one `GET /v1/reports` returns.
pub const MAX_PAGE: usize = 1000;

const OPENAPI: &str = include_str!("web/openapi.json");
const REPORTS_PAGE: &str = include_str!("web/reports.html");

/// What the routes share.
pub struct Api {
    session: Arc<Session>,
    /// SHA-256 of the bearer token, compared in constant time.
    token: [u8; 32],
}

impl Api {
    /// `token` must be non-empty: every route but /healthz and /metrics requires it.
    pub fn new(session: Arc<Session>, token: &str) -> Result<Api, String> {
        if token.trim().is_empty() {
            return Err("SAFEPATH_API_TOKEN is empty; set it to a long random string".into());
        }
        Ok(Api {
            session,
            token: Sha256::digest(token.as_bytes()).into(),
        })
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
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
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
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
            SessionError::RateLimited(_) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", msg)
            }
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
    if let Some(reply) = api.session.ticket_without_store(&t.id, &t.text, t.lang) {
        return Ok(out(t.id, reply?));
    }
    blocking(move || {
        let reply = api.session.ticket(&t.id, &t.text, t.lang)?;
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
    blocking(move || Ok(Json(api.session.turn("api", &m.user, &m.text, false)?))).await
}

async fn forget_user(State(api): Shared, Path(user): Path<String>) -> Result<StatusCode, ApiError> {
    blocking(move || {
        api.session.forget("api", &user)?;
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
        let s = &api.session;
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
    reports: Vec<Report>,
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
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    blocking(move || {
        let reports = api
            .session
            .store()
            .reports(q.after.unwrap_or(0), since, limit)?;
        let next = (reports.len() == limit)
            .then(|| reports.last().map(|r| r.id))
            .flatten();
        Ok(Json(ReportsOut { reports, next }))
    })
    .await
}

/// What the reports page shows: counts for today and the last 7 days, reports per day for 30
/// days, the most named contacts and the latest reports.
#[derive(Serialize)]
struct Dashboard {
    today: report::Stats,
    week: report::Stats,
    month: report::Stats,
    latest: Vec<Report>,
}

async fn dashboard(State(api): Shared) -> Result<Json<Dashboard>, ApiError> {
    blocking(move || {
        let now = now();
        let today_start = report::parse_day(&report::day(now)).unwrap_or(0);
        let month =
            api.session
                .store()
                .reports(0, today_start.saturating_sub(29 * 86_400), usize::MAX)?;
        let from = |t: u64| {
            let i = month.partition_point(|r| r.time < t);
            &month[i..]
        };
        let latest: Vec<Report> = month.iter().rev().take(20).cloned().collect();
        Ok(Json(Dashboard {
            today: report::stats(from(today_start), 10),
            week: report::stats(from(today_start.saturating_sub(6 * 86_400)), 10),
            month: report::stats(&month, 10),
            latest,
        }))
    })
    .await
}

async fn healthz(State(api): Shared) -> Response {
    match blocking(move || Ok(api.session.store().health()?)).await {
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
        api.session.metrics().render(),
    )
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn page() -> Html<&'static str> {
    Html(REPORTS_PAGE)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
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
    api.session
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
        .route("/v1/dashboard", get(dashboard))
        .route_layer(middleware::from_fn_with_state(api.clone(), require_token));
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi))
        .merge(protected)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(api.clone(), observe))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api)
}

/// Serves until `shutdown` resolves (Ctrl-C / SIGTERM in the binary).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?addr, "serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
