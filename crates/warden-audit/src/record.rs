//! The audit record: what the proxy hands to the writer (`AuditEvent`) and the sealed leaf the
//! writer stores and hashes (`Leaf`). The leaf's JSON bytes are the Merkle leaf, stored exactly
//! as hashed; field order is fixed by the struct, and there are no floats or maps in it.
//! Since leaf v2 the stored payload is not in the leaf: the leaf commits to it (`content`), and
//! the bytes go to the content store (`crate::content`), where they can expire or be erased.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use warden_core::{Direction, Implementation};

use crate::content::{self, Content};
use crate::keyed::KeyedHasher;

/// Version of the leaf format (`v` member).
pub const LEAF_VERSION: u32 = 2;

/// How much of each message is kept beside its hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadLevel {
    /// Hashes only.
    Minimal,
    /// `params` / `result` / `error` up to the cap.
    Standard,
    /// The whole message up to the cap.
    Detailed,
}

impl PayloadLevel {
    pub fn parse(s: &str) -> Option<PayloadLevel> {
        match s {
            "minimal" => Some(PayloadLevel::Minimal),
            "standard" => Some(PayloadLevel::Standard),
            "detailed" => Some(PayloadLevel::Detailed),
            _ => None,
        }
    }
}

/// How an exchange ended, on the record that closes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    RpcError,
    Cancelled,
    Abandoned,
    /// warden answered instead of the server (e.g. the audit store was unavailable).
    GatewayError,
    /// Policy blocked the call: it never reached the server.
    Denied,
    /// A rate limit of the policy was reached: the call never reached the server.
    RateLimited,
    /// A budget of the policy is spent: the call never reached the server.
    BudgetExceeded,
    /// A policy rule requires approval: the call was held, not forwarded.
    ApprovalRequired,
    /// warden could not read the message exactly as the server would (or its id was in
    /// flight): refused, never forwarded.
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::RpcError => "rpc_error",
            Outcome::Cancelled => "cancelled",
            Outcome::Abandoned => "abandoned",
            Outcome::GatewayError => "gateway_error",
            Outcome::Denied => "denied",
            Outcome::RateLimited => "rate_limited",
            Outcome::BudgetExceeded => "budget_exceeded",
            Outcome::ApprovalRequired => "approval_required",
            Outcome::Refused => "refused",
        }
    }
}

/// The recorded outcome of a `tools/call` whose tool ran and reported failure: the server
/// answered with a result (so the event's outcome is `ok`) flagged `isError: true`. The
/// sealer records it so (see [`AuditEvent::recorded_outcome`]); every reader that tells
/// success from failure reads it from the `outcome` column or member.
pub const TOOL_ERROR: &str = "tool_error";

/// What is known about the session a message belongs to when it is seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionContext {
    /// The server's configured name (`--server-name`).
    pub server_name: Option<String>,
    /// The server's own `serverInfo`.
    pub server_info: Option<Implementation>,
    /// The client's `clientInfo`.
    pub client_info: Option<Implementation>,
    /// The negotiated (or stated) protocol version.
    pub protocol: Option<String>,
    /// Who is calling: the authenticated principal (API key or JWT subject) or the local user.
    pub principal: Option<String>,
    /// The agent, when the front door named it (an `X-Warden-Agent` header); otherwise the
    /// agent is the client's `clientInfo`.
    pub agent: Option<String>,
}

impl SessionContext {
    /// The agent's name for queries: the named agent, else `clientInfo` name[/version].
    pub fn agent_label(&self) -> Option<String> {
        self.agent.clone().or_else(|| {
            self.client_info.as_ref().map(|i| {
                if i.version.is_empty() {
                    i.name.clone()
                } else {
                    format!("{}/{}", i.name, i.version)
                }
            })
        })
    }
}

