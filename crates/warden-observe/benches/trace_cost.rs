//! What tracing every exchange costs: one `tools/call` exchange (its request record, then its
//! response record) through `Observability::observe`, without a tracer and with one exporting
//! to an OTLP/HTTP sink in this process that reads each request and answers 200.
//!
//! Group `exchange_thread_cpu` counts the calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`):
//! the data path alone. Group `exchange_process_cpu` counts the whole process's
//! (`CLOCK_PROCESS_CPUTIME_ID`): the data path plus the export thread (encoding and posting each
//! batch) plus the sink reading it, so traced minus off is the whole cost of a span. Time spent
//! preempted on a shared machine counts in neither. The tracer's queue is made large enough that
//! no span is dropped (dropped spans would cost less than exported ones); the bench says so if
//! any was. Both figures include making the two records (the same with and without a tracer):
//! read the difference.
//!
//! Group `encode_thread_cpu`: the export thread's encoding alone, a batch of 512 spans as
//! `Observability` makes them for a `tools/call`, per span.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::measurement::Measurement;
use criterion::{Criterion, criterion_group, criterion_main};
use nix::time::ClockId;
use warden_audit::{AuditEvent, Outcome, SessionContext};
use warden_core::Direction;
use warden_observe::otlp::Encoder;
use warden_observe::span::{Kind, Span, SpanId, Status, TraceId, Value};
use warden_observe::trace::{TraceConfig, TraceStats, Tracer};
use warden_observe::{Observability, ObserveConfig};
use warden_proxy::{FrameHints, Observer};

#[path = "../../warden-core/benches/support/cpu_time.rs"]
mod cpu_time;
use cpu_time::CpuTime;

/// An OTLP/HTTP endpoint that reads each request whole and answers 200 with no body.
fn sink() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the sink");
    let url = format!("http://{}", l.local_addr().expect("sink address"));
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { return };
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn);
                let mut body = vec![0; 1 << 16];
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    while r.read_line(&mut line).unwrap_or(0) > 2 {
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        line.clear();
                    }
                    if line.is_empty() {
                        return;
                    }
                    while len > 0 {
                        let n = len.min(body.len());
                        if r.read_exact(&mut body[..n]).is_err() {
                            return;
                        }
                        len -= n;
                    }
                    let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if r.get_mut().write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// The records of one exchange: a `tools/call` request and its result, as the pipeline makes
