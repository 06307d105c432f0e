//! A rule's `approval:` block: how long a call waits for a human, how long the client's
//! request is held open, what an approval lets through, and which channels reach the approvers.

use serde_json::Value;

/// What one approval lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Exactly one call.
    Once,
    /// Every identical call of the session the approval was asked in.
    Session,
    /// Every identical call of the requesting principal for this long after the decision.
    Ttl { ms: u64 },
}

impl Grant {
    /// As written in the policy (`once`, `session`, `ttl:30m`).
    pub fn as_string(&self) -> String {
        match self {
            Grant::Once => "once".into(),
            Grant::Session => "session".into(),
            Grant::Ttl { ms } => format!("ttl:{}", crate::compile::show_ms(*ms)),
        }
    }

    /// Reads what `as_string` writes.
    pub fn parse(s: &str) -> Result<Grant, String> {
        match s.trim() {
            "once" => Ok(Grant::Once),
            "session" => Ok(Grant::Session),
            t => match t.strip_prefix("ttl:") {
                Some(d) => Ok(Grant::Ttl {
                    ms: crate::compile::duration_ms(&Value::from(d.trim()), "grant ttl")?,
                }),
                None => Err(format!(
                    "grant {t:?} is not one of once, session, ttl:<duration> (like ttl:30m)"
                )),
            },
        }
    }
}

/// A way to reach the humans who decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// The approvals queue: the CLI, the admin API and the dashboard (always on).
    Queue,
    /// `elicitation/create` to the requesting client. It asks the requester, so it is used only
    /// when the rule allows self-approval and names the requester among its approvers, and the
    /// client declared the capability; otherwise the other channels still work.
    Elicitation,
    /// A signed POST to the rule's webhook.
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Queue => "queue",
            Channel::Elicitation => "elicitation",
            Channel::Webhook => "webhook",
        }
    }
}

/// Where the webhook channel posts, and the environment variable holding its signing secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    pub secret_env: Option<String>,
}

/// The approval block of an `approve` rule (defaults when it has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalSpec {
    /// A call not decided this long after it was asked is denied (`expired`).
    pub timeout_ms: u64,
    /// The longest a client's request is held open before it is answered "pending".
    pub hold_ms: u64,
    pub grant: Grant,
    /// May the requesting principal approve its own call?
    pub self_approval: bool,
    pub channels: Vec<Channel>,
    pub webhook: Option<Webhook>,
}

/// 50 s: below the 60 s request timeout of the official TypeScript SDK.
pub const DEFAULT_HOLD_MS: u64 = 50_000;
/// Ten minutes to decide, unless the rule says otherwise.
pub const DEFAULT_TIMEOUT_MS: u64 = 600_000;
/// No approval waits longer than a week: an approval is a human answering a running agent.
const MAX_TIMEOUT_MS: u64 = 7 * 86_400_000;
/// Holding a request open longer than this outlasts every client's request timeout.
const MAX_HOLD_MS: u64 = 600_000;

impl Default for ApprovalSpec {
    fn default() -> ApprovalSpec {
        ApprovalSpec {
            timeout_ms: DEFAULT_TIMEOUT_MS,
            hold_ms: DEFAULT_HOLD_MS,
            grant: Grant::Once,
            self_approval: false,
            channels: vec![Channel::Queue],
            webhook: None,
        }
    }
}

const KEYS: &[&str] = &[
    "timeout",
    "hold",
    "grant",
    "self_approval",
    "channels",
    "webhook",
];

/// Compiles an `approval:` block; every problem is reported.
pub(crate) fn approval(v: &Value) -> Result<ApprovalSpec, Vec<String>> {
    let mut spec = ApprovalSpec::default();
    let mut problems = Vec::new();
    let Some(map) = v.as_object() else {
        return Err(vec![
            "`approval` is a mapping (timeout, hold, grant, self_approval, channels, webhook)"
                .into(),
        ]);
    };
    for k in map.keys() {
        if !KEYS.contains(&k.as_str()) {
            problems.push(format!(
                "approval has no setting {k:?} (it has {})",
                KEYS.join(", ")
            ));
        }
    }
    let mut take = |r: Result<(), String>| {
        if let Err(e) = r {
            problems.push(e);
        }
    };
    if let Some(t) = map.get("timeout") {
        take(
            crate::compile::duration_ms(t, "approval timeout")
                .and_then(|ms| bounded(ms, MAX_TIMEOUT_MS, "approval timeout"))
                .map(|ms| spec.timeout_ms = ms),
        );
    }
    if let Some(h) = map.get("hold") {
        take(
            crate::compile::duration_ms(h, "approval hold")
                .and_then(|ms| bounded(ms, MAX_HOLD_MS, "approval hold"))
                .map(|ms| spec.hold_ms = ms),
        );
    }
    if let Some(g) = map.get("grant") {
        take(
            g.as_str()
                .ok_or_else(|| "grant is once, session or ttl:<duration>".to_owned())
                .and_then(Grant::parse)
                .map(|g| spec.grant = g),
        );
    }
    if let Some(s) = map.get("self_approval") {
        take(
            s.as_bool()
                .ok_or_else(|| "self_approval is true or false".to_owned())
                .map(|b| spec.self_approval = b),
        );
    }
    if let Some(c) = map.get("channels") {
        take(channels(c).map(|c| spec.channels = c));
    }
    if let Some(w) = map.get("webhook") {
        take(webhook(w).map(|w| spec.webhook = Some(w)));
    }
    if spec.channels.contains(&Channel::Webhook) && spec.webhook.is_none() {
        problems.push("the webhook channel needs a `webhook: {url: ...}`".into());
    }
    if spec.webhook.is_some() && !spec.channels.contains(&Channel::Webhook) {
        spec.channels.push(Channel::Webhook);
    }
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(problems)
    }
}