/// One message or gateway event, as the proxy hands it to the writer.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    /// The record's id (UUIDv7), made when the event is: traces and security events can
    /// point at the record before it is sealed.
    pub id: uuid::Uuid,
    pub ts_us: i64,
    pub session: Arc<str>,
    pub direction: Option<Direction>,
    /// `request`, `notification`, `result`, `error`, `invalid`, `unparseable` or `event`.
    pub kind: &'static str,
    /// For `kind = event`: what happened (`session_start`, `exchange_abandoned`, …).
    pub event: Option<&'static str>,
    pub method: Option<String>,
    /// The raw JSON text of the JSON-RPC id.
    pub rpc_id: Option<String>,
    pub exchange: Option<uuid::Uuid>,
    pub target: Option<String>,
    pub context: Arc<SessionContext>,
    /// Size of the whole frame in bytes.
    pub size: u64,
    pub duration_us: Option<u64>,
    pub outcome: Option<Outcome>,
    pub error_code: Option<i64>,
    /// Position of this message in a batch frame.
    pub batch_index: Option<u32>,
    /// The frame as received (shared, not copied).
    pub frame: Bytes,
    /// Span of the arguments in `frame` (hashed as `args_hash`).
    pub args: Option<Range<usize>>,
    /// Span of the payload (`params` / `result` / `error`) in `frame`.
    pub body: Option<Range<usize>>,
    /// Whether `frame` was read strictly (`warden_core::strict`) as a whole by whoever made
    /// the event: the pipeline for an admitted client frame, or the redactor for a copy it
    /// wrote from a strictly readable tree. Then
    /// every value span of it (`args`, `body`) is strict JSON too, and the sealer embeds the
    /// payload as JSON without checking it again. `false` (the default): the sealer checks.
    /// Set it only for those bytes: a frame replaced after it was read must clear it.
    pub read_strictly: bool,
    /// Structured detail of gateway events (never message payloads).
    pub detail: Option<serde_json::Value>,
    /// The policy decision on a governed request (action, rule, matched rules, mode, policy hash).
    pub policy: Option<serde_json::Value>,
    /// With redaction on: `clean` or `redacted` (then `frame` is the redacted audit copy).
    pub dlp: Option<&'static str>,
    /// What was redacted: `[{rule, pointer, count}]`, never the secret.
    pub redactions: Option<serde_json::Value>,
    /// On `tools/call` requests: `read`, `write` or `sensitive`…
    pub tool_class: Option<&'static str>,
    /// …and on what grounds: `config`, `annotations` or `default`.
    pub tool_class_source: Option<&'static str>,
}

impl AuditEvent {
    /// A gateway event (not a wire message) in `session`.
    pub fn gateway(
        session: Arc<str>,
        context: Arc<SessionContext>,
        event: &'static str,
    ) -> AuditEvent {
        AuditEvent {
            id: uuid::Uuid::now_v7(),
            ts_us: now_us(),
            session,
            direction: None,
            kind: "event",
            event: Some(event),
            method: None,
            rpc_id: None,
            exchange: None,
            target: None,
            context,
            size: 0,
            duration_us: None,
            outcome: None,
            error_code: None,
            batch_index: None,
            frame: Bytes::new(),
            args: None,
            body: None,
            read_strictly: false,
            detail: None,
            policy: None,
            dlp: None,
            redactions: None,
            tool_class: None,
            tool_class_source: None,
        }
    }
}

impl AuditEvent {
    /// Whether this is a `tools/call` result whose tool ran and failed: the `result` object
    /// has `isError: true`. The one definition of a tool error (metrics, spans, the leaf's
    /// outcome, and through it reports, statistics and searches). Fails towards "failed":
    /// any copy of a duplicated `isError` that is `true` counts, and a body that does not
    /// parse counts when its text holds `"isError"` followed by `true`.
    pub fn tool_failed(&self) -> bool {
        if self.kind != "result" || self.method.as_deref() != Some("tools/call") {
            return false;
        }
        self.body
            .clone()
            .and_then(|r| self.frame.get(r))
            .is_some_and(flags_error)
    }