/// them.
fn exchange(ctx: &Arc<SessionContext>, session: &Arc<str>) -> (AuditEvent, AuditEvent) {
    let x = uuid::Uuid::now_v7();
    let frame = r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/srv/data/report-2026.txt"}}}"#;
    let mut req = AuditEvent::gateway(session.clone(), ctx.clone(), "");
    req.event = None;
    req.kind = "request";
    req.direction = Some(Direction::C2S);
    req.method = Some("tools/call".into());
    req.target = Some("read_file".into());
    req.rpc_id = Some("42".into());
    req.exchange = Some(x);
    let body = frame.find(r#"{"name""#).unwrap_or(0);
    req.body = Some(body..frame.len() - 1);
    let args = frame.find(r#"{"path""#).unwrap_or(0);
    req.args = Some(args..frame.len() - 2);
    req.frame = Bytes::from_static(frame.as_bytes());
    let mut resp = req.clone();
    resp.id = uuid::Uuid::now_v7();
    resp.kind = "result";
    resp.direction = Some(Direction::S2C);
    resp.duration_us = Some(1500);
    resp.outcome = Some(Outcome::Ok);
    resp.frame = Bytes::from_static(br#"{"jsonrpc":"2.0","id":42,"result":{"content":[]}}"#);
    resp.body = None;
    resp.args = None;
    (req, resp)
}

fn observers(url: &str) -> (Observability, Observability, TraceStats) {
    let off = Observability::new(ObserveConfig::default(), None);
    let on = Observability::new(ObserveConfig::default(), None);
    let stats = on.trace_stats();
    let tracer = Tracer::start(
        TraceConfig {
            endpoint: url.to_owned(),
            queue: 1 << 20,
            flush: Duration::from_millis(50),
            ..TraceConfig::default()
        },
        stats.clone(),
    )
    .expect("start the tracer");
    (off, on.with_tracer(tracer), stats)
}

fn run<M: Measurement>(c: &mut Criterion<M>, group: &str) {
    let url = sink();
    let (off, on, stats) = observers(&url);
    let ctx = Arc::new(SessionContext {
        server_name: Some("fs".into()),
        principal: Some("alice".into()),
        protocol: Some("2025-06-18".into()),
        ..SessionContext::default()
    });
    let session: Arc<str> = Arc::from(uuid::Uuid::now_v7().to_string());
    let mut g = c.benchmark_group(group);
    for (name, o) in [("off", &off), ("traced", &on)] {
        g.bench_function(name, |b| {
            // Making the records is timed too (the same in both): with the process clock, work
            // the export thread does while untimed setup ran would otherwise not be counted.
            b.iter(|| {
                let (req, resp) = exchange(&ctx, &session);
                o.observe(std::slice::from_ref(&req), FrameHints::default());
                o.observe(std::slice::from_ref(&resp), FrameHints::default());
            });
        });
    }
    g.finish();
    on.shutdown(Duration::from_secs(5));
    let dropped = stats.dropped.get();
    if dropped > 0 {
        eprintln!("{group}: {dropped} spans were dropped: the traced figure is too low");
    }
    eprintln!(
        "{group}: {} spans exported, {} failed, {dropped} dropped",
        stats.exported.get(),
        stats.failed.get()
    );
}

fn thread_cpu(c: &mut Criterion<CpuTime>) {
    run(c, "exchange_thread_cpu");
    encode(c);
}

/// A span with the attributes `Observability` gives a `tools/call` exchange.
fn call_span(session: &Arc<str>) -> Span {
    let mut s = Span::new(TraceId::random(), SpanId::random(), Kind::Server, 16, 64);
    s.parent = SpanId::from_hex("00f067aa0ba902b7").map(|p| (p, true));
    s.start_ns = 1_764_000_000_000_000_000;
    s.end_ns = s.start_ns + 1_500_000;
    s.name = s.push_text(&["tools/call read_file"]);
    let tool = s.push_text(&["read_file"]);
    for (k, v) in [
        ("mcp.method.name", Value::Static("tools/call")),
        ("mcp.session.id", Value::Shared(session.clone())),
        ("network.transport", Value::Static("pipe")),
        ("warden.outcome", Value::Static("ok")),
        ("warden.audit.record_id", Value::Uuid(uuid::Uuid::now_v7())),
        (
            "warden.audit.request_record_id",
            Value::Uuid(uuid::Uuid::now_v7()),
        ),
        ("gen_ai.tool.name", tool),
        ("gen_ai.operation.name", Value::Static("execute_tool")),
    ] {
        s.attribute(k, v);
    }
    for (k, t) in [
        ("jsonrpc.request.id", "42"),
        ("warden.server", "fs"),
        ("mcp.protocol.version", "2025-06-18"),
    ] {
        let v = s.push_text(&[t]);
        s.attribute(k, v);
    }
    s.status = Status::Unset;
    s
}

fn encode(c: &mut Criterion<CpuTime>) {
    let session: Arc<str> = Arc::from(uuid::Uuid::now_v7().to_string());
    let spans: Vec<Span> = (0..512).map(|_| call_span(&session)).collect();
    let mut e = Encoder::new("warden", "0.1.0", "warden", "0.1.0");
    let mut g = c.benchmark_group("encode_thread_cpu");
    g.throughput(criterion::Throughput::Elements(512));
    g.bench_function("batch_512", |b| b.iter(|| e.encode(&spans)));
    g.finish();
}

fn process_cpu(c: &mut Criterion<CpuTime>) {
    run(c, "exchange_process_cpu");
}

criterion_group! {
    name = data_path;
    config = Criterion::default().with_measurement(cpu_time::THREAD);
    targets = thread_cpu
}
criterion_group! {
    name = whole_process;
    config = Criterion::default().with_measurement(CpuTime(ClockId::CLOCK_PROCESS_CPUTIME_ID));
    targets = process_cpu
}
criterion_main!(data_path, whole_process);
