//! The strict reading of a client frame: warden forwards a client message only if every
//! mainstream JSON reader (serde_json, Node's `JSON.parse`, Python's `json` behind the MCP SDKs'
//! stdio readers) would read the same message from it. This module decides that, without I/O.
//!
//! A frame is refused ([`Violation`]) when it has a byte order mark, is not valid UTF-8, holds a
//! carriage return that is not part of a CRLF line break (a second line to Python's universal
//! newlines), is not JSON, repeats a member name in any object at any depth (readers disagree on
//! which copy wins, and every one of them runs the call), nests deeper than [`MAX_DEPTH`], holds
//! a lone surrogate escape (`"\ud800"`: Node and Python read it, serde_json cannot), or a number
//! of magnitude above 2^53 - 1 (Python reads such integers exactly, Node and serde_json round
//! them). [`check_message`] then holds each message to the JSON-RPC shape both SDKs require.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

pub use crate::read::{Read, read};

use crate::classify::ParamsView;
use crate::envelope::{Envelope, Kind, Message};

/// The deepest nesting of arrays and objects warden reads in a client frame (the message itself
/// is depth 1). serde_json's own limit is 128; warden stays well inside it, so every frame it
/// forwards can be turned into a tree by every reader, the policy evaluator and the redactor.
pub const MAX_DEPTH: usize = 64;

/// The largest magnitude of a number every reader reads exactly (2^53 - 1, JavaScript's
/// `Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// JSON-RPC's "Parse error" code: the frame is not JSON every reader agrees on.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC's "Invalid Request" code: valid JSON that is not a message warden can read exactly.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC's "Invalid params" code: a governed method whose params are not of the shape the
/// MCP SDKs require (so warden cannot evaluate what the server would run).
pub const INVALID_PARAMS: i64 = -32602;

/// Why warden will not forward a client frame or message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The frame starts with a UTF-8 byte order mark (both SDKs' parsers reject it; warden used
    /// to strip it).
    ByteOrderMark,
    /// The frame is not valid UTF-8 (servers would read replacement characters).
    InvalidUtf8 { at: usize },
    /// A carriage return not followed by a line feed: one line to warden and Node, two to
    /// Python's universal-newline reader.
    BareCarriageReturn { at: usize },
    /// Not JSON, or JSON only some readers accept (a lone surrogate escape, `NaN`, ...).
    Syntax(String),
    /// An object names the same member twice (compared after unescaping).
    DuplicateMember { name: String },
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A number of magnitude above [`MAX_SAFE_INTEGER`], or one no reader can hold.
    UnsafeNumber,
    /// Valid JSON that is not a JSON-RPC 2.0 message (or batch) both SDKs accept.
    NotJsonRpc(&'static str),
    /// A governed method whose params the SDKs would reject or read differently.
    InvalidParams(&'static str),
    /// The frame is longer than the transport's limit (`--max-frame`, `max_body`).
    TooLarge { limit: usize },
}

impl Violation {
    /// The JSON-RPC error code warden answers with.
    pub fn code(&self) -> i64 {
        match self {
            Violation::ByteOrderMark
            | Violation::InvalidUtf8 { .. }
            | Violation::BareCarriageReturn { .. }
            | Violation::Syntax(_) => PARSE_ERROR,
            Violation::InvalidParams(_) => INVALID_PARAMS,
            _ => INVALID_REQUEST,
        }
    }

    /// The stable, machine-readable reason (`data.reason` of the error, and the record's).
    pub fn reason(&self) -> &'static str {
        match self {
            Violation::ByteOrderMark => "byte_order_mark",
            Violation::InvalidUtf8 { .. } => "invalid_utf8",
            Violation::BareCarriageReturn { .. } => "bare_carriage_return",
            Violation::Syntax(_) => "not_json",
            Violation::DuplicateMember { .. } => "duplicate_member",
            Violation::TooDeep => "too_deep",
            Violation::UnsafeNumber => "unsafe_number",
            Violation::NotJsonRpc(_) => "not_json_rpc",
            Violation::InvalidParams(_) => "invalid_params",
            Violation::TooLarge { .. } => "too_large",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::ByteOrderMark => f.write_str("the frame starts with a byte order mark"),
            Violation::InvalidUtf8 { at } => write!(f, "invalid UTF-8 at byte {at}"),
            Violation::BareCarriageReturn { at } => write!(
                f,
                "a carriage return at byte {at} is not part of a line break (some readers split the line there)"
            ),
            Violation::Syntax(e) => write!(f, "not strict JSON: {e}"),
            // The name is the client's text (it could be a secret): it goes into no message
            // or record, only into this value for callers that need it.
            Violation::DuplicateMember { .. } => {
                f.write_str("an object names the same member twice")
            }
            Violation::TooDeep => write!(f, "nested deeper than {MAX_DEPTH} levels"),
            Violation::UnsafeNumber => write!(
                f,
                "a number's magnitude is above 2^53 - 1, which JSON readers do not read alike"
            ),
            Violation::NotJsonRpc(why) => write!(f, "not a JSON-RPC 2.0 message: {why}"),
            Violation::InvalidParams(why) => write!(f, "invalid params: {why}"),
            Violation::TooLarge { limit } => write!(f, "longer than the limit of {limit} bytes"),
        }
    }
}

