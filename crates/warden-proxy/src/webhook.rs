//! The approvals' webhook channel: one signed POST per approval to the rule's `webhook.url`,
//! retried with backoff in the background, every attempt reported for the audit log.
//!
//! # Signature
//! With `secret_env` set, each attempt carries
//! - `X-Warden-Timestamp: <unix seconds when the attempt was made>`
//! - `X-Warden-Signature: v1=<lowercase hex HMAC-SHA-256(secret, "<timestamp>.<body>")>`
//!
//! where the secret is the named environment variable's value, byte for byte, read at each
//! [`WebhookSender::send`] (so a rotated secret is used from the next approval on), and the
//! body is the exact bytes posted. A receiver recomputes the HMAC over the raw body, compares
//! in constant time, and refuses timestamps more than a few minutes from its clock; the body's
//! `id` is the same on every retry, so it can drop repeats. If `secret_env` is set but the
//! variable is unset or empty, nothing is sent (never unsigned by accident) and the failure is
//! recorded. Without `secret_env` the POST is unsigned and its records say `signed: false`.
//! `docs/approvals-webhook.md` is the receiver's guide.
//!
//! # What never leaves or is recorded
//! The signing secret appears nowhere but in the HMAC. The URL's path and query (Slack-style
//! URLs carry their token there) are never recorded: records name only scheme, host and port.
//! The body carries the arguments only as the audit log stores them (redacted).

mod notice;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};
use warden_audit::approvals::Approval;
use warden_policy::Webhook;

pub use notice::{TYPE, body, dashboard_link, signature, text};

/// The gateway event every attempt (and every notice not sent) is recorded as.
pub const EVENT: &str = "approval_webhook";
pub const TIMESTAMP_HEADER: &str = "x-warden-timestamp";
pub const SIGNATURE_HEADER: &str = "x-warden-signature";

/// Where an attempt's outcome goes: `(event name, detail)`, written by the caller to the
/// audit log as a gateway event. Called from the runtime's tasks, and directly from
/// [`WebhookSender::send`] when nothing could be sent.
pub type Record = Arc<dyn Fn(&'static str, Value) + Send + Sync>;

/// Reads an environment variable by name (`std::env::var` outside tests).
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How hard a notice is pushed: `attempts` tries at most, waiting `first_delay`, then twice
/// as long each time up to `max_delay`; each try given at most `attempt_timeout`. Never past
/// the approval's expiry: a notice nobody can act on is not worth sending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub attempt_timeout: Duration,
}

