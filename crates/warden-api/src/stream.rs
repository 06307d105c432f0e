//! The live tail: new records matching the filters, as server-sent events. The store is
//! polled by row id (which only grows) on a read-only connection; each event's id is the
//! row, so a client that reconnects with `Last-Event-ID` misses nothing.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use warden_audit::now_us;

use crate::params::Filters;
use crate::routes::filters;
use crate::views::RecordView;
use crate::{ApiError, ApiState};

/// How often the store is asked for new rows.
const POLL: Duration = Duration::from_millis(400);
/// Most rows sent per poll (a burst is sent over several polls).
const BURST: u32 = 500;

pub(crate) async fn stream(
    State(state): State<ApiState>,
    headers: HeaderMap,
    q: Result<Query<Filters>, QueryRejection>,
) -> Result<Response, ApiError> {
    let f = filters(q)?;
    if f.cursor.is_some() || f.order.is_some() {
        return Err(ApiError::bad_request(
            "the stream runs oldest first from `after`; cursor and order are for /records",
        ));
    }
    let query = f.query(now_us())?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| ApiError::bad_request("Last-Event-ID is not a row id"))
        })
        .transpose()?;
    let start = match resume.or(f.after) {
        Some(n) => n,
        None => state.read(|s| Ok(s.max_rowid()?)).await?,
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(64);
    let ready = Event::default()
        .event("ready")
        .id(start.to_string())
        .data(format!("{{\"after\":{start}}}"));
    let _sent = tx.send(ready).await;
    tokio::spawn(async move {
        let mut last = start;
        loop {
            let q = query.clone();
            let rows = state
                .read(move |s| Ok(s.tail_after(&q, last, BURST)?))
                .await;
            let rows = match rows {
                Ok(r) => r,
                Err(_) => {
                    let e = Event::default().event("error").data(
                        "{\"code\":\"internal\",\"message\":\"reading the audit store failed\"}",
                    );
                    let _sent = tx.send(e).await;
                    return;
                }
            };
            let full = rows.len() as u32 == BURST;
            for r in rows {
                last = r.rowid;
                let id = r.rowid.to_string();
                let data = serde_json::to_string(&RecordView::new(r)).unwrap_or_default();
                if tx
                    .send(Event::default().event("record").id(id).data(data))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            if tx.is_closed() {
                return;
            }
            if !full {
                tokio::time::sleep(POLL).await;
            }
        }
    });
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