/// Checks the bytes of one frame (a stdio line with its line ending, or an HTTP body).
pub fn check(frame: &[u8]) -> Result<(), Violation> {
    if frame.starts_with(b"\xEF\xBB\xBF") {
        return Err(Violation::ByteOrderMark);
    }
    let body = frame
        .strip_suffix(b"\n")
        .map(|b| b.strip_suffix(b"\r").unwrap_or(b))
        .unwrap_or(frame);
    let text = std::str::from_utf8(body).map_err(|e| Violation::InvalidUtf8 {
        at: e.valid_up_to(),
    })?;
    let mut from = 0;
    while let Some(at) = memchr_cr(&body[from..]).map(|i| i + from) {
        if body.get(at + 1) != Some(&b'\n') {
            return Err(Violation::BareCarriageReturn { at });
        }
        from = at + 1;
    }
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = Strict {
        depth: 1,
        found: &found,
    };
    let parsed = seed.deserialize(&mut de).and_then(|()| de.end());
    match (found.into_inner(), parsed) {
        (Some(v), _) => Err(v),
        (None, Err(e)) => Err(Violation::Syntax(e.to_string())),
        (None, Ok(())) => Ok(()),
    }
}

fn memchr_cr(b: &[u8]) -> Option<usize> {
    b.iter().position(|c| *c == b'\r')
}

/// Checks every message of a strictly valid client frame (see [`check_message`]); an empty
/// batch is not a message.
pub fn check_envelope(env: &Envelope<'_>) -> Result<(), Violation> {
    if env.messages.is_empty() {
        return Err(Violation::NotJsonRpc("an empty batch"));
    }
    env.messages.iter().try_for_each(check_message)
}

/// Checks one message of a strictly valid client frame: `jsonrpc` is `"2.0"`, a request's id is
/// a string or an integer in canonical form within [`MAX_SAFE_INTEGER`], `method` is a string,
/// `params` an object or array, and the governed methods' params have the shape both SDKs
/// require (`tools/call` and `prompts/get`: a string `name`, `arguments` an object or absent;
/// `resources/read`: a string `uri`).
pub fn check_message(m: &Message<'_>) -> Result<(), Violation> {
    let Some((member, what)) = check_shape(m)? else {
        return Ok(());
    };
    let params: serde_json::Map<String, serde_json::Value> = m
        .params
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .ok_or(Violation::InvalidParams("params must be an object"))?;
    if !params.get(member).is_some_and(serde_json::Value::is_string) {
        return Err(Violation::InvalidParams(what));
    }
    match params.get("arguments") {
        None | Some(serde_json::Value::Null | serde_json::Value::Object(_)) => Ok(()),
        Some(_) => Err(Violation::InvalidParams(
            "arguments must be an object when present",
        )),
    }
}

/// [`check_message`] for a message whose `params` members were read in the same pass
/// (`p`, the one-pass reader's): the same verdicts on strictly valid JSON, without building
/// a tree of the arguments.
pub(crate) fn check_message_view(m: &Message<'_>, p: &ParamsView<'_>) -> Result<(), Violation> {
    let Some((member, what)) = check_shape(m)? else {
        return Ok(());
    };
    if !m.params.is_some_and(|p| p.get().starts_with('{')) {
        return Err(Violation::InvalidParams("params must be an object"));
    }
    let named = if member == "name" { p.name } else { p.uri };
    if !named.is_some_and(|n| n.get().starts_with('"')) {
        return Err(Violation::InvalidParams(what));
    }
    // `null` arguments are `None` in the view, as they pass here.
    match p.arguments {
        None => Ok(()),
        Some(a) if a.get().starts_with('{') => Ok(()),
        Some(_) => Err(Violation::InvalidParams(
            "arguments must be an object when present",
        )),
    }
}

