//! The encoder's bytes decoded with the official OTLP definitions (`opentelemetry-proto`'s
//! prost types) and compared field by field.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span as Proto;
use proptest::prelude::*;
use prost::Message;

use super::Encoder;
use crate::span::{Kind, Span, SpanId, Status, TraceId, Value};

fn decode(bytes: &[u8]) -> ExportTraceServiceRequest {
    let req = ExportTraceServiceRequest::decode(bytes).expect("decodes");
    // Nothing more and nothing less than prost would write for the same message.
    assert_eq!(req.encoded_len(), bytes.len());
    req
}

fn attrs(p: &Proto) -> Vec<(String, String)> {
    p.attributes
        .iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => panic!("{}: not a string value: {other:?}", kv.key),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

/// Every field of `p` against `s`.
fn same(p: &Proto, s: &Span) {
    assert_eq!(p.trace_id, s.trace_id.to_bytes());
    assert_eq!(p.span_id, s.span_id.to_bytes());
    assert_eq!(p.trace_state, "");
    let (parent, flags) = match s.parent {
        Some((id, true)) => (id.to_bytes().to_vec(), 0x301),
        Some((id, false)) => (id.to_bytes().to_vec(), 0x101),
        None => (Vec::new(), 0x101),
    };
    assert_eq!(p.parent_span_id, parent);
    assert_eq!(p.flags, flags);
    assert_eq!(p.name, s.str(&s.name).unwrap());
    assert_eq!(p.kind, s.kind as i32);
    assert_eq!(p.start_time_unix_nano, s.start_ns);
    assert_eq!(p.end_time_unix_nano, s.end_ns);
    let want: Vec<(String, String)> = s
        .attributes()
        .iter()
        .map(|(k, _)| ((*k).to_owned(), s.get(k).unwrap()))
        .collect();
    assert_eq!(attrs(p), want);
    assert_eq!(p.dropped_attributes_count, 0);
    assert!(p.events.is_empty() && p.links.is_empty());
    assert_eq!((p.dropped_events_count, p.dropped_links_count), (0, 0));
    let status = p.status.as_ref().expect("status is written");
    let (code, message) = match s.status {
        Status::Unset => (0, ""),
        Status::Ok => (1, ""),
        Status::Error(m) => (2, m),
    };
    assert_eq!((status.code, status.message.as_str()), (code, message));
}

fn exchange_span(parent: Option<(SpanId, bool)>, status: Status) -> Span {
    let mut s = Span::new(TraceId::random(), SpanId::random(), Kind::Server, 16, 64);
    s.parent = parent;
    s.name = s.push_text(&["tools/call", " ", "get_employee"]);
    s.start_ns = 1_764_000_000_000_000_000;
    s.end_ns = s.start_ns + 1_500_000;
    s.status = status;
    s.attribute("mcp.method.name", Value::Static("tools/call"));
    s.attribute("mcp.session.id", Value::Shared(Arc::from("0192-session")));
    s.attribute("warden.audit.record_id", Value::Uuid(uuid::Uuid::now_v7()));
    let tool = s.push_text(&["get_employee"]);
    s.attribute("gen_ai.tool.name", tool);
    s.attribute("rpc.response.status_code", Value::Decimal(-32602));
    s
}

#[test]
fn a_batch_decodes_with_the_official_definitions() {
    let mut e = Encoder::new("warden", "0.1.0", "warden", "0.1.0");
    let remote = SpanId::from_hex("00f067aa0ba902b7");
    let spans = vec![
        exchange_span(remote.map(|p| (p, true)), Status::Error("invalid_params")),
        exchange_span(None, Status::Unset),
        exchange_span(remote.map(|p| (p, false)), Status::Ok),
    ];
    let req = decode(&e.encode(&spans));
    assert_eq!(req.resource_spans.len(), 1);
    let rs = &req.resource_spans[0];
    assert_eq!(rs.schema_url, "");
    let resource = rs.resource.as_ref().unwrap();
    let res: Vec<(String, String)> = resource
        .attributes
        .iter()
        .map(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => (kv.key.clone(), s.clone()),
                other => panic!("{other:?}"),
            },
        )
        .collect();
    assert_eq!(
        res,
        [
            ("service.name".to_owned(), "warden".to_owned()),
            ("service.version".to_owned(), "0.1.0".to_owned())
        ]
    );
    assert_eq!(resource.dropped_attributes_count, 0);
    assert_eq!(rs.scope_spans.len(), 1);
    let ss = &rs.scope_spans[0];
    assert_eq!(ss.schema_url, "");
    let scope = ss.scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("warden", "0.1.0")
    );
    assert!(scope.attributes.is_empty());
    assert_eq!(ss.spans.len(), 3);
    for (p, s) in ss.spans.iter().zip(&spans) {
        same(p, s);
    }
    // The buffers are reused: a second batch is encoded from scratch.
    let again = decode(&e.encode(&spans[1..2]));
    let ss = &again.resource_spans[0].scope_spans[0];
    assert_eq!(ss.spans.len(), 1);
    same(&ss.spans[0], &spans[1]);
    // An empty batch is a well-formed request with no spans.
    let empty = decode(&e.encode(&[]));
    assert!(empty.resource_spans[0].scope_spans[0].spans.is_empty());
}

