//! `Observability` fed synthetic records: each call is counted once on the record that closes
//! it, warden's own reply records are not calls, tool names stay bounded, and a denial burst
//! comes back as a gateway event to record.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use warden_audit::{AuditEvent, Outcome, SessionContext};
use warden_core::Direction;
use warden_observe::anomaly::AnomalyConfig;
use warden_observe::{Observability, ObserveConfig};
use warden_proxy::{FrameHints, Observer};

fn ctx() -> Arc<SessionContext> {
    Arc::new(SessionContext {
        server_name: Some("fs".into()),
        principal: Some("alice".into()),
        ..SessionContext::default()
    })
}

fn record(kind: &'static str, dir: Direction, tool: &str) -> AuditEvent {
    let mut ev = AuditEvent::gateway("s1".into(), ctx(), "");
    ev.event = None;
    ev.kind = kind;
    ev.direction = Some(dir);
    ev.method = Some("tools/call".into());
    ev.target = Some(tool.into());
    ev
}

fn request(tool: &str, exchange: uuid::Uuid) -> AuditEvent {
    let mut ev = record("request", Direction::C2S, tool);
    ev.exchange = Some(exchange);
    let frame = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{"path":"/x"}}}}}}"#
    );
    let args = frame.find(r#"{"path""#).unwrap();
    ev.args = Some(args..args + 11);
    ev.frame = Bytes::from(frame);
    ev
}

fn response(tool: &str, exchange: uuid::Uuid, outcome: Outcome) -> AuditEvent {
    let mut ev = record("result", Direction::S2C, tool);
    ev.exchange = Some(exchange);
    ev.duration_us = Some(1500);
    ev.outcome = Some(outcome);
    ev
}

fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix(prefix))
}

#[test]
fn each_call_is_counted_once_and_replies_of_warden_are_not_calls() {
    let o = Observability::new(ObserveConfig::default(), None);
    let x = uuid::Uuid::now_v7();
    o.observe(&[request("read_file", x)], FrameHints::default());
    o.observe(
        &[response("read_file", x, Outcome::Ok)],
        FrameHints::default(),
    );
    // A refused request and warden's reply to it: one denied call.
    let mut denied = request("delete_file", uuid::Uuid::now_v7());
    denied.exchange = None;
    denied.outcome = Some(Outcome::Denied);
    let mut reply = record("error", Direction::S2C, "delete_file");
    reply.outcome = Some(Outcome::Denied);
    o.observe(&[denied, reply], FrameHints::default());
    let text = o.metrics().encode();
    // Neither tool came from configuration or tools/list: both are `other`.
    assert_eq!(
        line(
            &text,
            r#"mcp_tool_calls_total{tool_name="other",server_id="fs",status="ok",user_id="alice"} "#
        ),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        line(
            &text,
            r#"mcp_tool_calls_total{tool_name="other",server_id="fs",status="denied",user_id="alice"} "#
        ),
        Some("1")
    );
    assert_eq!(
        line(
            &text,
            r#"mcp_access_denied_total{tool_name="other",server_id="fs",user_id="alice"} "#
        ),
        Some("1")
    );
    assert!(line(&text, "mcp_tool_call_duration_seconds_count{").is_some());
}

#[test]
fn tool_names_come_from_tools_list_up_to_the_cap() {
    let o = Observability::new(
        ObserveConfig {
            tool_cap: 2,
            tools: vec!["configured".into()],
            ..ObserveConfig::default()
        },
        None,
    );
    let mut listed = record("result", Direction::S2C, "");
    listed.method = Some("tools/list".into());
    listed.target = None;
    let frame =
        r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"listed"},{"name":"third"}]}}"#;
    let body = frame.find(r#"{"tools""#).unwrap();
    listed.body = Some(body..frame.len() - 1);
    listed.frame = Bytes::from_static(frame.as_bytes());
    o.observe(&[listed], FrameHints::default());
    for tool in ["configured", "listed", "third"] {
        let x = uuid::Uuid::now_v7();
        o.observe(&[request(tool, x)], FrameHints::default());
        o.observe(&[response(tool, x, Outcome::Ok)], FrameHints::default());
    }
    let text = o.metrics().encode();
    assert!(text.contains(r#"tool_name="configured",server_id="fs",status="ok""#));
    assert!(text.contains(r#"tool_name="listed",server_id="fs",status="ok""#));
    assert!(!text.contains(r#"tool_name="third""#), "{text}");
    assert!(text.contains(r#"tool_name="other""#));
}

#[test]
fn a_denial_burst_comes_back_as_an_event_to_record() {
    let o = Observability::new(
        ObserveConfig {
            anomaly: Some(AnomalyConfig {
                denial_burst: 3,
                ..AnomalyConfig::default()
            }),
            ..ObserveConfig::default()
        },
        None,
    );
    let mut found = Vec::new();
    for _ in 0..5 {
        let mut denied = request("delete_file", uuid::Uuid::now_v7());
        denied.outcome = Some(Outcome::Denied);
        found.extend(o.observe(&[denied], FrameHints::default()));
    }
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "anomaly");
    assert_eq!(found[0].1["kind"], "denial_burst");
    assert_eq!(found[0].1["key"], "alice");
    assert!(
        o.metrics()
            .encode()
            .contains(r#"warden_anomalies_total{kind="denial_burst"} 1"#)
    );
}

/// A one-connection-at-a-time OTLP/HTTP endpoint: each request body is sent on the channel.
fn collector() -> (String, std::sync::mpsc::Receiver<Vec<u8>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { return };
            let mut r = BufReader::new(conn);
            loop {
                let mut len = 0;
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 2 {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    line.clear();
                }
                if line.is_empty() {
                    break;
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                r.get_mut().write_all(reply.as_bytes()).unwrap();
                let _sent = tx.send(body);
            }
        }
    });
    (url, rx)
}

#[test]
fn a_transport_traceparent_wins_over_the_one_in_meta() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    use warden_observe::trace::{TraceConfig, Tracer};

    let (url, bodies) = collector();
    let o = Observability::new(ObserveConfig::default(), None);
    let tracer = Tracer::start(
        TraceConfig {
            endpoint: url,
            ..TraceConfig::default()
        },
        o.trace_stats(),
    )
    .unwrap();
    let o = o.with_tracer(tracer);
    let x = uuid::Uuid::now_v7();
    let mut req = request("read_file", x);
    let frame = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","_meta":{"traceparent":"00-11111111111111111111111111111111-2222222222222222-01"}}}"#;
    let params = frame.find(r#"{"name""#).unwrap();
    req.body = Some(params..frame.len() - 1);
    req.args = None;
    req.frame = Bytes::from_static(frame.as_bytes());
    let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    o.observe(
        &[req],
        FrameHints {
            traceparent: Some(header),
        },
    );
    o.observe(
        &[response("read_file", x, Outcome::Ok)],
        FrameHints::default(),
    );
    o.shutdown(std::time::Duration::from_secs(5));
    let body = bodies
        .recv_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let req = ExportTraceServiceRequest::decode(&body[..]).unwrap();
    let span = &req.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.name, "tools/call read_file");
    assert_eq!(hex(&span.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex(&span.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(
        span.end_time_unix_nano - span.start_time_unix_nano,
        1_500_000
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
