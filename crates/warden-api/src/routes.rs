//! The API's routes and handlers. Each handler checks its parameters, reads the store on
//! the blocking pool, and answers JSON (errors in the shape of `error::ApiError`).

use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use warden_audit::export::verify_store;
use warden_audit::now_us;
use warden_audit::query::{LogHead, Order, SessionSummary, Stats};

use crate::params::{Filters, parse_age, parse_time};
use crate::views::{RecordDetail, RecordView, time};
use crate::{ApiError, ApiState, approvals, assets, auth, catalog, stream, tlog};

pub(crate) fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/records", get(records))
        .route("/records/{id}", get(record))
        .route("/sessions", get(sessions))
        .route("/sessions/{id}", get(session))
        .route("/stats", get(stats))
        .route("/verify", get(verify))
        .route("/logs/{log_id}/checkpoint", get(tlog::checkpoint))
        .route("/logs/{log_id}/tile/{*tile}", get(tlog::tile))
        .route("/approvals", get(approvals::list))
        .route("/approvals/{id}", get(approvals::show))
        .route("/approvals/{id}/approve", post(approvals::approve))
        .route("/approvals/{id}/deny", post(approvals::deny))
        .route("/catalog", get(catalog::list))
        .route("/catalog/approve-cosmetic", post(catalog::approve_cosmetic))
        .route("/catalog/{server}/{tool}", get(catalog::show))
        .route("/catalog/{server}/{tool}/approve", post(catalog::approve))
        .route("/catalog/{server}/{tool}/reject", post(catalog::reject))
        .route("/catalog/{server}/{tool}/review", post(catalog::review))
        .route("/stream", get(stream::stream))
        .route("/openapi.json", get(assets::openapi))
        .fallback(|| async { ApiError::not_found("no such API route") })
        .method_not_allowed_fallback(|| async {
            ApiError {
                status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
                code: "method_not_allowed",
                message: "this route does not answer this method: only approvals and catalog \
                          entries are decided (POST), everything else is read (GET)"
                    .into(),
            }
        })
        .layer(from_fn_with_state(state.clone(), auth::require_token))
        .with_state(state.clone());
    // The Host check wraps everything, the fallback (404) included.
    Router::new()
        .nest("/api/v1", api)
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .layer(from_fn_with_state(state, auth::check_host))
}

