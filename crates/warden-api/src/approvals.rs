//! The approvals routes: the queue (pending first, soonest to expire first, then the most
//! recently decided), one approval, and the two decisions. A decision goes through
//! `ApprovalStore::decide` (the first one wins; none after expiry; approvers and
//! self-approval checked) as the approver its credential names (`approvers`), and is then
//! recorded in the audit log as `approval_decided`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use warden_audit::approvals::{Approval, ApprovalFilter, Decider, Status, records};
use warden_audit::now_us;

use crate::approvers::{read_only, refused};
use crate::views::time;
use crate::{ApiError, ApiState};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// `pending`, `approved`, `denied`, `expired` or `cancelled`.
    status: Option<String>,
    session: Option<String>,
    principal: Option<String>,
    /// 1 to 1000 (default 200).
    limit: Option<u32>,
}

/// An approval as the API shows it: as stored, plus its times in RFC 3339 and how long it
/// has left or waited.
#[derive(Serialize)]
pub struct ApprovalView {
    #[serde(flatten)]
    approval: Approval,
    requested: String,
    expires: String,
    decided: Option<String>,
    /// Pending: milliseconds until it expires (0 once past). Otherwise absent.
    expires_in_ms: Option<i64>,
    /// Decided: how long it waited for its decision.
    waited_ms: Option<u64>,
}

impl ApprovalView {
    pub fn new(approval: Approval, now_us: i64) -> ApprovalView {
        ApprovalView {
            requested: time(approval.requested_us),
            expires: time(approval.expires_us),
            decided: approval.decided_us.map(time),
            expires_in_ms: (approval.status == Status::Pending)
                .then(|| (approval.expires_us - now_us).max(0) / 1000),
            waited_ms: records::waited_ms(&approval),
            approval,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct ApprovalsPage {
    approvals: Vec<ApprovalView>,
    /// The server's clock, so a page counts time left without trusting its own.
    now_us: i64,
    /// Whether this admin plane decides approvals (`warden serve` with principals) or only
    /// shows them.
    can_decide: bool,
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ApprovalsPage>, ApiError> {
    let Query(p) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let status = match crate::decision::nonempty(p.status) {
        None => None,
        Some(s) => Some(Status::parse(&s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status {s:?} is not pending, approved, denied, expired or cancelled"
            ))
        })?),
    };
    let limit = p.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit runs from 1 to 1000"));
    }
    let filter = ApprovalFilter {
        status,
        session: crate::decision::nonempty(p.session),
        principal: crate::decision::nonempty(p.principal),
        limit: Some(limit),
    };
    let list = state
        .approvals(move |s| {
            s.list(&filter)
                .map_err(|e| ApiError::internal("listing approvals", &e))
        })
        .await?;
    let now = now_us();
    Ok(Json(ApprovalsPage {
        approvals: list
            .into_iter()
            .map(|a| ApprovalView::new(a, now))
            .collect(),
        now_us: now,
        can_decide: state.decisions().is_some_and(|d| d.principals.enabled()),
    }))
}

fn approval_id(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) =
        p.map_err(|_| ApiError::bad_request("the id in the path is not valid UTF-8 text"))?;
    if id.is_empty() || id.len() > 128 {
        return Err(ApiError::not_found(format!("no approval {id}")));
    }
    Ok(id)
}

pub(crate) async fn show(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<ApprovalView>, ApiError> {
    let id = approval_id(id)?;
    let a = state
        .approvals(move |s| {
            s.get(&id)
                .map_err(|e| ApiError::internal("reading an approval", &e))?
                .ok_or_else(|| ApiError::not_found(format!("no approval {id}")))
        })
        .await?;
    Ok(Json(ApprovalView::new(a, now_us())))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    /// Why; required to deny.
    reason: Option<String>,
    /// `api` (default) or `dashboard`: the channel the record names.
    via: Option<String>,
}

pub(crate) async fn approve(
    state: State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ApprovalView>, ApiError> {
    decide(state, id, headers, body, true).await
}

pub(crate) async fn deny(
    state: State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ApprovalView>, ApiError> {
    decide(state, id, headers, body, false).await
}

async fn decide(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
    approve: bool,
) -> Result<Json<ApprovalView>, ApiError> {
    let Some(decisions) = state.decisions().cloned() else {
        return Err(read_only());
    };
    let id = approval_id(id)?;
    let body: DecideBody = crate::decision::body(&body)?;
    let channel = crate::decision::channel(body.via.as_deref())?;
    let reason = crate::decision::reason(body.reason, approve, "denial")?;
    let who = decisions
        .approver(&headers, state.token().is_some())
        .await?;
    let decider = Decider {
        by: who.principal,
        roles: who.roles,
        channel: channel.to_owned(),
        check_approvers: true,
    };
    let decided = state
        .approvals(move |s| {
            s.decide(&id, approve, &decider, reason.as_deref(), now_us())
                .map_err(refused)
        })
        .await?;
    // The decision stands once stored (the held call acts on it); a record that cannot be
    // written is the writer's failure, which it reports and `/readyz` shows.
    if let Err(e) = decisions.record(&decided).await {
        tracing::error!(approval = %decided.id, "cannot record the approval decision: {e}");
    }
    Ok(Json(ApprovalView::new(decided, now_us())))
}
