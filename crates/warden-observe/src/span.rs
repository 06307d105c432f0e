//! The span warden records for one exchange, and the W3C ids it carries. A `Span` is made on
//! the data path with no tracing SDK: fixed-size ids and times, and typed attribute values
//! whose text is either static, shared, rendered later (record ids, error codes) or kept in
//! the span's one text buffer. Encoding it for export is [`crate::otlp`]'s job.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// A W3C trace id: 16 bytes, not all zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceId([u8; 16]);

/// A W3C span id: 8 bytes, not all zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpanId([u8; 8]);

impl TraceId {
    /// `None` for all zeros (the invalid id).
    pub fn from_bytes(b: [u8; 16]) -> Option<TraceId> {
        (b != [0; 16]).then_some(TraceId(b))
    }

    /// A random id (never zero).
    pub fn random() -> TraceId {
        loop {
            if let Some(id) = TraceId::from_bytes(rand::random()) {
                return id;
            }
        }
    }

    /// 32 lower-case hex digits, not all zero.
    pub fn from_hex(s: &str) -> Option<TraceId> {
        TraceId::from_bytes(lower_hex(s)?)
    }

    pub fn to_bytes(self) -> [u8; 16] {
        self.0
    }
}

impl SpanId {
    /// `None` for all zeros (the invalid id).
    pub fn from_bytes(b: [u8; 8]) -> Option<SpanId> {
        (b != [0; 8]).then_some(SpanId(b))
    }

    /// A random id (never zero).
    pub fn random() -> SpanId {
        loop {
            if let Some(id) = SpanId::from_bytes(rand::random()) {
                return id;
            }
        }
    }

    /// 16 lower-case hex digits, not all zero.
    pub fn from_hex(s: &str) -> Option<SpanId> {
        SpanId::from_bytes(lower_hex(s)?)
    }

    pub fn to_bytes(self) -> [u8; 8] {
        self.0
    }
}

/// Exactly `2 * N` lower-case hex digits.
fn lower_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

fn write_hex(f: &mut fmt::Formatter<'_>, b: &[u8]) -> fmt::Result {
    for x in b {
        write!(f, "{x:02x}")?;
    }
    Ok(())
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

/// OTLP's span kinds (`Span.SpanKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

/// A span's status (`Status`): unset, ok, or an error with its description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Unset,
    Ok,
    Error(&'static str),
}

/// An attribute's value. All are exported as OTLP string values; the typed ones are rendered
/// only when encoded, on the export thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Static(&'static str),
    /// Text shared with the caller (a session id), by reference count.
    Shared(Arc<str>),
    /// A range of the span's own text buffer.
    Text(Range<u32>),
    /// A UUID, as its 36-character hyphenated lower-case form.
    Uuid(uuid::Uuid),
    /// An integer, as its decimal text.
    Decimal(i64),
}

/// One finished span.
#[derive(Clone, Debug)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// The parent span, and whether it is remote (another process's).
    pub parent: Option<(SpanId, bool)>,
    pub name: Value,
    pub kind: Kind,
    pub start_ns: u64,
    pub end_ns: u64,
    pub status: Status,
    attributes: Vec<(&'static str, Value)>,
    text: String,
}

impl Span {
    /// A span without name text or attributes; `attributes` and `text` are the capacities to
    /// reserve (so building it allocates once for each, or not at all).
    pub fn new(
        trace_id: TraceId,
        span_id: SpanId,
        kind: Kind,
        attributes: usize,
        text: usize,
    ) -> Span {
        Span {
            trace_id,
            span_id,
            parent: None,
            name: Value::Static(""),
            kind,
            start_ns: 0,
            end_ns: 0,
            status: Status::Unset,
            attributes: Vec::with_capacity(attributes),
            text: String::with_capacity(text),
        }
    }

    /// Appends `parts` to the span's text as one piece: the `Value` of that piece.
    pub fn push_text(&mut self, parts: &[&str]) -> Value {
        let start = self.text.len();
        for p in parts {
            self.text.push_str(p);
        }
        Value::Text(offset(start)..offset(self.text.len()))
    }