/// Turns a query-string rejection into our error shape.
pub(crate) fn filters(q: Result<Query<Filters>, QueryRejection>) -> Result<Filters, ApiError> {
    q.map(|Query(f)| f)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

#[derive(Serialize)]
struct RecordsPage {
    records: Vec<RecordView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

async fn records(
    State(state): State<ApiState>,
    q: Result<Query<Filters>, QueryRejection>,
) -> Result<Response, ApiError> {
    let f = filters(q)?;
    if f.after.is_some() {
        return Err(ApiError::bad_request(
            "after is for /stream; page with cursor",
        ));
    }
    let query = f.query(now_us())?;
    let (order, cursor, limit) = (f.order()?, f.cursor()?, f.limit(50)?);
    let page = state
        .read(move |s| Ok(s.page(&query, order, cursor, limit)?))
        .await?;
    Ok(Json(RecordsPage {
        next_cursor: page.next.map(|c| c.encode()),
        records: page.rows.into_iter().map(RecordView::new).collect(),
    })
    .into_response())
}

/// The `{id}` of a path, or our error shape (not axum's text) when it is not UTF-8.
fn path_id(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(id)| id)
        .map_err(|_| ApiError::bad_request("the id in the path is not valid UTF-8 text"))
}

async fn record(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<RecordDetail>, ApiError> {
    let id = path_id(id)?;
    if id.len() > 64 {
        return Err(ApiError::bad_request("a record id is a UUID"));
    }
    let row = state
        .read(move |s| {
            Ok(match s.record(&id)? {
                Some(r) => {
                    let payload = s.payload(&r.leaf)?;
                    Some((r, payload))
                }
                None => None,
            })
        })
        .await?;
    row.map(|(r, payload)| Json(RecordDetail::new(r, payload)))
        .ok_or_else(|| ApiError::not_found("no record with this id"))
}

#[derive(Serialize)]
struct SessionsPage {
    sessions: Vec<SessionView>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct SessionView {
    #[serde(flatten)]
    summary: SessionSummary,
    started: String,
    last: String,
}

impl SessionView {
    fn new(summary: SessionSummary) -> SessionView {
        SessionView {
            started: time(summary.started_us),
            last: time(summary.last_us),
            summary,
        }
    }
}

async fn sessions(
    State(state): State<ApiState>,
    q: Result<Query<Filters>, QueryRejection>,
) -> Result<Json<SessionsPage>, ApiError> {
    let f = filters(q)?;
    let query = f.query(now_us())?;
    let (cursor, limit) = (f.cursor()?, f.limit(50)?);
    let (list, next) = state
        .read(move |s| Ok(s.sessions(&query, cursor, limit)?))
        .await?;
    Ok(Json(SessionsPage {
        sessions: list.into_iter().map(SessionView::new).collect(),
        next_cursor: next.map(|c| c.encode()),
    }))
}

#[derive(Serialize)]
struct SessionPage {
    session: SessionView,
    /// The session's records in order (oldest first), one page.
    records: Vec<RecordView>,
    next_cursor: Option<String>,
}

async fn session(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<Filters>, QueryRejection>,
) -> Result<Json<SessionPage>, ApiError> {
    let id = path_id(id)?;
    let f = filters(q)?;
    let mut query = f.query(now_us())?;
    query.session = Some(id.clone());
    let order = match f.order.as_deref() {
        None => Order::OldestFirst,
        Some(_) => f.order()?,
    };
    let (cursor, limit) = (f.cursor()?, f.limit(200)?);
    let (summary, page) = state
        .read(move |s| {
            let Some(summary) = s.session_summary(&id)? else {
                return Err(ApiError::not_found("no session with this id"));
            };
            Ok((summary, s.page(&query, order, cursor, limit)?))
        })
        .await?;
    Ok(Json(SessionPage {
        session: SessionView::new(summary),
        records: page.rows.into_iter().map(RecordView::new).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsParams {
    /// An age: `15m`, `24h`, `7d` (default 24h).
    window: Option<String>,
    server: Option<String>,
    /// The window's end (default now).
    until: Option<String>,
}

#[derive(Serialize)]
struct StatsView {
    window: String,
    since: String,
    until: String,
    #[serde(flatten)]
    stats: Stats,
}

async fn stats(
    State(state): State<ApiState>,
    q: Result<Query<StatsParams>, QueryRejection>,
) -> Result<Json<StatsView>, ApiError> {
    let Query(p) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let window = p.window.unwrap_or_else(|| "24h".into());
    let age = parse_age(&window).filter(|a| *a > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "window {window:?} is not an age like 15m, 24h or 7d"
        ))
    })?;
    let now = now_us();
    let until = p
        .until
        .filter(|u| !u.is_empty())
        .map(|u| parse_time(&u, now))
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("until: {e}")))?
        .unwrap_or(now + 1);
    let server = p.server.filter(|s| !s.is_empty());
    let stats = state
        .read(move |s| Ok(s.stats(until - age, until, server.as_deref())?))
        .await?;
    Ok(Json(StatsView {
        window,
        since: time(stats.since_us),
        until: time(stats.until_us),
        stats,
    }))
}

/// The last full verification, and what the store looked like when it ran.
pub(crate) struct VerifyCache {
    heads: Vec<(String, u64)>,
    at: Instant,
    at_us: i64,
    body: serde_json::Value,
}

/// A full check re-hashes every record; it runs again when the store has grown and the last
/// one is older than this…
const VERIFY_EVERY: Duration = Duration::from_secs(15);
/// …and, grown or not, when the last one is older than this: an edit in place (a leaf or a
/// query column changed, nothing added) is seen within this long.
const VERIFY_AT_LEAST_EVERY: Duration = Duration::from_secs(60);

/// Whether the cached verdict must be checked again: the store grew and it is older than
/// [`VERIFY_EVERY`], or it is older than [`VERIFY_AT_LEAST_EVERY`], or there is none.
fn verify_again(cached: Option<(bool, Duration)>) -> bool {
    match cached {
        None => true,
        Some((same_heads, age)) => {
            age >= VERIFY_AT_LEAST_EVERY || (!same_heads && age >= VERIFY_EVERY)
        }
    }
}

fn heads_key(heads: &[LogHead]) -> Vec<(String, u64)> {
    heads
        .iter()
        .map(|h| (h.log_id.clone(), h.records))
        .collect()
}

async fn verify(State(state): State<ApiState>) -> Result<Json<serde_json::Value>, ApiError> {
    let heads = state.read(|s| Ok(s.log_heads()?)).await?;
    let key = heads_key(&heads);
    let mut cache = state.inner_verify().lock().await;
    if verify_again(cache.as_ref().map(|c| (c.heads == key, c.at.elapsed()))) {
        let trusted = state.trusted().map(<[String]>::to_vec);
        let (verdict, heads) = state
            .read(move |s| {
                let v = verify_store(s, trusted.as_deref())?;
                Ok((v, s.log_heads()?))
            })
            .await?;
        let at_us = now_us();
        let body = match verdict {
            Ok(reports) => {
                let logs: Vec<_> = heads
                    .iter()
                    .map(|h| {
                        let r = reports.iter().find(|r| r.log_id == h.log_id);
                        json!({
                            "log_id": h.log_id, "origin": h.origin, "instance": h.instance,
                            "created": time(h.created_us), "records": r.map_or(h.records, |r| r.records),
                            "status": "ok",
                            "checkpoints": r.map(|r| r.checkpoints),
                            "last_checkpoint_size": h.last_checkpoint_size,
                            "last_checkpoint": h.last_checkpoint_us.map(time),
                            "unsigned_tail": r.map(|r| r.unsigned_tail),
                            "closed": r.map(|r| r.closed),
                            "key_fingerprint": h.key_fingerprint,
                        })
                    })
                    .collect();
                json!({ "ok": true, "status": "ok", "logs": logs, "problem": null })
            }
            Err(p) => {
                let logs: Vec<_> = heads
                    .iter()
                    .map(|h| {
                        json!({
                            "log_id": h.log_id, "origin": h.origin, "instance": h.instance,
                            "created": time(h.created_us), "records": h.records,
                            "status": if h.log_id == p.log_id { "tampered" } else { "unchecked" },
                            "last_checkpoint_size": h.last_checkpoint_size,
                            "last_checkpoint": h.last_checkpoint_us.map(time),
                            "key_fingerprint": h.key_fingerprint,
                        })
                    })
                    .collect();
                json!({ "ok": false, "status": "tampered", "logs": logs, "problem": {
                    "log_id": p.log_id, "kind": p.kind.as_str(), "seq": p.seq,
                    "record_id": p.record_id, "column": p.column, "detail": p.detail,
                } })
            }
        };
        *cache = Some(VerifyCache {
            heads: heads_key(&heads),
            at: Instant::now(),
            at_us,
            body,
        });
    }
    let Some(c) = cache.as_ref() else {
        return Err(ApiError::internal("verification", &"no result"));
    };
    let mut body = c.body.clone();
    body["checked_at"] = json!(time(c.at_us));
    body["trusted_keys"] = json!(state.trusted().is_some());
    // Records written since the check are not covered by its verdict yet.
    body["stale"] = json!(c.heads != key);
    Ok(Json(body))
}

impl ApiState {
    pub(crate) fn inner_verify(&self) -> &tokio::sync::Mutex<Option<VerifyCache>> {
        &self.inner.verify
    }
    pub(crate) fn trusted(&self) -> Option<&[String]> {
        self.inner.trusted.as_deref()
    }
}

#[cfg(test)]
mod verify_cache_tests {
    use super::*;

    #[test]
    fn a_verdict_is_checked_again_when_the_store_grew_or_it_is_old() {
        let s = Duration::from_secs;
        assert!(verify_again(None));
        assert!(!verify_again(Some((true, s(0)))));
        assert!(
            !verify_again(Some((false, s(5)))),
            "grown, but checked 5 s ago"
        );
        assert!(verify_again(Some((false, s(15)))));
        // Nothing added: an edit in place is still looked for, once a minute.
        assert!(!verify_again(Some((true, s(59)))));
        assert!(verify_again(Some((true, s(60)))));
    }
}
