//! What the admin plane's indexes cost the writer, measured in CPU time per record rather
//! than wall time, so that other work on a shared machine does not decide the answer. The
//! same mixed load (a tools/call request, then its result with outcome and duration, with
//! a principal) goes through the real `AuditWriter` into fresh stores with schema 3's
//! indexes, without `records_principal`, and without both (schema 2), alternating rounds.
//!
//! `cargo bench -p warden-audit --bench index_cost` (Linux: reads /proc/self/stat).
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use warden_audit::{AuditEvent, AuditWriter, Keys, Outcome, SessionContext, Store, WriterConfig};
use warden_core::Direction;

/// User + system CPU time of this process (all threads), in seconds.
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses): utime is 14th, stime 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

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
    const N: u64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    Keys::generate(&keys, "bench", false).unwrap();
    let ctx = Arc::new(SessionContext {
        server_name: Some("filesystem".into()),
        principal: Some("alice@example.com".into()),
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
    let variants = [
        ("schema 3 (records_closed + records_principal)", ""),
        (
            "schema 3 without records_principal",
            "DROP INDEX records_principal",
        ),
        (
            "schema 2 indexes",
            "DROP INDEX records_principal; DROP INDEX records_closed",
        ),
    ];
    let mut results: Vec<Vec<(f64, f64)>> = vec![Vec::new(); variants.len()];
    for round in 0..5 {
        for (i, (_, drop)) in variants.iter().enumerate() {
            let db = dir.path().join(format!("r{round}-v{i}.db"));
            let store = Store::open(&db, false).unwrap();
            rusqlite::Connection::open(&db)
                .unwrap()
                .execute_batch(drop)
                .unwrap();
            let writer = AuditWriter::start(
                store,
                Keys::load(&keys).unwrap(),
                WriterConfig {
                    checkpoint_interval: Duration::from_secs(3600),
                    linger: Duration::ZERO,
                    ..WriterConfig::default()
                },
            )
            .unwrap();
            let h = writer.handle();
            let (c0, t0) = (cpu(), Instant::now());
            for n in 0..N {
                h.record(if n % 2 == 0 { req.clone() } else { res.clone() })
                    .unwrap();
            }
            h.flush().unwrap();
            let (c, t) = (cpu() - c0, t0.elapsed().as_secs_f64());
            writer.close(AuditEvent::gateway("".into(), ctx.clone(), "log_closed"));
            results[i].push((c, t));
            for f in ["", "-wal", "-shm"] {
                let _gone = std::fs::remove_file(format!("{}{f}", db.display()));
            }
        }
    }
    println!(
        "| variant | CPU µs/record (median of 5) | records per CPU-second | wall records/s (median) |"
    );
    println!("|---|---:|---:|---:|");
    for (i, (name, _)) in variants.iter().enumerate() {
        let mut c: Vec<f64> = results[i].iter().map(|r| r.0).collect();
        let mut w: Vec<f64> = results[i].iter().map(|r| r.1).collect();
        c.sort_by(f64::total_cmp);
        w.sort_by(f64::total_cmp);
        let (c, w) = (c[2], w[2]);
        println!(
            "| {name} | {:.2} | {:.0} | {:.0} |",
            c * 1e6 / N as f64,
            N as f64 / c,
            N as f64 / w
        );
    }
}
