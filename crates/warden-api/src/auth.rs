//! The bearer token on API requests, compared in constant time.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use warden_core::token::bearer_matches;

use crate::{ApiError, ApiState};

/// Answers 401 to API requests without the configured token.
pub async fn require_token(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    if let Some(token) = state.token() {
        let header = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        if !bearer_matches(header, token) {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(req).await
}
