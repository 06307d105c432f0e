//! The lazy JSON-RPC envelope: one frame's top-level members as raw JSON, no value tree.
//!
//! `parse_frame` finds `id`, `method`, `params`, `result` and `error` of a message (or of each
//! element of a 2025-03-26 batch) as borrowed `RawValue`s pointing into the frame, so the bytes
//! forwarded are the bytes received and large payloads are scanned once, never copied.
//! It never panics on any input.

use std::borrow::Cow;
use std::ops::Range;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// What one JSON-RPC message (or frame) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `method` and `id`: expects a response.
    Request,
    /// `method` without `id`.
    Notification,
    /// `result` and `id`.
    Result,
    /// `error` (the `id` may be `null` or missing).
    Error,
    /// A JSON array of messages (2025-03-26 only); its elements are classified on their own.
    Batch,
    /// Valid JSON that is not a JSON-RPC message.
    Invalid,
    /// Not JSON at all (or not UTF-8).
    Unparseable,
}

impl Kind {
    /// The stable text form used in audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Notification => "notification",
            Kind::Result => "result",
            Kind::Error => "error",
            Kind::Batch => "batch",
            Kind::Invalid => "invalid",
            Kind::Unparseable => "unparseable",
        }
    }

    /// True for the kinds that answer a request.
    pub fn is_response(self) -> bool {
        matches!(self, Kind::Result | Kind::Error)
    }
}

/// Why a frame could not be parsed as JSON.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("frame is empty")]
    Empty,
    #[error("frame is not valid JSON: {0}")]
    Json(String),
}

/// One JSON-RPC message inside a frame, with its members as raw JSON.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub kind: Kind,
    /// The raw `jsonrpc` member (`"2.0"` in every valid message).
    pub jsonrpc: Option<&'a RawValue>,
    /// The raw `id` member, `null` included.
    pub id: Option<&'a RawValue>,
    pub method: Option<Cow<'a, str>>,
    pub params: Option<&'a RawValue>,
    pub result: Option<&'a RawValue>,
    pub error: Option<&'a RawValue>,
}

/// A parsed frame: the message it holds, or the messages of a batch.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    /// The bytes that were parsed (the frame without its line ending).
    pub body: &'a [u8],
    /// `Batch`, or the kind of the single message.
    pub kind: Kind,
    /// One message, or each element of a batch in order.
    pub messages: Vec<Message<'a>>,
}

impl Envelope<'_> {
    /// The single message of a non-batch frame.
    pub fn first(&self) -> Option<&Message<'_>> {
        self.messages.first()
    }
}

/// A message's top-level members as serde reads them (`null` is `None` except for `id` and
/// `result`); the one-pass reader (`crate::read`) fills the same struct.
#[derive(Deserialize, Default)]
pub(crate) struct RawMessage<'a> {
    #[serde(default, borrow)]
    pub(crate) jsonrpc: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw_keep_null")]
    pub(crate) id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(crate) method: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(crate) params: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw_keep_null")]
    pub(crate) result: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(crate) error: Option<&'a RawValue>,
}

/// `Option<&RawValue>` maps JSON `null` to `None`; ids and results must keep it.
fn raw_keep_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Strips the line ending and a UTF-8 byte order mark, as stdio peers tolerate them.
pub fn trim_frame(frame: &[u8]) -> &[u8] {
    let mut f = frame;
    while let [rest @ .., b'\n' | b'\r'] = f {
        f = rest;
    }
    f.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(f)
}

/// Parses one frame (a stdio line or an HTTP body) into its envelope.
pub fn parse_frame(frame: &[u8]) -> Result<Envelope<'_>, ParseError> {
    let body = trim_frame(frame);
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let Some(first) = first else {
        return Err(ParseError::Empty);
    };
    let text = std::str::from_utf8(body).map_err(|e| ParseError::Json(e.to_string()))?;
    if *first == b'[' {
        let elements: Vec<&RawValue> =
            serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))?;
        let messages = elements.into_iter().map(message_of).collect();
        return Ok(Envelope {
            body,
            kind: Kind::Batch,
            messages,
        });
    }
    // One pass for the usual case: an object parsed straight into its members. Only when that
    // fails is the text checked again, to tell valid-but-not-JSON-RPC from not JSON at all.
    let message = match serde_json::from_str::<RawMessage<'_>>(text) {
        Ok(raw) if *first == b'{' => message_from(raw),
        _ => {
            let value: &RawValue =
                serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))?;
            message_of(value)
        }
    };
    Ok(Envelope {
        body,
        kind: message.kind,
        messages: vec![message],
    })
}

