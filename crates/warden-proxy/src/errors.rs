//! JSON-RPC errors that warden itself answers with. Codes are a contract, listed in
//! docs/error-codes.md; `data.gateway` marks warden, not the server, as their origin.

use serde_json::value::RawValue;
use warden_policy::{Action, Decision};

/// The audit store is failing and `on_store_error` is `fail_closed`.
pub const AUDIT_STORE_UNAVAILABLE: i64 = -32010;
/// A policy rule (or the policy's default) denies the call.
pub const POLICY_DENIED: i64 = -32011;
/// A policy rule requires a human's approval, and the call was held (not forwarded).
pub const APPROVAL_REQUIRED: i64 = -32012;
/// A rate limit of a policy rule is reached.
pub const RATE_LIMITED: i64 = -32013;
/// The arguments hold a secret that a `block_on_detect` rule refuses.
pub const SECRET_DETECTED: i64 = -32014;
/// A budget of a policy rule is spent for the current window.
pub const BUDGET_EXCEEDED: i64 = -32015;
/// The approval a held call waited for was denied (or cancelled).
pub const APPROVAL_DENIED: i64 = -32016;
/// The approval a held call waited for expired before anyone decided.
pub const APPROVAL_EXPIRED: i64 = -32017;

/// The tool catalog does not approve the called tool (new, changed since approved, or rejected).
pub const TOOL_NOT_APPROVED: i64 = -32018;

/// The answer to a call of a tool the catalog blocks, and its reason.
pub fn tool_blocked(
    id: Option<&RawValue>,
    server: &str,
    b: &crate::catalog::Blocked,
) -> (Vec<u8>, &'static str) {
    use warden_audit::catalog::State;
    let overdue;
    let (reason, why) = match b.state {
        State::Approved if b.review_due.is_some() => {
            overdue = format!(
                "its periodic review was due on {} and has not been recorded, so it is held until someone reviews it",
                b.review_due.map(|d| d.to_string()).unwrap_or_default()
            );
            ("review_overdue", overdue.as_str())
        }
        State::Changed => (
            "tool_quarantined",
            "its definition changed since it was approved, so it is quarantined until someone reviews the change",
        ),
        State::New => (
            "tool_quarantined",
            "it is new (or looks like a renamed tool) and has not been reviewed yet",
        ),
        State::Rejected | State::Approved => {
            ("tool_rejected", "it was rejected in the tool catalog")
        }
    };
    let tool = &b.tool;
    let look = if b.review_due.is_some() {
        "review"
    } else {
        "diff"
    };
    let message = format!(
        "warden: {server}:{tool} was not called: {why}. Do not retry it; use another tool or ask an operator (warden catalog {look} {server} {tool})."
    );
    let reply = line(
        id,
        TOOL_NOT_APPROVED,
        &message,
        serde_json::json!({
            "gateway": "warden", "reason": reason, "tool": tool, "state": b.state,
            "review_due": b.review_due.map(|d| d.to_string()),
        }),
    );
    (reply, reason)
}

/// The `_meta` key under which warden describes the approval in a pending tool result.
pub const APPROVAL_META_KEY: &str = "dev.warden/approval";

/// A held call not decided within its hold: a tool result (`isError: true`) the model can act
/// on, with the approval in `_meta`. Calling the same tool with the same arguments again
/// attaches to the same approval.
pub fn approval_pending(
    id: Option<&RawValue>,
    a: &warden_audit::approvals::Approval,
    dashboard: Option<&str>,
) -> Vec<u8> {
    let who = if a.approvers.is_empty() {
        "an operator".to_owned()
    } else {
        a.approvers.join(", ")
    };
    let rule = a.rule.as_deref().unwrap_or("the policy");
    let tool = a.tool.as_deref().unwrap_or(&a.method);
    let secs = (a.expires_us - warden_audit::now_us()).max(0) / 1_000_000;
    let text = format!(
        "warden: approval `{}` is pending with {who} (policy rule '{rule}'): {tool} was not run. \
         Call it again with the same arguments once it is approved; the approval expires in {secs} s.",
        a.id
    );
    let link = dashboard.map(|d| format!("{}/#approvals/{}", d.trim_end_matches('/'), a.id));
    let result = serde_json::json!({
        "content": [{ "type": "text", "text": text }],
        "isError": true,
        "_meta": { APPROVAL_META_KEY: {
            "id": a.id,
            "status": "pending",
            "approvers": a.approvers,
            "rule": a.rule,
            "expires_us": a.expires_us,
            "dashboard": link,
        }},
    });
    let id = id.map_or("null", RawValue::get);
    format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{result}}}\n").into_bytes()
}

