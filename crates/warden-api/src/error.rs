//! Errors as the API answers them: `{"error": {"code", "message"}}` with a fitting status,
//! never the store's path or SQLite's words (those go to the log, without any payload).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An answer that is not a success.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "a bearer token is required (Authorization: Bearer TOKEN)".into(),
        }
    }

    /// A failure inside warden: logged here, answered without detail.
    pub fn internal(what: &str, err: &dyn std::fmt::Display) -> ApiError {
        tracing::error!("admin API: {what}: {err}");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: format!("{what} failed; the server log has the detail"),
        }
    }
}

impl From<warden_audit::StoreError> for ApiError {
    fn from(e: warden_audit::StoreError) -> ApiError {
        match e {
            warden_audit::StoreError::Missing(_) => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "no_store",
                message: "the audit store does not exist yet".into(),
            },
            e => ApiError::internal("reading the audit store", &e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        let mut r = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}
