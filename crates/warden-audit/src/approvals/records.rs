//! The approval records every channel writes the same way: `approval_requested` (by the
//! process that holds the call, before any channel is contacted), `approval_decided` (by
//! whoever decided: the CLI, the admin API, an elicitation, or warden when it expired), and
//! `approval_forwarded` (the call let through, linking request and decision). Each names the
//! approval id, so `warden audit` and the reports can put the three together.

use std::sync::Arc;

use crate::record::{AuditEvent, SessionContext};

use super::Approval;

/// The context a record about `a` is written in: the approval's session and server, and
/// `actor` as the principal (the requester, or the decider).
fn context(a: &Approval, actor: Option<&str>) -> Arc<SessionContext> {
    Arc::new(SessionContext {
        server_name: Some(a.server.clone()),
        principal: actor.map(str::to_owned),
        agent: a.agent.clone(),
        ..SessionContext::default()
    })
}

fn base(a: &Approval, actor: Option<&str>, name: &'static str) -> AuditEvent {
    let mut ev = AuditEvent::gateway(a.session.as_str().into(), context(a, actor), name);
    ev.method = Some(a.method.clone());
    ev.target = a.tool.clone();
    ev
}

/// How long `a` waited for its decision, in milliseconds.
pub fn waited_ms(a: &Approval) -> Option<u64> {
    a.decided_us
        .map(|d| u64::try_from(d.saturating_sub(a.requested_us) / 1000).unwrap_or(0))
}

/// `approval_requested`: what is asked, by whom, under which rule, until when.
pub fn requested(a: &Approval, channels: &[&str], exchange: Option<uuid::Uuid>) -> AuditEvent {
    let mut ev = base(a, a.principal.as_deref(), "approval_requested");
    ev.exchange = exchange;
    ev.detail = Some(serde_json::json!({
        "approval": {
            "id": a.id,
            "action_hash": a.action_hash,
            "status": a.status,
            "principal": a.principal,
            "agent": a.agent,
            "session": a.session,
            "rule": a.rule,
            "policy": a.policy,
            "approvers": a.approvers,
            "grant": a.grant,
            "self_approval": a.self_approval,
            "requested_us": a.requested_us,
            "expires_us": a.expires_us,
            "channels": channels,
        }
    }));
    ev
}

/// `approval_decided`: approved, denied, expired or cancelled, by whom, how, why, when.
pub fn decided(a: &Approval) -> AuditEvent {
    let mut ev = base(a, a.decided_by.as_deref(), "approval_decided");
    ev.detail = Some(serde_json::json!({
        "approval": {
            "id": a.id,
            "action_hash": a.action_hash,
            "status": a.status,
            "by": a.decided_by,
            "roles": a.decided_roles,
            "channel": a.channel,
            "reason": a.reason,
            "requested_us": a.requested_us,
            "decided_us": a.decided_us,
            "waited_ms": waited_ms(a),
            "rule": a.rule,
            "requested_by": a.principal,
        }
    }));
    ev
}

/// `approval_forwarded`: the call let through under `a` (its action hash checked again),
/// in the exchange it opened.
pub fn forwarded(
    a: &Approval,
    session: &str,
    exchange: Option<uuid::Uuid>,
    rpc_id: Option<String>,
) -> AuditEvent {
    let mut ev = base(a, a.principal.as_deref(), "approval_forwarded");
    ev.session = session.into();
    ev.exchange = exchange;
    ev.rpc_id = rpc_id;
    ev.detail = Some(serde_json::json!({
        "approval": {
            "id": a.id,
            "action_hash": a.action_hash,
            "status": a.status,
            "decided_by": a.decided_by,
            "channel": a.channel,
            "grant": a.grant,
            "uses": a.uses,
            "decided_us": a.decided_us,
        },
        "action_hash_checked": true,
    }));
    ev
}
