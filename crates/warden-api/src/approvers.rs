//! Who decides an approval through the admin plane: the caller's principal and roles come
//! from the gateway's own credentials (its API keys and JWTs, `warden_proxy`'s
//! `Authenticator`), never from the admin token, which only opens the admin plane. And where
//! the decision is recorded: the process's log, as its approvals desk records.
//!
//! The credential travels in `X-API-Key`; when the listener has no admin token, an
//! `Authorization: Bearer` credential is read too. Without [`Decisions`] (the standalone
//! `warden dashboard`) approvals can be read but not decided here.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use warden_audit::approvals::{Approval, DecideError, records};
use warden_proxy::approvals::Recorder;
use warden_proxy::http::auth::{AuthError, Authenticator};

use crate::ApiError;

/// What deciding approvals through the API needs.
#[derive(Clone)]
pub struct Decisions {
    /// The gateway's authenticator: a key's (or token's) principal and roles decide.
    pub principals: Arc<Authenticator>,
    /// Where each `approval_decided` record goes (queued: the writer never drops one).
    pub record: Recorder,
}

impl std::fmt::Debug for Decisions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decisions")
            .field("principals", &self.principals.enabled())
            .finish_non_exhaustive()
    }
}

/// An authenticated approver.
#[derive(Clone, Debug)]
pub struct Approver {
    pub principal: String,
    pub roles: Vec<String>,
}

impl Decisions {
    /// The approver a request names. `admin_token`: whether the listener has one (then
    /// `Authorization` carries it, and the approver's credential must be in `X-API-Key`).
    pub async fn approver(
        &self,
        headers: &HeaderMap,
        admin_token: bool,
    ) -> Result<Approver, ApiError> {
        if !self.principals.enabled() {
            return Err(ApiError {
                status: StatusCode::FORBIDDEN,
                code: "no_principals",
                message: "this gateway authenticates no principals (no auth.api_keys or auth.jwt \
                          in its config), so no approver can be identified here: decide with \
                          `warden approvals approve|deny ID`"
                    .into(),
            });
        }
        let mut only = HeaderMap::new();
        let mut keys = headers.get_all("x-api-key").iter();
        match (keys.next(), keys.next()) {
            (Some(k), None) => {
                only.insert("x-api-key", k.clone());
            }
            (Some(_), Some(_)) => return Err(no_credential("two X-API-Key headers")),
            (None, _) if !admin_token => {
                if let Some(a) = headers.get(header::AUTHORIZATION) {
                    only.insert(header::AUTHORIZATION, a.clone());
                }
            }
            (None, _) => {}
        }
        match self.principals.identify(&only).await {
            Ok(Some(id)) => Ok(Approver {
                principal: id.principal,
                roles: id.roles,
            }),
            Ok(None) | Err(AuthError::Missing) => Err(no_credential(
                "a decision needs the approver's own credential",
            )),
            Err(AuthError::Invalid(why)) => Err(no_credential(why.message())),
        }
    }

    /// Queues `a`'s `approval_decided` record (on the blocking pool: a full queue blocks).
    pub async fn record(&self, a: &Approval) -> Result<(), String> {
        let ev = records::decided(a);
        let record = self.record.clone();
        tokio::task::spawn_blocking(move || record(ev))
            .await
            .map_err(|e| e.to_string())
    }
}

fn no_credential(why: &str) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        message: format!(
            "{why}: send the approver's gateway API key (or JWT) in X-API-Key; the admin token \
             opens the admin plane but names no approver"
        ),
    }
}

/// A refused decision as the API answers it.
pub fn refused(e: DecideError) -> ApiError {
    let (status, code) = match &e {
        DecideError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        DecideError::AlreadyDecided { .. } => (StatusCode::CONFLICT, "already_decided"),
        DecideError::Expired(_) => (StatusCode::CONFLICT, "expired"),
        DecideError::NotAnApprover { .. } => (StatusCode::FORBIDDEN, "not_an_approver"),
        DecideError::SelfApproval { .. } => (StatusCode::FORBIDDEN, "self_approval"),
        DecideError::Store(s) => return ApiError::internal("deciding an approval", s),
    };
    ApiError {
        status,
        code,
        message: e.to_string(),
    }
}

/// The answer when this admin plane cannot decide (no [`Decisions`]).
pub fn read_only() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "read_only",
        message: "this admin plane (warden dashboard) only shows approvals: decide on warden \
                  serve's admin listener, or with `warden approvals approve|deny ID`"
            .into(),
    }
}