/// The checks of [`check_message`] that need no params members; for a governed method, the
/// member it names (and how to say it is missing).
fn check_shape(m: &Message<'_>) -> Result<Option<(&'static str, &'static str)>, Violation> {
    if m.kind == Kind::Invalid {
        return Err(Violation::NotJsonRpc(
            "a message needs a string method, a result with an id, or an error",
        ));
    }
    if m.jsonrpc.map(|r| r.get()) != Some("\"2.0\"") {
        return Err(Violation::NotJsonRpc("\"jsonrpc\" must be \"2.0\""));
    }
    if let Some(id) = m.id
        && !id_is_exact(id.get(), m.kind)
    {
        return Err(Violation::NotJsonRpc(
            "an id must be a string or an integer within 2^53 - 1, written without fraction or exponent",
        ));
    }
    if let Some(p) = m.params
        && !(p.get().starts_with('{') || p.get().starts_with('['))
    {
        return Err(Violation::NotJsonRpc(
            "params must be an object or an array",
        ));
    }
    if m.kind != Kind::Request && m.kind != Kind::Notification {
        return Ok(None);
    }
    Ok(match m.method.as_deref() {
        Some("tools/call" | "prompts/get") => Some(("name", "a string name")),
        Some("resources/read" | "resources/subscribe" | "resources/unsubscribe") => {
            Some(("uri", "a string uri"))
        }
        _ => None,
    })
}

/// Whether a number's text passes the strict reading on its own (read by serde_json with the
/// same visitor as [`check`], so the one-pass reader's verdict on numbers is this one's).
pub(crate) fn number_is_safe(text: &str) -> bool {
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = Strict {
        depth: 1,
        found: &found,
    };
    seed.deserialize(&mut de).and_then(|()| de.end()).is_ok() && found.into_inner().is_none()
}

/// True for the ids both SDKs read alike: strings, and integers in canonical decimal form. A
/// response may also carry `null` (an error answering an unreadable request).
fn id_is_exact(raw: &str, kind: Kind) -> bool {
    let b = raw.as_bytes();
    match b.first() {
        Some(b'"') => true,
        Some(b'n') => raw == "null" && kind.is_response(),
        Some(b'-' | b'0'..=b'9') => {
            let digits = raw.strip_prefix('-').unwrap_or(raw);
            let canonical = !digits.is_empty()
                && digits.bytes().all(|c| c.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'))
                && raw != "-0";
            canonical && digits.parse::<u64>().is_ok_and(|n| n <= MAX_SAFE_INTEGER)
        }
        _ => false,
    }
}

/// A seed that reads one JSON value, recording the first violation in `found`.
#[derive(Clone, Copy)]
struct Strict<'f> {
    depth: usize,
    found: &'f RefCell<Option<Violation>>,
}

impl Strict<'_> {
    fn fail<E: serde::de::Error>(self, v: Violation) -> E {
        let msg = v.to_string();
        self.found.borrow_mut().get_or_insert(v);
        E::custom(msg)
    }

    fn deeper<E: serde::de::Error>(self) -> Result<Self, E> {
        if self.depth > MAX_DEPTH {
            return Err(self.fail(Violation::TooDeep));
        }
        Ok(Strict {
            depth: self.depth + 1,
            found: self.found,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<(), E> {
        if n > MAX_SAFE_INTEGER {
            return Err(self.fail(Violation::UnsafeNumber));
        }
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<(), E> {
        self.visit_u64(n.unsigned_abs())
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<(), E> {
        // serde_json reads integers beyond u64 as floats: magnitude decides for both.
        if !n.is_finite() || n.abs() > MAX_SAFE_INTEGER as f64 {
            return Err(self.fail(Violation::UnsafeNumber));
        }
        Ok(())
    }
    fn visit_borrowed_str<E>(self, _: &'de str) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.deeper()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.deeper()?;
        let mut names: Vec<Cow<'de, str>> = Vec::new();
        let mut set: Option<std::collections::HashSet<Cow<'de, str>>> = None;
        while let Some(name) = map.next_key_seed(Name)? {
            let dup = match &mut set {
                Some(s) => !s.insert(name.clone()),
                None => names.contains(&name),
            };
            if dup {
                return Err(self.fail(Violation::DuplicateMember {
                    name: name.into_owned(),
                }));
            }
            if set.is_none() {
                names.push(name);
                if names.len() > 16 {
                    set = Some(names.drain(..).collect());
                }
            }
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// Reads a member name, borrowed when it has no escapes.
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
}

#[cfg(test)]
#[path = "strict_tests.rs"]
mod tests;
