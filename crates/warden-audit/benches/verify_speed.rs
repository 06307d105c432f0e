//! How fast `verify_store` checks a store of 100,000 records (a tools/call request, then its
//! result with outcome, duration, principal and client, as the proxy records them): wall
//! time and records per second, the median of five runs over the same store.
//!
//! `cargo bench -p warden-audit --bench verify_speed`
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use warden_audit::{AuditEvent, AuditWriter, Keys, Outcome, SessionContext, Store, WriterConfig};
use warden_core::{Direction, Implementation};

fn event(frame: &'static [u8], kind: &'static str, ctx: &Arc<SessionContext>) -> AuditEvent {
    let frame = Bytes::from_static(frame);
    let env = warden_core::parse_frame(&frame).unwrap();
    let c = warden_core::classify(&frame, env.first().unwrap(), None);
    let mut ev = AuditEvent::gateway("0199-bench-session".into(), ctx.clone(), "x");
    ev.event = None;
    ev.kind = kind;
    ev.method = Some("tools/call".into());
    ev.target = Some("read_file".into());
    ev.args = c.args;
    ev.body = c.body;
    ev.size = frame.len() as u64;
    ev.frame = frame;
    ev
}

fn main() {
    const N: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let k = Keys::generate(&keys, "bench", false).unwrap();
    let vkey = k.vkey.clone();
    let ctx = Arc::new(SessionContext {
        server_name: Some("filesystem".into()),
        principal: Some("alice@example.com".into()),
        client_info: Some(Implementation {
            name: "claude-code".into(),
            version: "1.0.3".into(),
        }),
        ..SessionContext::default()
    });
    let mut req = event(
        br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/srv/data/reports/q3.csv","encoding":"utf-8"}}}"#,
        "request",
        &ctx,
    );
    req.direction = Some(Direction::C2S);
    let mut res = event(
        br#"{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"region,revenue emea,1200"}]}}"#,
        "result",
        &ctx,
    );
    res.direction = Some(Direction::S2C);
    res.outcome = Some(Outcome::Ok);
    res.duration_us = Some(1234);
    let db = dir.path().join("audit.db");
    let writer = AuditWriter::start(
        Store::open(&db, false).unwrap(),
        k,
        WriterConfig {
            checkpoint_interval: Duration::from_secs(3600),
            linger: Duration::ZERO,
            ..WriterConfig::default()
        },
    )
    .unwrap();
    let h = writer.handle();
    for n in 0..N {
        h.record(if n % 2 == 0 { req.clone() } else { res.clone() })
            .unwrap();
    }
    h.flush().unwrap();
    writer.close(AuditEvent::gateway("".into(), ctx.clone(), "log_closed"));
    let store = Store::open_read(&db).unwrap();
    let mut runs = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let v = warden_audit::export::verify_store(&store, Some(std::slice::from_ref(&vkey)))
            .unwrap()
            .unwrap();
        runs.push(t0.elapsed().as_secs_f64());
        assert_eq!(v[0].records, N + 2);
    }
    runs.sort_by(f64::total_cmp);
    let median = runs[2];
    println!(
        "verify_store: {} records in {:.3} s (median of 5): {:.0} records/s",
        N + 2,
        median,
        (N + 2) as f64 / median
    );
}