/// A call over a budget: `used` of `limit` units spent in the window that resets at `resets_at_ms`.
pub fn budget_exceeded(
    id: Option<&RawValue>,
    rule: &str,
    limit: u64,
    used: u64,
    resets_at_ms: u64,
) -> Vec<u8> {
    line(
        id,
        BUDGET_EXCEEDED,
        &format!(
            "warden: the budget of policy rule '{rule}' is spent ({used} of {limit} units); it resets at {resets_at_ms} (Unix ms)"
        ),
        serde_json::json!({
            "gateway": "warden",
            "reason": "budget_exceeded",
            "rule": rule,
            "limit": limit,
            "used": used,
            "resets_at_ms": resets_at_ms,
        }),
    )
}

/// One error line answering request `id` (the id goes back exactly as the client sent it).
fn line(id: Option<&RawValue>, code: i64, message: &str, data: serde_json::Value) -> Vec<u8> {
    let error = serde_json::json!({ "code": code, "message": message, "data": data });
    let id = id.map_or("null", RawValue::get);
    format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{error}}}\n").into_bytes()
}

/// The error answering request `id` when the store cannot record it.
pub fn store_unavailable(id: Option<&RawValue>, reason: &str) -> Vec<u8> {
    line(
        id,
        AUDIT_STORE_UNAVAILABLE,
        "warden: the audit store is unavailable, so this request was not forwarded (on_store_error: fail_closed)",
        serde_json::json!({ "gateway": "warden", "reason": "audit_store_unavailable", "detail": reason }),
    )
}

/// A refusal by policy: the error line, its reason and its code.
pub fn policy(id: Option<&RawValue>, d: &Decision, target: &str) -> (Vec<u8>, &'static str, i64) {
    let rule = d.rule.as_deref();
    let said = d
        .message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let (code, reason, message) = match (d.action, rule) {
        (Action::Approve, Some(r)) => (
            APPROVAL_REQUIRED,
            "approval_required",
            format!(
                "warden: {target} needs approval under policy rule '{r}'{said}; approval required, so the call was not forwarded"
            ),
        ),
        (_, Some(r)) => (
            POLICY_DENIED,
            "policy_denied",
            format!("warden: {target} denied by policy rule '{r}'{said}"),
        ),
        (_, None) => (
            POLICY_DENIED,
            "policy_denied",
            format!(
                "warden: {target} denied: no policy rule allows it and the policy's default is deny"
            ),
        ),
    };
    let data = serde_json::json!({
        "gateway": "warden",
        "reason": reason,
        "rule": rule,
        "message": d.message,
        "policy": d.policy,
    });
    (line(id, code, &message, data), reason, code)
}

/// A request that was fine but shared a batch frame with a denied one (frames are forwarded
/// whole or not at all).
pub fn batch_denied(id: Option<&RawValue>) -> Vec<u8> {
    line(
        id,
        POLICY_DENIED,
        "warden: not forwarded because another request in the same batch was denied by policy",
        serde_json::json!({ "gateway": "warden", "reason": "batch_denied" }),
    )
}

/// A call over a rate limit: `limit` calls per `window_ms` under `rule`; room again after
/// `retry_after_ms`.
pub fn rate_limited(
    id: Option<&RawValue>,
    rule: &str,
    limit: u32,
    window_ms: u64,
    retry_after_ms: u64,
) -> Vec<u8> {
    let secs = retry_after_ms.div_ceil(1000);
    line(
        id,
        RATE_LIMITED,
        &format!(
            "warden: rate limit of policy rule '{rule}' reached ({limit} calls per {window_ms} ms); retry in {secs} s"
        ),
        serde_json::json!({
            "gateway": "warden",
            "reason": "rate_limited",
            "rule": rule,
            "limit": limit,
            "window_ms": window_ms,
            "retry_after_ms": retry_after_ms,
        }),
    )
}

/// A call whose arguments hold what `rules` detect as secrets (named, never shown).
pub fn secret_detected(id: Option<&RawValue>, rules: &[String]) -> Vec<u8> {
    line(
        id,
        SECRET_DETECTED,
        &format!(
            "warden: the arguments hold what looks like a secret ({}), so the call was not forwarded; remove it and retry",
            rules.join(", ")
        ),
        serde_json::json!({ "gateway": "warden", "reason": "secret_detected", "rules": rules }),
    )
}

/// A client frame warden answers itself instead of forwarding (see `crate::admit`): one it
/// cannot read exactly as every reader would (`warden_core::strict`: -32700, -32600 or -32602),
/// or a request reusing an id still in flight (-32600).
pub fn refused(id: Option<&RawValue>, r: &crate::admit::Refusal) -> Vec<u8> {
    line(
        id,
        r.code,
        &format!("warden: refused, not forwarded: {}", r.message),
        serde_json::json!({ "gateway": "warden", "reason": r.reason }),
    )
}

/// warden's answer to a held call that was not released to the server (denied, expired, the
/// workflow gone): `reason` names why, `approval` the approval it waited for.
pub fn held_refused(
    id: Option<&RawValue>,
    code: i64,
    reason: &str,
    message: &str,
    approval: &str,
) -> Vec<u8> {
    line(
        id,
        code,
        message,
        serde_json::json!({ "gateway": "warden", "reason": reason, "approval": { "id": approval } }),
    )
}
