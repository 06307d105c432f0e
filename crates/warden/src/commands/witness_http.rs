//! The witness over HTTP (C2SP `tlog-witness`): `POST /add-checkpoint` answered by the
//! witness core with the spec's statuses and bodies, `GET /<sha256 of origin>/checkpoint`
//! for monitors; every request first passes the `Host`/`Origin` check the other listeners do
//! (403). Also the client side: posting a body to a witness (`Post`), for the submitter and
//! `audit verify --online`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use warden_audit::witness::core::{Answer, Witness};
use warden_audit::witness::request::MAX_BODY;
use warden_audit::witness::submit::Post;
use warden_core::host::HostRules;

pub(crate) fn routes(w: Arc<Witness>, hosts: HostRules) -> Router {
    let add = w.clone();
    let hosts = Arc::new(hosts);
    Router::new()
        .route(
            "/add-checkpoint",
            post(move |body: Bytes| add_checkpoint(add.clone(), body)),
        )
        .route(
            "/{origin_hash}/checkpoint",
            get(move |Path(h): Path<String>| checkpoint(w.clone(), h)),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let hosts = hosts.clone();
                async move {
                    match warden_observe::http::host_check(&hosts, &req) {
                        Ok(()) => next.run(req).await,
                        Err(r) => text(
                            StatusCode::FORBIDDEN,
                            "text/plain; charset=utf-8",
                            r.message().to_owned() + "\n",
                        ),
                    }
                }
            },
        ))
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

async fn add_checkpoint(w: Arc<Witness>, body: Bytes) -> Response {
    let answer = tokio::task::spawn_blocking(move || w.add_checkpoint(&body))
        .await
        .unwrap_or_else(|_| Answer {
            status: 500,
            content_type: "text/plain; charset=utf-8",
            body: "internal error\n".into(),
        });
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    text(status, answer.content_type, answer.body)
}

async fn checkpoint(w: Arc<Witness>, origin_hash: String) -> Response {
    let found = tokio::task::spawn_blocking(move || w.latest_by_hash(&origin_hash)).await;
    match found {
        Ok(Ok(Some(l))) => text(StatusCode::OK, "text/plain; charset=utf-8", l.note),
        Ok(Ok(None)) => text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "never cosigned\n".into(),
        ),
        _ => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            "internal error\n".into(),
        ),
    }
}

/// Posts request bodies to witnesses (blocking; run on a thread of its own).
pub(crate) fn client() -> anyhow::Result<Post> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    Ok(Box::new(move |url: &str, body: &[u8]| {
        let r = http
            .post(url)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body.to_vec())
            .send()
            .map_err(|e| format!("{url}: {e}"))?;
        let status = r.status().as_u16();
        let text = r.text().map_err(|e| format!("{url}: {e}"))?;
        Ok((status, text))
    }))
}