    /// The outcome as the leaf and the `outcome` column record it: [`TOOL_ERROR`] for an
    /// answered tool call whose tool failed ([`AuditEvent::tool_failed`]), else the event's.
    pub fn recorded_outcome(&self) -> Option<&'static str> {
        match self.outcome {
            Some(Outcome::Ok) if self.tool_failed() => Some(TOOL_ERROR),
            o => o.map(Outcome::as_str),
        }
    }
}

static IS_ERROR: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"isError"));

/// Whether a `result` value says `isError: true` (see [`AuditEvent::tool_failed`]).
fn flags_error(body: &[u8]) -> bool {
    // A key can only be `isError` if the text holds it, or spells it with escapes.
    let escaped = memchr::memmem::find(body, b"\\u").is_some();
    if !escaped && IS_ERROR.find(body).is_none() {
        return false;
    }
    match serde_json::from_slice::<IsErrorFlag>(body) {
        Ok(IsErrorFlag(failed)) => failed,
        Err(_) => loosely_flags_error(body),
    }
}

/// For a body that does not parse: any `"isError"` followed by `:` and `true`.
fn loosely_flags_error(body: &[u8]) -> bool {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    IS_ERROR.find_iter(body).any(|at| {
        let rest = &body[at + "isError".len()..];
        let Some(rest) = rest.strip_prefix(b"\"") else {
            return false;
        };
        let i = rest.iter().take_while(|b| ws(b)).count();
        let Some(rest) = rest[i..].strip_prefix(b":") else {
            return false;
        };
        let i = rest.iter().take_while(|b| ws(b)).count();
        rest[i..].starts_with(b"true")
    })
}

/// Reads a `result` object's members, `true` if any member named `isError` (every copy of
/// a duplicated one) is `true`.
struct IsErrorFlag(bool);

impl<'de> Deserialize<'de> for IsErrorFlag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<IsErrorFlag, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = IsErrorFlag;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a tool result object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<IsErrorFlag, A::Error> {
                let mut failed = false;
                while let Some(key) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "isError" {
                        failed |=
                            m.next_value::<serde_json::Value>()? == serde_json::Value::Bool(true);
                    } else {
                        m.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(IsErrorFlag(failed))
            }
        }
        d.deserialize_map(Members)
    }
}

/// Microseconds since the Unix epoch, UTC.
pub fn now_us() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[derive(Serialize)]
struct ServerRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<&'a Implementation>,
}

/// The sealed record: serialized once, hashed and stored as these exact bytes.
#[derive(Serialize)]
struct Leaf<'a> {
    v: u32,
    id: String,
    log: &'a str,
    seq: u64,
    ts_us: i64,
    session: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dir: Option<&'static str>,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rpc_id: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exchange: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<ServerRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a Implementation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<&'a str>,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_len: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    payload_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dlp: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redactions: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_class: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_class_source: Option<&'static str>,
    /// Members were cut to keep the leaf under [`LEAF_LIMIT`] (see [`shrunk`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cut: bool,
}

/// The most bytes a leaf may have: a C2SP tile entry holds at most 65,535. A leaf that would
/// be longer is sealed again from [`shrunk`], with `cut: true`.
pub const LEAF_LIMIT: usize = 60 * 1024;

/// The longest a string member copied from the wire stays in a cut leaf.
const CUT_STRING: usize = 1024;
/// The longest serialized `detail`, `policy` or `redactions` stays in a cut leaf.
const CUT_OBJECT: usize = 8 * 1024;

fn cut_str(s: &str) -> String {
    if s.len() <= CUT_STRING {
        return s.to_owned();
    }
    let mut end = CUT_STRING;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn cut_object(v: &Option<serde_json::Value>) -> Option<serde_json::Value> {
    let v = v.as_ref()?;
    let len = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX);
    Some(if len <= CUT_OBJECT {
        v.clone()
    } else {
        serde_json::json!({ "cut": len })
    })
}

fn cut_impl(i: &Implementation) -> Implementation {
    let mut i = i.clone();
    i.name = cut_str(&i.name);
    i.version = cut_str(&i.version);
    i
}