fn bounded(ms: u64, max: u64, what: &str) -> Result<u64, String> {
    if ms > max {
        return Err(format!(
            "{what} of {} is longer than the most warden allows ({})",
            crate::compile::show_ms(ms),
            crate::compile::show_ms(max)
        ));
    }
    Ok(ms)
}

fn channels(v: &Value) -> Result<Vec<Channel>, String> {
    let list = v
        .as_array()
        .ok_or("channels is a list of queue, elicitation, webhook")?;
    // The queue (CLI, admin API, dashboard) is how a decision can always be made.
    let mut out = vec![Channel::Queue];
    for c in list {
        let ch = match c.as_str() {
            Some("queue") | Some("cli") | Some("api") | Some("dashboard") => Channel::Queue,
            Some("elicitation") => Channel::Elicitation,
            Some("webhook") => Channel::Webhook,
            _ => {
                return Err(format!(
                    "channel {c} is not one of queue, elicitation, webhook"
                ));
            }
        };
        if !out.contains(&ch) {
            out.push(ch);
        }
    }
    Ok(out)
}

fn webhook(v: &Value) -> Result<Webhook, String> {
    let url = v
        .get("url")
        .and_then(Value::as_str)
        .ok_or("webhook needs a `url`")?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("webhook url {url:?} is not an http(s) URL"));
    }
    if let Some(o) = v.as_object() {
        for k in o.keys() {
            if k != "url" && k != "secret_env" {
                return Err(format!(
                    "webhook has no setting {k:?} (it has url, secret_env)"
                ));
            }
        }
    }
    let secret_env = match v.get("secret_env") {
        None => None,
        Some(s) => Some(
            s.as_str()
                .filter(|s| !s.is_empty())
                .ok_or("webhook secret_env names an environment variable")?
                .to_owned(),
        ),
    };
    Ok(Webhook {
        url: url.to_owned(),
        secret_env,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_issue_block_compiles_and_defaults_hold_below_the_sdk_timeout() {
        let s = approval(&json!({
            "timeout": "5m", "hold": "50s", "grant": "once", "self_approval": false,
            "channels": ["queue", "elicitation", "webhook"],
            "webhook": {"url": "https://hooks.example.com/x", "secret_env": "WARDEN_WEBHOOK_SECRET"}
        }))
        .unwrap();
        assert_eq!(s.timeout_ms, 300_000);
        assert_eq!(s.hold_ms, 50_000);
        assert_eq!(
            s.channels,
            [Channel::Queue, Channel::Elicitation, Channel::Webhook]
        );
        assert_eq!(ApprovalSpec::default().hold_ms, 50_000);
        assert_eq!(
            approval(&json!({"grant": "ttl:30m"})).unwrap().grant,
            Grant::Ttl { ms: 1_800_000 }
        );
        assert_eq!(Grant::Ttl { ms: 1_800_000 }.as_string(), "ttl:30m");
        assert_eq!(
            approval(&json!({"grant": "session"})).unwrap().grant,
            Grant::Session
        );
    }

    #[test]
    fn mistakes_are_each_reported() {
        let e = approval(&json!({
            "timeout": "5 parsecs", "hold": "2h", "grant": "forever", "self_approval": "no",
            "channels": ["pager"], "colour": 1
        }))
        .unwrap_err();
        assert_eq!(e.len(), 6, "{e:?}");
        assert!(approval(&json!({"channels": ["webhook"]})).is_err());
        assert!(approval(&json!({"webhook": {"url": "ftp://x"}})).is_err());
        assert!(approval(&json!({"timeout": 0})).is_err());
        assert!(approval(&json!("5m")).is_err());
    }
}
