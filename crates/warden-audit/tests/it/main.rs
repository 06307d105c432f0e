//! Integration tests of the audit log: a real writer, a real SQLite file, real tampering.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns panic on failure by design

mod archive;
mod columns;
mod content;
mod daily;
mod group_commit;
mod outcomes;
mod proofs;
mod strict_flag;
mod tamper;
mod tiles;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use warden_audit::{AuditEvent, AuditWriter, Keys, SessionContext, Store, WriterConfig};
use warden_core::Direction;

pub(crate) struct Recorded {
    pub _dir: tempfile::TempDir,
    pub db: PathBuf,
    pub keys: PathBuf,
    pub vkey: String,
}

/// A realistic message event: a tools/call request or its result, as the proxy would hand it over.
pub(crate) fn message(i: u64, ctx: &Arc<SessionContext>) -> AuditEvent {
    let session: Arc<str> = "0199-session".into();
    let (dir, kind, frame) = if i.is_multiple_of(2) {
        (
            Direction::C2S,
            "request",
            format!(
                r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"read_file","arguments":{{"path":"/tmp/f{i}"}}}}}}"#
            ),
        )
    } else {
        (
            Direction::S2C,
            "result",
            format!(
                r#"{{"jsonrpc":"2.0","id":{},"result":{{"content":[{{"type":"text","text":"line {i}"}}]}}}}"#,
                i - 1
            ),
        )
    };
    let frame = Bytes::from(frame);
    let env = warden_core::parse_frame(&frame).unwrap();
    let c = warden_core::classify(&frame, env.first().unwrap(), None);
    let mut ev = AuditEvent::gateway(session, ctx.clone(), "x");
    ev.event = None;
    ev.kind = kind;
    ev.direction = Some(dir);
    ev.method = Some("tools/call".into());
    ev.size = frame.len() as u64;
    ev.args = c.args;
    ev.body = c.body;
    ev.target = c.target;
    ev.frame = frame;
    ev
}

/// Records `n` messages through a real writer into a fresh store, checkpointing every `every`.
pub(crate) fn record(n: u64, every: u64) -> Recorded {
    record_at(n, every, warden_audit::PayloadLevel::Standard)
}

/// `record` at a payload level (`minimal` leaves commit to no content).
pub(crate) fn record_at(n: u64, every: u64, level: warden_audit::PayloadLevel) -> Recorded {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let keys_dir = dir.path().join("keys");
    let keys = Keys::generate(&keys_dir, "warden-test", false).unwrap();
    let vkey = keys.vkey.clone();
    let cfg = WriterConfig {
        checkpoint_every: every,
        checkpoint_interval: Duration::from_secs(3600),
        level,
        ..WriterConfig::default()
    };
    let writer = AuditWriter::start(Store::open(&db, false).unwrap(), keys, cfg).unwrap();
    let h = writer.handle();
    let ctx = Arc::new(SessionContext {
        server_name: Some("filesystem".into()),
        ..Default::default()
    });
    for i in 0..n {
        h.record(message(i, &ctx)).unwrap();
    }
    let summary = writer.close(AuditEvent::gateway("".into(), ctx, "log_closed"));
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.records, n + 2);
    Recorded {
        _dir: dir,
        db,
        keys: keys_dir,
        vkey,
    }
}

/// A writer on a new store `audit.db` in `dir`, with new keys in `dir/keys`, checkpointing
/// every 8 records (and never by time); returns the store's path and the verifier key too.
pub(crate) fn writer_in(dir: &Path) -> (PathBuf, String, AuditWriter) {
    let db = dir.join("audit.db");
    let keys = Keys::generate(&dir.join("keys"), "warden-test", false).unwrap();
    let vkey = keys.vkey.clone();
    let writer = AuditWriter::start(
        Store::open(&db, false).unwrap(),
        keys,
        WriterConfig {
            checkpoint_every: 8,
            checkpoint_interval: Duration::from_secs(3600),
            ..WriterConfig::default()
        },
    )
    .unwrap();
    (db, vkey, writer)
}