pub(crate) fn invalid<'a>() -> Message<'a> {
    Message {
        kind: Kind::Invalid,
        jsonrpc: None,
        id: None,
        method: None,
        params: None,
        result: None,
        error: None,
    }
}

fn message_of(value: &RawValue) -> Message<'_> {
    if !value.get().starts_with('{') {
        return invalid();
    }
    let Ok(raw) = serde_json::from_str::<RawMessage<'_>>(value.get()) else {
        return invalid();
    };
    message_from(raw)
}

pub(crate) fn message_from(raw: RawMessage<'_>) -> Message<'_> {
    let method = match raw.method {
        Some(m) => match serde_json::from_str::<Cow<'_, str>>(m.get()) {
            Ok(m) => Some(m),
            Err(_) => return invalid(),
        },
        None => None,
    };
    let id_present = raw.id.is_some_and(|id| id.get() != "null");
    let kind = if method.is_some() {
        if id_present {
            Kind::Request
        } else {
            Kind::Notification
        }
    } else if raw.error.is_some() {
        Kind::Error
    } else if raw.result.is_some() && id_present {
        Kind::Result
    } else {
        Kind::Invalid
    };
    Message {
        kind,
        jsonrpc: raw.jsonrpc,
        id: raw.id,
        method,
        params: raw.params,
        result: raw.result,
        error: raw.error,
    }
}

/// Where a raw value borrowed from `frame` sits inside it, so that a consumer holding the
/// owned frame can find the same bytes later. `None` if `raw` does not point into `frame`.
pub fn span_in(frame: &[u8], raw: &RawValue) -> Option<Range<usize>> {
    let base = frame.as_ptr() as usize;
    let start = (raw.get().as_ptr() as usize).checked_sub(base)?;
    let end = start.checked_add(raw.get().len())?;
    (end <= frame.len()).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Kind {
        parse_frame(s.as_bytes())
            .map(|e| e.kind)
            .unwrap_or(Kind::Unparseable)
    }

    #[test]
    fn classifies_each_kind() {
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Kind::Request
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Kind::Notification
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Kind::Result
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":7,"result":null}"#),
            Kind::Result
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#),
            Kind::Error
        );
        assert_eq!(
            kind(r#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]"#),
            Kind::Batch
        );
        assert_eq!(kind(r#"{"hello":1}"#), Kind::Invalid);
        assert_eq!(kind(r#"{"method":5,"id":1}"#), Kind::Invalid);
        assert_eq!(kind("42"), Kind::Invalid);
        assert_eq!(kind("not json"), Kind::Unparseable);
        assert!(matches!(parse_frame(b"\r\n"), Err(ParseError::Empty)));
    }

    #[test]
    fn tolerates_crlf_and_bom_and_keeps_raw_members() {
        let frame = b"\xEF\xBB\xBF{\"jsonrpc\":\"2.0\",\"id\":1.0,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}\r\n";
        let env = parse_frame(frame).unwrap();
        let m = env.first().unwrap();
        assert_eq!(m.kind, Kind::Request);
        assert_eq!(m.id.unwrap().get(), "1.0");
        assert_eq!(m.params.unwrap().get(), r#"{"name":"x"}"#);
        let span = span_in(frame, m.params.unwrap()).unwrap();
        assert_eq!(&frame[span], br#"{"name":"x"}"#);
    }

    #[test]
    fn batch_elements_are_messages() {
        let env = parse_frame(br#"[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"error":{"code":1,"message":"m"}},3]"#).unwrap();
        let kinds: Vec<Kind> = env.messages.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, vec![Kind::Result, Kind::Error, Kind::Invalid]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _parsed = parse_frame(&bytes);
        }

        #[test]
        fn never_panics_on_jsonish(s in r#"[\[\]{}":,0-9a-z \\]{0,64}"#) {
            let _parsed = parse_frame(s.as_bytes());
        }
    }
}