/// `ev` with what made its leaf too long cut: strings from the wire kept to their first
/// 1 KiB (and `…`), an id longer than that dropped, and a `detail`, `policy` or `redactions`
/// longer than 8 KiB replaced by `{"cut": <its length>}`. The stored content is unchanged.
fn shrunk(ev: &AuditEvent) -> AuditEvent {
    let mut ev = ev.clone();
    ev.method = ev.method.as_deref().map(cut_str);
    ev.target = ev.target.as_deref().map(cut_str);
    if ev.rpc_id.as_ref().is_some_and(|r| r.len() > CUT_STRING) {
        ev.rpc_id = None;
    }
    ev.detail = cut_object(&ev.detail);
    ev.policy = cut_object(&ev.policy);
    ev.redactions = cut_object(&ev.redactions);
    let c = &*ev.context;
    ev.context = Arc::new(SessionContext {
        server_name: c.server_name.as_deref().map(cut_str),
        server_info: c.server_info.as_ref().map(cut_impl),
        client_info: c.client_info.as_ref().map(cut_impl),
        protocol: c.protocol.as_deref().map(cut_str),
        principal: c.principal.as_deref().map(cut_str),
        agent: c.agent.as_deref().map(cut_str),
    });
    ev
}

/// The columns copied out of a leaf for queries (never used by verification).
#[derive(Clone, Debug)]
pub struct Sealed {
    pub id: uuid::Uuid,
    pub seq: u64,
    pub ts_us: i64,
    pub session: Arc<str>,
    pub dir: Option<&'static str>,
    pub kind: &'static str,
    pub method: Option<String>,
    pub target: Option<String>,
    pub exchange: Option<uuid::Uuid>,
    pub server: Option<String>,
    pub outcome: Option<&'static str>,
    pub duration_us: Option<u64>,
    pub principal: Option<String>,
    pub agent: Option<String>,
    /// The leaf bytes: exactly what is hashed and stored.
    pub leaf: Vec<u8>,
    /// The stored payload the leaf commits to, for the content store.
    pub content: Option<Content>,
}

/// Seals events into leaves: assigns ids, applies the payload level and keyed hashes.
pub struct Sealer {
    pub log_id: String,
    pub level: PayloadLevel,
    /// Payloads larger than this are stored truncated, with the keyed hash of the whole.
    pub max_payload: usize,
    pub hasher: KeyedHasher,
    /// Secret (kept in memory only) from which each content nonce is derived: once a
    /// record's content and nonce are erased, nobody can recompute its commitment.
    pub nonce_seed: [u8; 32],
}

impl Sealer {
    /// Builds the leaf for `ev` at position `seq`, at most [`LEAF_LIMIT`] bytes.
    pub fn seal(&self, ev: &AuditEvent, seq: u64) -> Sealed {
        let sealed = self.seal_as(ev, seq, false);
        if sealed.leaf.len() <= LEAF_LIMIT {
            return sealed;
        }
        self.seal_as(&shrunk(ev), seq, true)
    }

