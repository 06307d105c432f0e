//! The bearer token on API requests, compared in constant time.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::{ApiError, ApiState};

/// Whether `header` (the `Authorization` value) carries `token`.
pub fn bearer_matches(header: Option<&[u8]>, token: &str) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
        return false;
    };
    // Lengths differ only when the token is wrong; the bytes are compared in constant time.
    given.len() == token.len() && bool::from(given.ct_eq(token.as_bytes()))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_passes() {
        assert!(bearer_matches(Some(b"Bearer s3cret"), "s3cret"));
        for bad in [
            None,
            Some(&b"s3cret"[..]),
            Some(b"Bearer s3cre"),
            Some(b"Bearer s3cret2"),
            Some(b"bearer s3cret"),
            Some(b"Bearer "),
        ] {
            assert!(!bearer_matches(bad, "s3cret"), "{bad:?}");
        }
    }
}