/// `text` (an export) with `from` replaced by `to` in the leaf of record `seq`.
pub(crate) fn edit_record_line(text: &str, seq: u64, from: &str, to: &str) -> String {
    let marker = format!("\"seq\":{seq},\"leaf\"");
    let out: String = text
        .lines()
        .map(|l| {
            if l.contains(&marker) {
                format!("{}\n", l.replacen(from, to, 1))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(out, text, "record {seq} holds {from}");
    out
}

pub(crate) fn verify(db: &Path, trusted: Option<&[String]>) -> warden_audit::export::Verdict {
    let store = Store::open_read(db).unwrap();
    warden_audit::export::verify_store(&store, trusted).unwrap()
}

#[test]
fn a_clean_log_verifies_with_every_checkpoint() {
    let r = record(250, 100);
    let reports = verify(&r.db, Some(std::slice::from_ref(&r.vkey))).unwrap();
    assert_eq!(reports.len(), 1);
    let rep = &reports[0];
    assert_eq!(rep.records, 252);
    assert!(rep.closed);
    assert_eq!(rep.unsigned_tail, 0);
    assert_eq!(rep.checkpoints, 3, "100, 200 and the final one at 252");
    assert!(r.keys.join("checkpoint.key").exists());
}

#[test]
fn export_verifies_alone_and_detects_edits() {
    let r = record(40, 16);
    let store = Store::open_read(&r.db).unwrap();
    let mut out = Vec::new();
    let n = warden_audit::export::export(&store, &mut out).unwrap();
    assert_eq!(n, 42);
    let ok =
        warden_audit::export::verify_export(&out[..], Some(std::slice::from_ref(&r.vkey))).unwrap();
    assert_eq!(ok.unwrap()[0].records, 42);
    let text = String::from_utf8(out).unwrap();
    let tampered = edit_record_line(&text, 11, "\"read_file\"", "\"rm_file\"");
    assert_ne!(tampered, text);
    let bad = warden_audit::export::verify_export(tampered.as_bytes(), None)
        .unwrap()
        .unwrap_err();
    assert_eq!(bad.kind, warden_audit::verify::ProblemKind::Edited);
}

#[test]
fn payload_levels_and_truncation() {
    use warden_audit::PayloadLevel;
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::generate(&dir.path().join("k"), "w", false).unwrap();
    let sealer = warden_audit::record::Sealer {
        log_id: "L".into(),
        level: PayloadLevel::Standard,
        max_payload: 16,
        hasher: keys.hasher.clone(),
        nonce_seed: [3; 32],
    };
    let ctx = Arc::new(SessionContext::default());
    let ev = message(0, &ctx);
    let leaf: serde_json::Value = serde_json::from_slice(&sealer.seal(&ev, 0).leaf).unwrap();
    assert_eq!(leaf["payload_truncated"], true);
    assert!(
        leaf["payload_hash"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
    assert!(
        leaf["args_hash"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
    assert_ne!(
        leaf["payload_hash"], leaf["args_hash"],
        "params are more than the arguments"
    );
    let result: serde_json::Value =
        serde_json::from_slice(&sealer.seal(&message(1, &ctx), 1).leaf).unwrap();
    assert_eq!(result["payload_truncated"], true);
    assert_eq!(
        result["payload_hash"], result["result_hash"],
        "the whole result, hashed once"
    );
    let big = warden_audit::record::Sealer {
        max_payload: 1 << 20,
        ..sealer
    };
    let sealed = big.seal(&ev, 0);
    let leaf: serde_json::Value = serde_json::from_slice(&sealed.leaf).unwrap();
    let content = sealed
        .content
        .expect("the payload goes to the content store");
    let body: serde_json::Value = serde_json::from_slice(&content.body).unwrap();
    assert_eq!(body["arguments"]["path"], "/tmp/f0");
    assert!(leaf.get("payload").is_none(), "no payload inside a v2 leaf");
    assert_eq!(leaf["v"], 2);
    assert_eq!(leaf["content"], content.digest.as_str());
    assert_eq!(leaf["content_type"], "json");
    assert_eq!(leaf["content_len"], content.body.len());
    assert_eq!(
        warden_audit::content::commit(&content.nonce, &content.body),
        content.digest
    );
    let minimal = warden_audit::record::Sealer {
        level: PayloadLevel::Minimal,
        ..big
    };
    let sealed = minimal.seal(&ev, 0);
    let leaf: serde_json::Value = serde_json::from_slice(&sealed.leaf).unwrap();
    assert!(sealed.content.is_none());
    assert!(leaf.get("content").is_none());
    assert!(leaf.get("args_hash").is_some());
}

#[test]
fn many_writers_creating_one_store_at_once_all_succeed() {
    for round in 0..25 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(format!("fresh-{round}.db"));
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let opened: Vec<_> = (0..8)
            .map(|_| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Store::open(&db, false).map(|_| ())
                })
            })
            .collect();
        for t in opened {
            t.join().unwrap().expect("every writer opens the new store");
        }
    }
}

#[test]
fn a_store_from_schema_1_is_upgraded_by_a_writer_and_keeps_verifying() {
    // No content, as an old store's leaves commit to none.
    let r = record_at(10, 4, warden_audit::PayloadLevel::Minimal);
    // Turn the store back into what warden 0.1 wrote: no principal or agent columns.
    {
        let conn = rusqlite::Connection::open(&r.db).unwrap();
        conn.execute_batch(
            "DROP INDEX records_closed; DROP INDEX records_principal;
             ALTER TABLE records DROP COLUMN principal; ALTER TABLE records DROP COLUMN agent;
             ALTER TABLE records DROP COLUMN content; DROP TABLE content;
             UPDATE meta SET value = '1' WHERE key = 'schema';",
        )
        .unwrap();
    }
    let err = Store::open_read(&r.db).err().unwrap().to_string();
    assert!(err.contains("schema version 1"), "{err}");
    let store = Store::open(&r.db, false).unwrap();
    drop(store);
    let read = Store::open_read(&r.db).unwrap();
    let mut rows = Vec::new();
    read.for_each(&warden_audit::query::Query::default(), |r| {
        rows.push(r);
        true
    })
    .unwrap();
    assert_eq!(rows.len(), 12, "10 messages, log opened and closed");
    assert!(rows.iter().all(|row| row.principal.is_none()));
    let reports = verify(&r.db, Some(std::slice::from_ref(&r.vkey))).unwrap();
    assert_eq!(reports[0].records, 12);
}

#[test]
fn a_store_from_schema_2_gains_the_admin_indexes() {
    let r = record_at(6, 4, warden_audit::PayloadLevel::Minimal);
    let index = |db: &std::path::Path| -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN ('records_closed', 'records_principal')",
                [],
                |row| row.get(0),
            )
            .unwrap()
    };
    assert_eq!(index(&r.db), 2, "a new store has them");
    {
        let conn = rusqlite::Connection::open(&r.db).unwrap();
        conn.execute_batch(
            "DROP INDEX records_closed; DROP INDEX records_principal;
             ALTER TABLE records DROP COLUMN content; DROP TABLE content;
             UPDATE meta SET value = '2' WHERE key = 'schema';",
        )
        .unwrap();
    }
    let err = Store::open_read(&r.db).err().unwrap().to_string();
    assert!(err.contains("schema version 2"), "{err}");
    drop(Store::open(&r.db, false).unwrap());
    assert_eq!(index(&r.db), 2, "the upgrade made them");
    let read = Store::open_read(&r.db).unwrap();
    let stats = read.stats(0, i64::MAX, None).unwrap();
    assert_eq!(
        stats.total_invocations, 0,
        "no record here closes an exchange"
    );
    let reports = verify(&r.db, Some(std::slice::from_ref(&r.vkey))).unwrap();
    assert_eq!(reports[0].records, 8);
}
