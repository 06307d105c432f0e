//! How long `warden audit export-tiles` takes on a log of 1,000,000 records (a tools/call
//! request, then its result, as the proxy records them; about 500-byte leaves), written by
//! the real writer with a checkpoint every 1000 records: wall time of `export_tiles` into an
//! empty directory, the median of three runs, and of a re-export over the first one.
//! Target (issue): under a minute.
//!
//! `cargo bench -p warden-audit --bench tiles_export` (`TILES_BENCH_RECORDS` to change the
//! size, `TILES_BENCH_DIR` for where the store and tiles go).
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
    let n: u64 = std::env::var("TILES_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(
        std::env::var_os("TILES_BENCH_DIR").unwrap_or_else(|| std::env::temp_dir().into()),
    )
    .unwrap();
    let built = Instant::now();
    let keys = dir.path().join("keys");
    let k = Keys::generate(&keys, "bench", false).unwrap();
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
            checkpoint_every: 1000,
            linger: Duration::ZERO,
            ..WriterConfig::default()
        },
    )
    .unwrap();
    let h = writer.handle();
    for i in 0..n {
        h.record(if i % 2 == 0 { req.clone() } else { res.clone() })
            .unwrap();
    }
    h.flush().unwrap();
    writer.close(AuditEvent::gateway("".into(), ctx.clone(), "log_closed"));
    println!(
        "store: {} records written in {:.1} s",
        n + 2,
        built.elapsed().as_secs_f64()
    );
    let store = Store::open_read(&db).unwrap();
    let mut runs = Vec::new();
    let mut files = 0;
    for run in 0..3 {
        let out = dir.path().join(format!("tiles-{run}"));
        let t0 = Instant::now();
        let done = warden_audit::tile_export::export_tiles(&store, &out, None).unwrap();
        runs.push(t0.elapsed().as_secs_f64());
        match &done[..] {
            [warden_audit::tile_export::LogTiles::Exported { size, files: f, .. }] => {
                assert_eq!(*size, n + 2);
                files = *f;
            }
            other => panic!("{other:?}"),
        }
    }
    runs.sort_by(f64::total_cmp);
    let median = runs[1];
    println!(
        "export_tiles: {} records, {files} files in {:.3} s (median of 3, fresh directory; runs {:.3?}): {:.0} records/s",
        n + 2,
        median,
        runs,
        (n + 2) as f64 / median
    );
    let t0 = Instant::now();
    warden_audit::tile_export::export_tiles(&store, &dir.path().join("tiles-0"), None).unwrap();
    println!(
        "export_tiles over an existing export: {:.3} s",
        t0.elapsed().as_secs_f64()
    );
}
