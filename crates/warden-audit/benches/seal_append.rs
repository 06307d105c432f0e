//! Throughput of the audit write path: sealing (leaf JSON, keyed hashes, tree hashes) alone,
//! and seal + append through the writer thread into a real SQLite file, per record.
//! Group `seal_payload` (thread CPU time): sealing a request with a 60 KB argument, its payload
//! checked by the sealer (`read_strictly: false`) or trusted as read strictly.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use warden_audit::record::Sealer;
use warden_audit::tree::Frontier;
use warden_audit::{AuditEvent, AuditWriter, Keys, SessionContext, Store, WriterConfig};
use warden_core::Direction;

#[path = "../../warden-core/benches/support/cpu_time.rs"]
mod cpu_time;

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
        nonce_seed: [7; 32],
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
                h.record(AuditEvent {
                    id: uuid::Uuid::now_v7(),
                    ..ev.clone()
                })
                .expect("writer running");
            }
            h.flush().expect("committed");
        })
    });
    writer.close(AuditEvent::gateway("".into(), ctx.clone(), "log_closed"));

    // A realistic mix: every other record closes an exchange (a result with its outcome
    // and duration), so it also enters the `records_closed` index of schema 3, and every
    // record has a principal. The same load runs into stores without the indexes schema 3
    // added, for their cost.
    let who = Arc::new(SessionContext {
        server_name: Some("filesystem".into()),
        principal: Some("alice@example.com".into()),
        ..SessionContext::default()
    });
    let request = AuditEvent {
        context: who.clone(),
        ..ev.clone()
    };
    let result = {
        let frame = Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"region,revenue\nemea,1200\n"}]}}"#,
        );
        let env = warden_core::parse_frame(&frame).expect("valid frame");
        let c = warden_core::classify(&frame, env.first().expect("one message"), None);
        let mut r = request.clone();
        r.kind = "result";
        r.direction = Some(Direction::S2C);
        r.target = Some("read_file".into());
        r.args = c.args;
        r.body = c.body;
        r.size = frame.len() as u64;
        r.frame = frame;
        r.duration_us = Some(1234);
        r.outcome = Some(warden_audit::Outcome::Ok);
        r
    };
    for (name, drop) in [
        ("seal_append_mix_1000", ""),
        (
            "seal_append_mix_1000_without_principal_index",
            "DROP INDEX records_principal",
        ),
        (
            "seal_append_mix_1000_schema2_indexes",
            "DROP INDEX records_principal; DROP INDEX records_closed",
        ),
    ] {
        let db = dir.path().join(format!("{name}.db"));
        let store = Store::open(&db, false).expect("store");
        rusqlite::Connection::open(&db)
            .and_then(|c| c.execute_batch(drop))
            .expect("drop index");
        let writer = AuditWriter::start(
            store,
            Keys::load(&dir.path().join("keys")).expect("keys"),
            WriterConfig {
                checkpoint_interval: Duration::from_secs(3600),
                linger: Duration::ZERO,
                ..WriterConfig::default()
            },
        )
        .expect("writer");
        let h = writer.handle();
        g.bench_function(name, |b| {
            b.iter(|| {
                for i in 0..BATCH {
                    let e = if i % 2 == 0 {
                        request.clone()
                    } else {
                        result.clone()
                    };
                    h.record(e).expect("writer running");
                }
                h.flush().expect("committed");
            })
        });
        writer.close(AuditEvent::gateway("".into(), ctx.clone(), "log_closed"));
    }
    g.finish();
}

fn seal_payload(c: &mut Criterion<cpu_time::CpuTime>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = Keys::generate(&dir.path().join("keys"), "bench", false).expect("keys");
    let frame = Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{{"name":"write_file","arguments":{{"path":"/srv/out.txt","content":"{}"}}}}}}"#,
        "lorem ipsum dolor sit amet, ".repeat(60_000 / 28)
    ));
    let read = warden_core::strict::read(&frame).expect("admitted");
    let cl = read.classify(0, None).expect("one message");
    let mut ev = AuditEvent::gateway(
        "0199-bench-session".into(),
        Arc::new(SessionContext::default()),
        "x",
    );
    ev.event = None;
    ev.kind = "request";
    ev.direction = Some(Direction::C2S);
    ev.args = cl.args;
    ev.body = cl.body;
    ev.size = frame.len() as u64;
    ev.frame = frame.clone();
    let sealer = Sealer {
        log_id: "0199-bench-log".into(),
        level: warden_audit::PayloadLevel::Standard,
        max_payload: 64 * 1024,
        hasher: keys.hasher.clone(),
        nonce_seed: [7; 32],
    };
    let mut trusted = ev.clone();
    trusted.read_strictly = true;
    assert_eq!(sealer.seal(&ev, 0).leaf, sealer.seal(&trusted, 0).leaf);
    let mut g = c.benchmark_group("seal_payload/60kb");
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("checked", |b| b.iter(|| sealer.seal(&ev, 0).leaf.len()));
    g.bench_function("read_strictly", |b| {
        b.iter(|| sealer.seal(&trusted, 0).leaf.len())
    });
    g.finish();
}

criterion_group!(audit, benches);
criterion_group! {
    name = payload;
    config = Criterion::default().with_measurement(cpu_time::THREAD);
    targets = seal_payload
}
criterion_main!(audit, payload);
