//! The archive: a log's oldest records move to a sealed segment while the log keeps being
//! written; store and archive verify as one log; proofs of later records still work; an
//! altered, missing or re-sealed segment, or an altered kept edge, is caught.

use std::io::{Read, Write};
use std::sync::Arc;

use rusqlite::Connection;
use warden_audit::archive::{self, Segment};
use warden_audit::export::{verify_store, verify_store_with_archive};
use warden_audit::verify::ProblemKind;
use warden_audit::{AuditEvent, SessionContext, Store};

use crate::message;

struct Archived {
    dir: tempfile::TempDir,
    db: std::path::PathBuf,
    out: std::path::PathBuf,
    vkey: String,
    segment: Segment,
}

/// 30 messages with a checkpoint every 8; the first checkpointed records archived while
/// the writer still runs; then 20 more messages and a clean close.
fn archived_while_writing() -> Archived {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("archive");
    let (db, vkey, writer) = crate::writer_in(dir.path());
    let ctx = Arc::new(SessionContext::default());
    for i in 0..30 {
        writer.handle().record(message(i, &ctx)).unwrap();
    }
    writer.handle().flush().unwrap();
    let store = Store::open(&db, false).unwrap();
    let plans = store.plan_archive(warden_audit::now_us()).unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(
        (plans[0].first, plans[0].end),
        (0, 24),
        "up to the last checkpoint"
    );
    let log = store.logs().unwrap().remove(0);
    let segment = archive::archive(&store, &log, &plans[0], &out).unwrap();
    for i in 30..50 {
        writer.handle().record(message(i, &ctx)).unwrap();
    }
    assert_eq!(
        writer
            .close(AuditEvent::gateway("".into(), ctx, "log_closed"))
            .lost,
        0
    );
    Archived {
        dir,
        db,
        out,
        vkey,
        segment,
    }
}

fn keys(a: &Archived) -> Vec<String> {
    vec![a.vkey.clone()]
}

#[test]
fn archive_and_store_verify_as_one_log_while_it_keeps_growing() {
    let a = archived_while_writing();
    let c = Connection::open(&a.db).unwrap();
    let left: i64 = c
        .query_row("SELECT MIN(seq) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 24, "the archived records left the store");
    let store = Store::open_read(&a.db).unwrap();
    // Alone, the store verifies from the kept edge on.
    let r = verify_store(&store, Some(&keys(&a))).unwrap().unwrap();
    assert_eq!((r[0].records, r[0].archived, r[0].closed), (52, 24, true));
    // With the archive, every record is checked.
    let r = verify_store_with_archive(&store, Some(&keys(&a)), Some(&a.out))
        .unwrap()
        .unwrap();
    assert_eq!((r[0].records, r[0].archived, r[0].closed), (52, 0, true));
    assert_eq!(
        r[0].content.present, 50,
        "content of archived records is in the segment"
    );
    // A record after the archive is still proven against the latest checkpoint.
    let id: String = c
        .query_row("SELECT id FROM records WHERE seq = 40", [], |r| r.get(0))
        .unwrap();
    let proof = warden_audit::proof::prove_inclusion(&store, &id).unwrap();
    warden_audit::proof::check(&proof, Some(&keys(&a))).unwrap();
    // The export of an archived store starts where the archive ends, and verifies alone.
    let mut out = Vec::new();
    warden_audit::export::export(&store, &mut out).unwrap();
    let r = warden_audit::export::verify_export(&out[..], Some(&keys(&a)))
        .unwrap()
        .unwrap();
    assert_eq!((r[0].records, r[0].archived), (52, 24));
    // The segment is private to its owner.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(a.out.join(&a.segment.file))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Nothing more to archive up to the last checkpoint but the new records.
    let plans = Store::open_read(&a.db)
        .unwrap()
        .plan_archive(warden_audit::now_us())
        .unwrap();
    assert_eq!((plans[0].first, plans[0].end), (24, 52));
    drop(a.dir);
}

fn segment_text(a: &Archived) -> String {
    let bytes = std::fs::read(a.out.join(&a.segment.file)).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn write_segment(a: &Archived, text: &str) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    std::fs::write(a.out.join(&a.segment.file), gz.finish().unwrap()).unwrap();
}

fn problem(a: &Archived) -> warden_audit::verify::Problem {
    let store = Store::open_read(&a.db).unwrap();
    verify_store_with_archive(&store, Some(&keys(a)), Some(&a.out))
        .unwrap()
        .expect_err("the change must be caught")
}

#[test]
fn an_altered_segment_is_caught_and_resealing_it_does_not_help() {
    let a = archived_while_writing();
    let text = segment_text(&a);
    let edited = crate::edit_record_line(&text, 5, "\"read_file\"", "\"rm_file\"");
    write_segment(&a, &edited);
    let p = problem(&a);
    assert_eq!(p.kind, ProblemKind::Edited, "{p}");
    assert!(p.detail.contains("not the file that was sealed"), "{p}");
    // Whoever can also write the store re-seals it: the record itself no longer verifies.
    let bytes = std::fs::read(a.out.join(&a.segment.file)).unwrap();
    use sha2::Digest;
    let sha = format!("{:x}", sha2::Sha256::digest(&bytes));
    Connection::open(&a.db)
        .unwrap()
        .execute("UPDATE archives SET sha256 = ?1", [&sha])
        .unwrap();
    let p = problem(&a);
    assert_eq!((p.kind, p.seq), (ProblemKind::Edited, Some(5)), "{p}");
}

#[test]
fn a_missing_segment_or_an_altered_edge_is_caught() {
    let a = archived_while_writing();
    std::fs::remove_file(a.out.join(&a.segment.file)).unwrap();
    let p = problem(&a);
    assert_eq!((p.kind, p.seq), (ProblemKind::Deleted, Some(0)), "{p}");

    let a = archived_while_writing();
    Connection::open(&a.db)
        .unwrap()
        .execute("UPDATE archives SET edge = zeroblob(length(edge))", [])
        .unwrap();
    let store = Store::open_read(&a.db).unwrap();
    let p = verify_store(&store, Some(&keys(&a))).unwrap().unwrap_err();
    assert_eq!(p.kind, ProblemKind::Edited, "{p}");
}