impl Default for Retry {
    /// 8 tries over about two minutes (1, 2, 4 … 60 s apart), 10 s each.
    fn default() -> Retry {
        Retry {
            attempts: 8,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

impl Retry {
    /// The wait after failed attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Posts approval notices; cheap to clone (one pooled HTTP client).
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    retry: Retry,
    env: Env,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSender")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl WebhookSender {
    /// The default [`Retry`], secrets from the process environment.
    pub fn new() -> Result<WebhookSender, String> {
        WebhookSender::with(
            Retry::default(),
            Arc::new(|name: &str| std::env::var(name).ok()),
        )
    }

    /// A sender with its own retry schedule and environment (tests: fast retries, a secret
    /// without touching the process environment).
    pub fn with(retry: Retry, env: Env) -> Result<WebhookSender, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(retry.attempt_timeout)
            // A redirect would carry the signed notice somewhere not configured.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("warden/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhook http client: {e}"))?;
        Ok(WebhookSender { client, retry, env })
    }

    /// Posts the notice for `a` to `hook` from a task on `rt`, retrying failures until it is
    /// delivered, `a` expires, or the attempts run out; returns at once. Every attempt, and a
    /// notice not sent at all (secret missing, URL unusable, already expired), is passed to
    /// `record` as [`EVENT`]. The handle stops further attempts (e.g. once `a` is decided);
    /// `None` when nothing was started.
    pub fn send(
        &self,
        rt: &tokio::runtime::Handle,
        hook: &Webhook,
        a: &Approval,
        dashboard: Option<&str>,
        record: Record,
    ) -> Option<tokio::task::AbortHandle> {
        let url = match reqwest::Url::parse(&hook.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
            _ => {
                // The URL itself may hold a token: not even a bad one is recorded.
                let msg = "webhook url is not an absolute http(s) URL";
                record(EVENT, not_sent(&a.id, "(unusable)", "bad_url", msg));
                return None;
            }
        };
        let origin = url.origin().ascii_serialization();
        let secret = match &hook.secret_env {
            None => None,
            Some(name) => match (self.env)(name).filter(|s| !s.is_empty()) {
                Some(s) => Some(s.into_bytes()),
                None => {
                    let msg = format!(
                        "environment variable {name} (webhook secret_env) is unset or empty; the notice is not sent unsigned"
                    );
                    record(EVENT, not_sent(&a.id, &origin, "secret_missing", &msg));
                    return None;
                }
            },
        };
        if left(a.expires_us).is_zero() {
            let msg = "the approval expired before its notice could be sent";
            record(EVENT, not_sent(&a.id, &origin, "expired", msg));
            return None;
        }
        let delivery = Delivery {
            client: self.client.clone(),
            retry: Retry {
                // At least the one attempt that is recorded.
                attempts: self.retry.attempts.max(1),
                ..self.retry.clone()
            },
            body: Bytes::from(body(a, dashboard).to_string()),
            url,
            origin,
            secret,
            id: a.id.clone(),
            expires_us: a.expires_us,
            record,
        };
        Some(rt.spawn(delivery.run()).abort_handle())
    }
}

/// One notice on its way.
struct Delivery {
    client: reqwest::Client,
    retry: Retry,
    body: Bytes,
    url: reqwest::Url,
    /// `scheme://host[:port]`: all of the URL that is ever recorded.
    origin: String,
    secret: Option<Vec<u8>>,
    id: String,
    expires_us: i64,
    record: Record,
}

/// What one attempt came to.
enum Attempt {
    Delivered(u16),
    Status(u16),
    Error { kind: &'static str, message: String },
}

impl Attempt {
    /// Worth another try: a timeout, a refused or broken connection, 408, 429 or 5xx.
    fn retryable(&self) -> bool {
        match self {
            Attempt::Delivered(_) => false,
            Attempt::Status(s) => *s == 408 || *s == 429 || *s >= 500,
            Attempt::Error { kind, .. } => *kind != "builder",
        }
    }
}

impl Delivery {
    async fn run(self) {
        for n in 1..=self.retry.attempts {
            let started = Instant::now();
            let got = self.attempt().await;
            let delay = self.retry.delay(n);
            let stop = match &got {
                Attempt::Delivered(_) => Some("delivered"),
                _ if !got.retryable() => Some("permanent"),
                _ if n >= self.retry.attempts => Some("attempts"),
                _ if left(self.expires_us) <= delay => Some("expiry"),
                _ => None,
            };
            let mut w = json!({
                "url": self.origin,
                "attempt": n,
                "attempts": self.retry.attempts,
                "signed": self.secret.is_some(),
                "outcome": if matches!(got, Attempt::Delivered(_)) { "delivered" } else { "failed" },
                "elapsed_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "will_retry": stop.is_none(),
            });
            match &got {
                Attempt::Delivered(s) | Attempt::Status(s) => w["status"] = json!(s),
                Attempt::Error { kind, message } => {
                    w["error"] = json!(kind);
                    w["message"] = json!(message);
                }
            }
            match stop {
                None => w["retry_in_ms"] = json!(duration_ms(delay)),
                Some("delivered") => {}
                Some(why) => w["gave_up"] = json!(why),
            }
            (self.record)(EVENT, json!({"approval": {"id": self.id}, "webhook": w}));
            if stop.is_some() {
                return;
            }
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self) -> Attempt {
        let timeout = self.retry.attempt_timeout.min(left(self.expires_us));
        let mut req = self
            .client
            .post(self.url.clone())
            .timeout(timeout)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(self.body.clone());
        if let Some(secret) = &self.secret {
            let ts = warden_audit::now_us().div_euclid(1_000_000);
            req = req
                .header(TIMESTAMP_HEADER, ts.to_string())
                .header(SIGNATURE_HEADER, signature(secret, ts, &self.body));
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => Attempt::Delivered(r.status().as_u16()),
            Ok(r) => Attempt::Status(r.status().as_u16()),
            Err(e) => Attempt::Error {
                kind: error_kind(&e),
                message: self.scrub(&chain(&e.without_url())),
            },
        }
    }

    /// Belt and braces: no error text ever carries the URL's path or query.
    fn scrub(&self, message: &str) -> String {
        let mut m = message.replace(self.url.as_str(), &self.origin);
        for secretish in [self.url.path(), self.url.query().unwrap_or("")] {
            if secretish.len() > 1 {
                m = m.replace(secretish, "…");
            }
        }
        m
    }
}

fn error_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_builder() {
        "builder"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    }
}

/// The error and its causes, `: `-joined.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// The record of a notice that was never posted.
fn not_sent(id: &str, origin: &str, error: &str, message: &str) -> Value {
    json!({
        "approval": {"id": id},
        "webhook": {
            "url": origin,
            "attempt": 0,
            "signed": false,
            "outcome": "not_sent",
            "error": error,
            "message": message,
            "will_retry": false,
        }
    })
}

/// Time left before `expires_us`; zero once past.
fn left(expires_us: i64) -> Duration {
    let us = expires_us.saturating_sub(warden_audit::now_us());
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
