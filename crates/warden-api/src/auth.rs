//! Who may ask the admin plane: every route (dashboard, API, live tail) first checks `Host`
//! and `Origin` against DNS rebinding (403), then the API wants the bearer token when one is
//! configured (401), compared in constant time, the scheme in any case.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use warden_core::token::bearer_matches;

use crate::{ApiError, ApiState};

/// Answers 401 to API requests without the configured token (or with two `Authorization`
/// headers: which one counts is not left to chance).
pub async fn require_token(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    if let Some(token) = state.token() {
        let mut given = req.headers().get_all(header::AUTHORIZATION).iter();
        let header = match (given.next(), given.next()) {
            (Some(one), None) => Some(one.as_bytes()),
            _ => None,
        };
        if !bearer_matches(header, token) {
            let mut r = ApiError::unauthorized().into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    next.run(req).await
}

/// Answers 403 to any request whose `Host` or `Origin` is not this listener's (a page on
/// another site reaching it through DNS rebinding).
pub async fn check_host(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let (hosts, origins) = host_values(&req);
    if let Err(refused) = state.hosts().check(&hosts, &origins) {
        return ApiError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: refused.message().into(),
        }
        .into_response();
    }
    next.run(req).await
}

/// A request's `Host` values (its HTTP/2 `:authority` when it has none) and `Origin` values.
pub fn host_values(req: &Request) -> (Vec<&[u8]>, Vec<&[u8]>) {
    let mut hosts: Vec<&[u8]> = req
        .headers()
        .get_all(header::HOST)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    if hosts.is_empty()
        && let Some(a) = req.uri().authority()
    {
        hosts.push(a.as_str().as_bytes());
    }
    let origins = req
        .headers()
        .get_all(header::ORIGIN)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    (hosts, origins)
}