#[test]
fn long_lengths_take_several_varint_bytes() {
    let mut e = Encoder::new(&"s".repeat(200), "1", "warden", "1");
    let mut s = exchange_span(None, Status::Error("gateway_error"));
    let long = "é".repeat(10_000);
    s.name = s.push_text(&["tools/call ", &long]);
    let v = s.push_text(&["x".repeat(130).as_str()]);
    s.attribute("warden.target", v);
    // 600 spans of ~20 kB: the request is over 2^21 bytes (a four-byte length).
    let spans = vec![s; 600];
    let bytes = e.encode(&spans);
    assert!(bytes.len() > 1 << 21);
    let req = decode(&bytes);
    let rs = &req.resource_spans[0];
    assert_eq!(rs.scope_spans[0].spans.len(), 600);
    for p in &rs.scope_spans[0].spans {
        same(p, &spans[0]);
    }
}

proptest! {
    #[test]
    fn any_span_decodes_to_what_it_holds(
        trace in any::<[u8; 16]>(),
        id in any::<[u8; 8]>(),
        parent in proptest::option::of((any::<[u8; 8]>(), any::<bool>())),
        name in ".{0,300}",
        start in any::<u64>(),
        end in any::<u64>(),
        texts in proptest::collection::vec(".{0,200}", 0..12),
        code in any::<i64>(),
        status in 0..3u8,
    ) {
        let (Some(trace), Some(id)) = (TraceId::from_bytes(trace), SpanId::from_bytes(id)) else {
            return Ok(());
        };
        let mut s = Span::new(trace, id, Kind::Client, texts.len() + 2, 0);
        s.parent = parent.and_then(|(p, remote)| SpanId::from_bytes(p).map(|p| (p, remote)));
        s.name = s.push_text(&[name.as_str()]);
        s.start_ns = start;
        s.end_ns = end;
        s.status = [Status::Unset, Status::Ok, Status::Error("rpc_error")][usize::from(status)];
        const KEYS: [&str; 12] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
        for (k, t) in KEYS.iter().zip(&texts) {
            let v = s.push_text(&[t.as_str()]);
            s.attribute(k, v);
        }
        s.attribute("code", Value::Decimal(code));
        s.attribute("id", Value::Uuid(uuid::Uuid::from_bytes(trace.to_bytes())));
        let req = decode(&Encoder::new("warden", "v", "warden", "v").encode(std::slice::from_ref(&s)));
        same(&req.resource_spans[0].scope_spans[0].spans[0], &s);
    }
}
