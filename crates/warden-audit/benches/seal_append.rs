//! Throughput of the audit write path: sealing (leaf JSON, keyed hashes, tree hashes) alone,
//! and seal + append through the writer thread into a real SQLite file, per record.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use warden_audit::record::Sealer;
use warden_audit::tree::Frontier;
use warden_audit::{AuditEvent, AuditWriter, Keys, SessionContext, Store, WriterConfig};
use warden_core::Direction;

/// A typical tools/call request (about 200 bytes), classified as the proxy would.
fn event(ctx: &Arc<SessionContext>) -> AuditEvent {
    let frame = Bytes::from_static(
        br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/srv/data/reports/q3.csv","encoding":"utf-8"}}}"#,
    );
    let env = warden_core::parse_frame(&frame).expect("valid frame");
    let c = warden_core::classify(&frame, env.first().expect("one message"), None);
    let mut ev = AuditEvent::gateway("0199-bench-session".into(), ctx.clone(), "x");
    ev.event = None;
    ev.kind = "request";
    ev.direction = Some(Direction::C2S);
    ev.method = Some("tools/call".into());
    ev.rpc_id = Some("42".into());
    ev.target = c.target;
    ev.args = c.args;
    ev.body = c.body;
    ev.size = frame.len() as u64;
    ev.frame = frame;
    ev
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = Keys::generate(&dir.path().join("keys"), "bench", false).expect("keys");
    let ctx = Arc::new(SessionContext {
        server_name: Some("filesystem".into()),
        ..SessionContext::default()
    });
    let ev = event(&ctx);

    let sealer = Sealer {
        log_id: "0199-bench-log".into(),
        level: warden_audit::PayloadLevel::Standard,
        max_payload: 64 * 1024,
        hasher: keys.hasher.clone(),
    };
    let mut g = c.benchmark_group("audit");
    g.throughput(Throughput::Elements(1));
    let mut frontier = Frontier::new();
    g.bench_function("seal", |b| {
        b.iter(|| {
            let sealed = sealer.seal(&ev, frontier.size());
            frontier.append(tlog_tiles::record_hash(&sealed.leaf))
        })
    });

    const BATCH: u64 = 1000;
    let writer = AuditWriter::start(
        Store::open(&dir.path().join("bench.db"), false).expect("store"),
        Keys::load(&dir.path().join("keys")).expect("keys"),
        WriterConfig {
            checkpoint_interval: Duration::from_secs(3600),
            // Measure the write path itself, not the pacing between batches.
            linger: Duration::ZERO,
            ..WriterConfig::default()
        },
    )
    .expect("writer");
    let h = writer.handle();
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(20);
    g.bench_function("seal_append_1000", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                h.record(ev.clone()).expect("writer running");
            }
            h.flush().expect("committed");
        })
    });
    g.finish();
    writer.close(AuditEvent::gateway("".into(), ctx, "log_closed"));
}

criterion_group!(audit, benches);
criterion_main!(audit);