    fn seal_as(&self, ev: &AuditEvent, seq: u64, cut: bool) -> Sealed {
        let id = ev.id;
        let frame = &ev.frame[..];
        let slice = |r: &Option<Range<usize>>| r.clone().and_then(|r| frame.get(r));
        let is_response = matches!(ev.kind, "result" | "error");
        let args_hash = if is_response {
            None
        } else {
            slice(&ev.args).map(|b| self.hasher.tag(b))
        };
        let result_hash = if is_response {
            slice(&ev.body).map(|b| self.hasher.tag(b))
        } else {
            None
        };
        let stored: Option<&[u8]> = match self.level {
            PayloadLevel::Minimal => None,
            PayloadLevel::Standard => slice(&ev.body).or_else(|| {
                matches!(ev.kind, "invalid" | "unparseable")
                    .then(|| warden_core::envelope::trim_frame(frame))
            }),
            PayloadLevel::Detailed => {
                (!frame.is_empty()).then(|| warden_core::envelope::trim_frame(frame))
            }
        };
        let mut payload_truncated = false;
        let mut payload_hash = None;
        let content = stored.map(|bytes| {
            let (body, content_type) = if bytes.len() <= self.max_payload {
                // Marked JSON only when every reader reads it alike (no duplicate members, no
                // lone surrogates, ...). Bytes read strictly already are not checked again.
                let json = std::str::from_utf8(bytes).is_ok()
                    && (ev.read_strictly || warden_core::strict::check(bytes).is_ok())
                    && serde_json::from_slice::<&RawValue>(bytes).is_ok();
                (bytes, content::kind_of(bytes, json))
            } else {
                payload_truncated = true;
                // The hash of the whole is often one already made (the result, or arguments
                // that are the whole params): the same bytes, so the same tag, computed once.
                let same =
                    |r: &Option<Range<usize>>| slice(r).is_some_and(|b| std::ptr::eq(b, bytes));
                payload_hash = Some(match (&result_hash, &args_hash) {
                    (Some(h), _) if same(&ev.body) => h.clone(),
                    (_, Some(h)) if same(&ev.args) => h.clone(),
                    _ => self.hasher.tag(bytes),
                });
                let mut cut = self.max_payload;
                while cut > 0 && (bytes[cut] & 0xC0) == 0x80 {
                    cut -= 1;
                }
                let part = &bytes[..cut];
                (part, content::kind_of(part, false))
            };
            Content::seal(&self.nonce_seed, id, seq, body, content_type)
        });
        let rpc_id = ev
            .rpc_id
            .as_deref()
            .and_then(|s| serde_json::from_str::<&RawValue>(s).ok());
        let ctx = &*ev.context;
        let outcome = ev.recorded_outcome();
        let server =
            (ctx.server_name.is_some() || ctx.server_info.is_some()).then_some(ServerRef {
                name: ctx.server_name.as_deref(),
                info: ctx.server_info.as_ref(),
            });
        let leaf = Leaf {
            v: LEAF_VERSION,
            id: id.to_string(),
            log: &self.log_id,
            seq,
            ts_us: ev.ts_us,
            session: &ev.session,
            dir: ev.direction.map(|d| d.as_str()),
            kind: ev.kind,
            event: ev.event,
            method: ev.method.as_deref(),
            rpc_id,
            batch_index: ev.batch_index,
            exchange: ev.exchange.map(|e| e.to_string()),
            target: ev.target.as_deref(),
            server,
            client: ctx.client_info.as_ref(),
            protocol: ctx.protocol.as_deref(),
            principal: ctx.principal.as_deref(),
            agent: ctx.agent.as_deref(),
            size: ev.size,
            duration_us: ev.duration_us,
            outcome,
            error_code: ev.error_code,
            args_hash,
            result_hash,
            content: content.as_ref().map(|c| c.digest.as_str()),
            content_len: content.as_ref().map(|c| c.body.len()),
            content_type: content.as_ref().map(|c| c.kind),
            payload_truncated,
            payload_hash,
            detail: ev.detail.as_ref(),
            policy: ev.policy.as_ref(),
            dlp: ev.dlp,
            redactions: ev.redactions.as_ref(),
            tool_class: ev.tool_class,
            tool_class_source: ev.tool_class_source,
            cut,
        };
        // Serializing these types cannot fail: no maps with non-string keys, no floats from us.
        let leaf = serde_json::to_vec(&leaf).unwrap_or_default();
        Sealed {
            id,
            seq,
            ts_us: ev.ts_us,
            session: ev.session.clone(),
            dir: ev.direction.map(|d| d.as_str()),
            kind: ev.kind,
            method: ev.method.clone(),
            target: ev.target.clone(),
            exchange: ev.exchange,
            server: ctx.server_name.clone(),
            outcome,
            duration_us: ev.duration_us,
            principal: ctx.principal.clone(),
            agent: ctx.agent_label(),
            leaf,
            content,
        }
    }
}