    pub fn attribute(&mut self, key: &'static str, value: Value) {
        self.attributes.push((key, value));
    }

    pub fn attributes(&self) -> &[(&'static str, Value)] {
        &self.attributes
    }

    /// The text of a string-like value (`None` for `Uuid` and `Decimal`, which are rendered
    /// by [`Span::render`]). A range outside the span's text reads as empty.
    pub fn str<'a>(&'a self, v: &'a Value) -> Option<&'a str> {
        match v {
            Value::Static(s) => Some(s),
            Value::Shared(s) => Some(s),
            Value::Text(r) => Some(
                self.text
                    .get(r.start as usize..r.end as usize)
                    .unwrap_or_default(),
            ),
            Value::Uuid(_) | Value::Decimal(_) => None,
        }
    }

    /// The text of any value, rendered into `buf` when it has to be.
    pub fn render<'a>(&'a self, v: &'a Value, buf: &'a mut [u8; 40]) -> &'a str {
        match v {
            Value::Uuid(u) => u.hyphenated().encode_lower(&mut buf[..]),
            Value::Decimal(n) => decimal(*n, buf),
            other => self.str(other).unwrap_or_default(),
        }
    }

    /// The value of the first attribute named `key`, rendered.
    pub fn get(&self, key: &str) -> Option<String> {
        let (_, v) = self.attributes.iter().find(|(k, _)| *k == key)?;
        Some(self.render(v, &mut [0; 40]).to_owned())
    }
}

/// Text offsets are `u32`: a span's text is a few names and ids, never 4 GiB.
fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `n` in decimal, written at the end of `buf`.
fn decimal(n: i64, buf: &mut [u8; 40]) -> &str {
    let mut i = buf.len();
    let mut m = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    std::str::from_utf8(&buf[i..]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_and_print_lower_case_hex_and_refuse_zero() {
        let t = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        assert_eq!(t.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let s = SpanId::from_hex("00f067aa0ba902b7").unwrap();
        assert_eq!(s.to_string(), "00f067aa0ba902b7");
        assert_eq!(s.to_bytes(), [0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
        assert_eq!(TraceId::from_hex(&"0".repeat(32)), None);
        assert_eq!(SpanId::from_hex(&"0".repeat(16)), None);
        assert_eq!(SpanId::from_hex("00F067AA0BA902B7"), None);
        assert_eq!(SpanId::from_hex("00f067aa0ba902b"), None);
        assert_eq!(SpanId::from_hex("00f067aa0ba902bg"), None);
        assert_ne!(TraceId::random(), TraceId::random());
    }

    #[test]
    fn values_render_as_their_text() {
        let mut s = Span::new(TraceId::random(), SpanId::random(), Kind::Server, 4, 32);
        let name = s.push_text(&["tools/call", " ", "read_file"]);
        let Value::Text(r) = &name else {
            panic!("{name:?}")
        };
        let tool = Value::Text(r.start + 11..r.end);
        s.attribute("tool", tool);
        s.attribute("session", Value::Shared(Arc::from("s-1")));
        let id = uuid::Uuid::now_v7();
        s.attribute("id", Value::Uuid(id));
        s.attribute("code", Value::Decimal(-32602));
        s.attribute("zero", Value::Decimal(0));
        s.attribute("min", Value::Decimal(i64::MIN));
        assert_eq!(s.str(&name), Some("tools/call read_file"));
        assert_eq!(s.get("tool").as_deref(), Some("read_file"));
        assert_eq!(s.get("session").as_deref(), Some("s-1"));
        assert_eq!(s.get("id"), Some(id.to_string()));
        assert_eq!(s.get("code").as_deref(), Some("-32602"));
        assert_eq!(s.get("zero").as_deref(), Some("0"));
        assert_eq!(s.get("min"), Some(i64::MIN.to_string()));
        assert_eq!(s.str(&Value::Text(30..40)), Some(""));
    }
}
