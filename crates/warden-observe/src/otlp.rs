//! The OTLP protobuf encoding of a batch of [`Span`]s: one `ExportTraceServiceRequest` with one
//! `ResourceSpans` (warden's resource) holding one `ScopeSpans` (warden's scope), written by
//! hand from the field numbers of the official `.proto` files (opentelemetry-proto:
//! `collector/trace/v1/trace_service.proto`, `trace/v1/trace.proto`, `common/v1/common.proto`,
//! `resource/v1/resource.proto`). Fields at their default value are left out, as proto3
//! encoders do; `Span.status` is always written, as the OpenTelemetry SDK's conversion did.
//! The unit tests decode what this writes with the official definitions (prost) and compare
//! it field by field.

use crate::span::{Span, Status};

/// Protobuf wire types.
const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

/// `SpanFlags`: the low byte is the W3C trace flags (sampled: 1); the next two bits say the
/// span knows whether its parent is remote, and that it is.
const FLAG_SAMPLED: u32 = 0x01;
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;

/// Encodes batches for one resource and scope. It keeps its buffers between batches.
pub struct Encoder {
    /// `ResourceSpans.resource` (field 1), encoded once.
    resource: Vec<u8>,
    /// `ScopeSpans.scope` (field 1), encoded once.
    scope: Vec<u8>,
    /// The batch's `ScopeSpans.spans` fields.
    spans: Vec<u8>,
}

impl Encoder {
    /// `service.name` and `service.version` on the resource; the scope's name and version.
    pub fn new(service_name: &str, service_version: &str, scope: &str, version: &str) -> Encoder {
        // Resource { attributes = 1 }
        let mut attrs = Vec::new();
        key_value(&mut attrs, 1, "service.name", service_name);
        key_value(&mut attrs, 1, "service.version", service_version);
        let mut resource = Vec::new();
        bytes_field(&mut resource, 1, &attrs);
        // InstrumentationScope { name = 1, version = 2 }
        let mut s = Vec::new();
        string_field(&mut s, 1, scope);
        string_field(&mut s, 2, version);
        let mut scope = Vec::new();
        bytes_field(&mut scope, 1, &s);
        Encoder {
            resource,
            scope,
            spans: Vec::new(),
        }
    }

    /// One `ExportTraceServiceRequest` holding `spans`.
    pub fn encode(&mut self, spans: &[Span]) -> Vec<u8> {
        self.spans.clear();
        for s in spans {
            // ScopeSpans { spans = 2 }: the length first, so the span is written in place.
            let len = span_len(s);
            tag(&mut self.spans, 2, LEN);
            varint(&mut self.spans, len as u64);
            let at = self.spans.len();
            span(&mut self.spans, s);
            debug_assert_eq!(self.spans.len() - at, len, "span_len disagrees with span");
        }
        // ScopeSpans { scope = 1, spans = 2 }
        let scope_spans = self.scope.len() + self.spans.len();
        // ResourceSpans { resource = 1, scope_spans = 2 }
        let resource_spans = self.resource.len() + field_len(2, scope_spans);
        // ExportTraceServiceRequest { resource_spans = 1 }
        let mut out = Vec::with_capacity(field_len(1, resource_spans));
        tag(&mut out, 1, LEN);
        varint(&mut out, resource_spans as u64);
        out.extend_from_slice(&self.resource);
        tag(&mut out, 2, LEN);
        varint(&mut out, scope_spans as u64);
        out.extend_from_slice(&self.scope);
        out.extend_from_slice(&self.spans);
        out
    }
}

/// The size of what [`span`] writes for `s`.
fn span_len(s: &Span) -> usize {
    let mut buf = [0; 40];
    let name = s.render(&s.name, &mut buf).len();
    let mut n = field_len(1, 16) + field_len(2, 8);
    if s.parent.is_some() {
        n += field_len(4, 8);
    }
    if name > 0 {
        n += field_len(5, name);
    }
    n += 1 + varint_len(s.kind as u64);
    n += [s.start_ns, s.end_ns].iter().filter(|t| **t != 0).count() * 9;
    for (k, v) in s.attributes() {
        n += field_len(9, key_value_len(k.len(), s.render(v, &mut buf).len()));
    }
    let (code, message) = status(s);
    n += field_len(15, status_len(code, message));
    n + 2 + 4
}

/// `Status`'s code and message.
fn status(s: &Span) -> (u64, &'static str) {
    match s.status {
        Status::Unset => (0, ""),
        Status::Ok => (1, ""),
        Status::Error(m) => (2, m),
    }
}

/// The size of a `Status { message = 2, code = 3 }`.
fn status_len(code: u64, message: &str) -> usize {
    let m = if message.is_empty() {
        0
    } else {
        field_len(2, message.len())
    };
    m + if code == 0 { 0 } else { 1 + varint_len(code) }
}

/// `Span`'s fields, in field-number order.
fn span(out: &mut Vec<u8>, s: &Span) {
    bytes_field(out, 1, &s.trace_id.to_bytes());
    bytes_field(out, 2, &s.span_id.to_bytes());
    // trace_state = 3: empty.
    if let Some((parent, _)) = s.parent {
        bytes_field(out, 4, &parent.to_bytes());
    }
    let mut buf = [0; 40];
    let name = s.render(&s.name, &mut buf);
    if !name.is_empty() {
        string_field(out, 5, name);
    }
    tag(out, 6, VARINT);
    varint(out, s.kind as u64);
    for (field, ns) in [(7, s.start_ns), (8, s.end_ns)] {
        if ns != 0 {
            tag(out, field, I64);
            out.extend_from_slice(&ns.to_le_bytes());
        }
    }
    for (k, v) in s.attributes() {
        key_value(out, 9, k, s.render(v, &mut buf));
    }
    // dropped counts (10, 12, 14), events (11), links (13): none.
    // Status { message = 2, code = 3 }
    let (code, message) = status(s);
    tag(out, 15, LEN);
    varint(out, status_len(code, message) as u64);
    if !message.is_empty() {
        string_field(out, 2, message);
    }
    if code != 0 {
        tag(out, 3, VARINT);
        varint(out, code);
    }
    let flags = FLAG_SAMPLED
        | FLAG_HAS_IS_REMOTE
        | match s.parent {
            Some((_, true)) => FLAG_IS_REMOTE,
            _ => 0,
        };
    tag(out, 16, I32);
    out.extend_from_slice(&flags.to_le_bytes());
}

/// A `KeyValue { key = 1, value = 2: AnyValue { string_value = 1 } }` as field `field`.
fn key_value(out: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    tag(out, field, LEN);
    varint(out, key_value_len(key.len(), value.len()) as u64);
    string_field(out, 1, key);
    tag(out, 2, LEN);
    varint(out, field_len(1, value.len()) as u64);
    string_field(out, 1, value);
}

/// The size of a string `KeyValue`'s message.
fn key_value_len(key: usize, value: usize) -> usize {
    field_len(1, key) + field_len(2, field_len(1, value))
}

fn string_field(out: &mut Vec<u8>, field: u32, s: &str) {
    bytes_field(out, field, s.as_bytes());
}

fn bytes_field(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    tag(out, field, LEN);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, u64::from(field) << 3 | u64::from(wire));
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    // One byte per 7 bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// The size of a length-delimited field `field` holding `len` bytes.
fn field_len(field: u32, len: usize) -> usize {
    varint_len(u64::from(field) << 3) + varint_len(len as u64) + len
}

#[cfg(test)]
#[path = "otlp_tests.rs"]
mod tests;
