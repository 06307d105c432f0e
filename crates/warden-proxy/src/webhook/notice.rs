//! What the webhook says: the JSON notice of one approval (with its one-line `text` for
//! Slack-style receivers) and the `v1` signature over it.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use warden_audit::approvals::Approval;

/// The notice's `type`.
pub const TYPE: &str = "warden.approval.requested";

/// The JSON body posted for `a`. Carries the arguments only as the audit log stores them
/// (redacted), and never the session id (a bearer-like value on some transports).
pub fn body(a: &Approval, dashboard: Option<&str>) -> Value {
    let link = dashboard.map(|d| dashboard_link(d, &a.id));
    json!({
        "type": TYPE,
        "id": a.id,
        "server": a.server,
        "method": a.method,
        "tool": a.tool,
        "principal": a.principal,
        "agent": a.agent,
        "rule": a.rule,
        "policy": a.policy,
        "arguments": a.arguments,
        "action_hash": a.action_hash,
        "grant": a.grant,
        "approvers": a.approvers,
        "requested_at": rfc3339(a.requested_us),
        "requested_us": a.requested_us,
        "expires_at": rfc3339(a.expires_us),
        "expires_us": a.expires_us,
        "approve_command": format!("warden approvals approve {}", a.id),
        "deny_command": format!("warden approvals deny {}", a.id),
        "dashboard_url": link,
        "text": text(a, link.as_deref()),
    })
}

/// `{dashboard}/#approvals/{id}`: the approvals queue opened at this approval.
pub fn dashboard_link(dashboard: &str, id: &str) -> String {
    format!("{}/#approvals/{id}", dashboard.trim_end_matches('/'))
}

/// One human line: who asks to run what, and how to decide before when. Names come from
/// clients and servers, so Slack's control characters (`&`, `<`, `>`) are escaped (an agent
/// named `<!channel>` must not ping a channel) and line breaks flattened.
pub fn text(a: &Approval, link: Option<&str>) -> String {
    let who = match (&a.principal, &a.agent) {
        (Some(p), Some(g)) => format!("{p} ({g})"),
        (Some(p), None) => p.clone(),
        (None, Some(g)) => format!("an unidentified principal ({g})"),
        (None, None) => "an unidentified principal".to_owned(),
    };
    let what = a.tool.as_deref().unwrap_or(&a.method);
    let rule = a
        .rule
        .as_deref()
        .map(|r| format!(" under rule {r}"))
        .unwrap_or_default();
    let open = link.map(|l| format!(" or open {l}")).unwrap_or_default();
    let line = format!(
        "warden: {who} asks to run {what} on {server}{rule}. Approval {id}: run `warden approvals approve {id}` (or deny){open}. Expires {expires}.",
        server = a.server,
        id = a.id,
        expires = rfc3339(a.expires_us),
    );
    slack_safe(&line)
}

fn slack_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// RFC 3339 with milliseconds, UTC.
fn rfc3339(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|_| us.to_string())
}

/// `v1=` and the lowercase hex HMAC-SHA-256, keyed with `secret`, of `"{timestamp}.{body}"`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "v1={}",
        warden_audit::keyed::hex(&mac.finalize().into_bytes())
    )
}
