//! Leaf v2 and the content store: content tampering is caught, expired and erased content
//! verifies as such, erased values leave the store's files, old stores keep verifying, and
//! no leaf grows past what a tile entry holds.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, params};
use warden_audit::content::{Gone, Payload};
use warden_audit::removal::{self, Request, Selector};
use warden_audit::verify::ProblemKind;
use warden_audit::{AuditEvent, AuditWriter, Keys, SessionContext, Store, WriterConfig};

use crate::{message, record, verify};

fn digest_at(db: &std::path::Path, seq: u64) -> String {
    Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT content FROM records WHERE seq = ?1",
            [seq as i64],
            |r| r.get(0),
        )
        .unwrap()
}

fn problem(r: &crate::Recorded) -> warden_audit::verify::Problem {
    verify(&r.db, Some(std::slice::from_ref(&r.vkey))).expect_err("tampering must be detected")
}

/// A fresh recording whose content row for record `seq` went through `sql` (`?1` is its
/// commitment), and the first problem verification finds.
fn tampered(seq: u64, sql: &str) -> warden_audit::verify::Problem {
    let r = record(20, 8);
    let d = digest_at(&r.db, seq);
    let changed = Connection::open(&r.db).unwrap().execute(sql, [&d]).unwrap();
    assert_eq!(changed, 1, "{sql}");
    problem(&r)
}

#[test]
fn an_edited_body_or_nonce_is_content_edited_at_its_record() {
    let p = tampered(
        5,
        "UPDATE content SET body = CAST(replace(CAST(body AS TEXT), '/tmp/f4', '/tmp/f9') AS BLOB) WHERE digest = ?1",
    );
    assert_eq!(
        (p.kind, p.seq),
        (ProblemKind::ContentEdited, Some(5)),
        "{p}"
    );
    assert!(p.record_id.is_some());
    let p = tampered(
        9,
        "UPDATE content SET nonce = zeroblob(32) WHERE digest = ?1",
    );
    assert_eq!(
        (p.kind, p.seq),
        (ProblemKind::ContentEdited, Some(9)),
        "{p}"
    );
}

#[test]
fn a_deleted_content_row_is_content_deleted() {
    let p = tampered(7, "DELETE FROM content WHERE digest = ?1");
    assert_eq!(
        (p.kind, p.seq),
        (ProblemKind::ContentDeleted, Some(7)),
        "{p}"
    );
}

#[test]
fn a_forged_tombstone_is_content_deleted_not_erased() {
    for (gone, by) in [
        ("erased", "a record that does not exist"),
        ("expired", ""),
        ("vanished", "x"),
    ] {
        let r = record(20, 8);
        let d = digest_at(&r.db, 3);
        let c = Connection::open(&r.db).unwrap();
        // Naming a real record that is not a removal does not help either.
        let by = if by.is_empty() {
            c.query_row("SELECT id FROM records WHERE seq = 2", [], |x| {
                x.get::<_, String>(0)
            })
            .unwrap()
        } else {
            by.to_owned()
        };
        c.execute(
            "UPDATE content SET nonce = NULL, body = NULL, gone = ?1, gone_us = 1, gone_ref = ?2 WHERE digest = ?3",
            params![gone, by, d],
        )
        .unwrap();
        let p = problem(&r);
        assert_eq!(p.seq, Some(3), "{gone}: {p}");
        assert!(
            matches!(
                p.kind,
                ProblemKind::ContentDeleted | ProblemKind::ContentEdited
            ),
            "{gone}: {p}"
        );
    }
}

/// Two principals' calls in one log, their content stored.
struct TwoPrincipals {
    dir: tempfile::TempDir,
    db: std::path::PathBuf,
    vkey: String,
}

fn two_principals() -> TwoPrincipals {
    let dir = tempfile::tempdir().unwrap();
    let (db, vkey, writer) = crate::writer_in(dir.path());
    let who = |p: &str| {
        Arc::new(SessionContext {
            principal: Some(p.into()),
            ..SessionContext::default()
        })
    };
    let (alice, bob) = (who("alice"), who("bob"));
    for i in 0..10 {
        writer.handle().record(message(i, &alice)).unwrap();
    }
    for i in 10..20 {
        writer.handle().record(message(i, &bob)).unwrap();
    }
    let s = writer.close(AuditEvent::gateway("".into(), bob, "log_closed"));
    assert_eq!(s.lost, 0);
    TwoPrincipals { dir, db, vkey }
}

/// Removes what `sel` selects through a writer of its own, as `warden audit erase` does.
fn remove(t: &TwoPrincipals, why: Gone, sel: Selector) -> usize {
    let store = Store::open(&t.db, false).unwrap();
    let plan = store.plan_removal(&sel).unwrap();
    let writer = AuditWriter::start(
        store,
        Keys::load(&t.dir.path().join("keys")).unwrap(),
        WriterConfig {
            checkpoint_interval: Duration::from_secs(3600),
            ..WriterConfig::default()
        },
    )
    .unwrap();
    let request = Request {
        why,
        by: "dpo@example.com".into(),
        reason: "request 1432".into(),
        selector: sel,
    };
    removal::remove(&writer.handle(), &request, &plan.digests).unwrap();
    assert_eq!(
        writer
            .close(AuditEvent::gateway("".into(), Arc::default(), "log_closed"))
            .lost,
        0
    );
    assert!(Store::open(&t.db, false).unwrap().purge_wal().unwrap());
    plan.digests.len()
}

/// Every byte of the store's files.
fn files(db: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(b) = std::fs::read(&p) {
            all.extend(b);
        }
    }
    all
}

fn holds(hay: &[u8], needle: &str) -> bool {
    memchr::memmem::find(hay, needle.as_bytes()).is_some()
}

#[test]
fn a_principals_content_is_erased_the_log_verifies_and_the_values_leave_the_files() {
    let t = two_principals();
    let alice_says = r#""path":"/tmp/f4"}"#;
    let bob_says = r#""path":"/tmp/f14"}"#;
    assert!(holds(&files(&t.db), alice_says) && holds(&files(&t.db), bob_says));
    let erased = remove(
        &t,
        Gone::Erased,
        Selector {
            principal: Some("alice".into()),
            ..Selector::default()
        },
    );
    assert_eq!(erased, 10, "alice's five calls and five results");
    let reports = verify(&t.db, Some(std::slice::from_ref(&t.vkey))).unwrap();
    assert_eq!(reports.len(), 2, "the log and the erasure's own log");
    assert_eq!(reports[0].content.erased, 10);
    assert_eq!(reports[0].content.present, 10, "bob's content stays");
    let all = files(&t.db);
    assert!(
        !holds(&all, alice_says),
        "an erased value is still in the store's files"
    );
    assert!(
        !holds(&all, "line 5"),
        "an erased result is still in the store's files"
    );
    assert!(holds(&all, bob_says), "bob's content was kept");

    // The erasure is a record: who, why, what was selected, and the commitments.
    let store = Store::open_read(&t.db).unwrap();
    let mut found = None;
    store
        .for_each(&warden_audit::query::Query::default(), |r| {
            if r.label() == "content_erased" {
                found = Some(r);
            }
            true
        })
        .unwrap();
    let leaf: serde_json::Value = serde_json::from_slice(&found.unwrap().leaf).unwrap();
    assert_eq!(leaf["detail"]["by"], "dpo@example.com");
    assert_eq!(leaf["detail"]["reason"], "request 1432");
    assert_eq!(leaf["detail"]["selector"]["principal"], "alice");
    assert_eq!(leaf["detail"]["digests"].as_array().unwrap().len(), 10);

    // Readers show it as erased.
    let first_alice = digest_at(&t.db, 1);
    let mut payloads = Vec::new();
    store
        .for_each(&warden_audit::query::Query::default(), |r| {
            payloads.push(store.payload(&r.leaf).unwrap());
            true
        })
        .unwrap();
    assert!(payloads.contains(&Some(Payload::Erased)));
    assert!(!first_alice.is_empty());

    // Moving a tombstone onto bob's content, with alice's erasure record, is caught.
    let bobs = digest_at(&t.db, 15);
    let c = Connection::open(&t.db).unwrap();
    let by: String = c
        .query_row(
            "SELECT gone_ref FROM content WHERE gone IS NOT NULL LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    c.execute(
        "UPDATE content SET nonce = NULL, body = NULL, gone = 'erased', gone_us = 1, gone_ref = ?1 WHERE digest = ?2",
        params![by, bobs],
    )
    .unwrap();
    let p = verify(&t.db, Some(std::slice::from_ref(&t.vkey))).unwrap_err();
    assert_eq!(
        (p.kind, p.seq),
        (ProblemKind::ContentDeleted, Some(15)),
        "{p}"
    );
    assert!(p.detail.contains("does not list it"), "{p}");
}

#[test]
fn expired_content_verifies_as_expired_in_the_store_and_in_an_export() {
    let t = two_principals();
    let n = remove(
        &t,
        Gone::Expired,
        Selector {
            before_us: Some(warden_audit::now_us()),
            ..Selector::default()
        },
    );
    assert_eq!(n, 20);
    let reports = verify(&t.db, Some(std::slice::from_ref(&t.vkey))).unwrap();
    assert_eq!(
        (reports[0].content.expired, reports[0].content.present),
        (20, 0)
    );
    let mut out = Vec::new();
    warden_audit::export::export(&Store::open_read(&t.db).unwrap(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let ok = warden_audit::export::verify_export(text.as_bytes(), None)
        .unwrap()
        .unwrap();
    assert_eq!(ok[0].content.expired, 20);
    // An export line that claims an erasure the removal record does not list is caught.
    let forged = text.replacen("\"gone\":\"expired\"", "\"gone\":\"erased\"", 1);
    let p = warden_audit::export::verify_export(forged.as_bytes(), None)
        .unwrap()
        .unwrap_err();
    assert_eq!(p.kind, ProblemKind::ContentDeleted, "{p}");
}

#[test]
fn an_export_carries_content_and_an_edited_body_in_it_is_caught() {
    let r = record(12, 4);
    let mut out = Vec::new();
    warden_audit::export::export(&Store::open_read(&r.db).unwrap(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let ok = warden_audit::export::verify_export(text.as_bytes(), None)
        .unwrap()
        .unwrap();
    assert_eq!(ok[0].content.present, 12);
    // Record 3's body, base64 in the export, swapped for record 5's.
    let body = |seq: u64| -> String {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("\"seq\":{seq},\"leaf\"")))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        v["content"]["body"].as_str().unwrap().to_owned()
    };
    let forged = text.replacen(&body(3), &body(5), 1);
    assert_ne!(forged, text);
    let p = warden_audit::export::verify_export(forged.as_bytes(), None)
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (p.kind, p.seq),
        (ProblemKind::ContentEdited, Some(3)),
        "{p}"
    );
    let garbled = text.replacen(&body(3), "not base64!", 1);
    let p = warden_audit::export::verify_export(garbled.as_bytes(), None)
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (p.kind, p.seq),
        (ProblemKind::ContentEdited, Some(3)),
        "{p}"
    );
}

#[test]
fn the_previous_releases_store_verifies_unchanged_after_the_upgrade() {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release-0.1");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    std::fs::copy(fixture.join("audit.db"), &db).unwrap();
    let vkey = std::fs::read_to_string(fixture.join("checkpoint.vkey")).unwrap();
    let vkey = vkey.trim().to_owned();
    let before = std::fs::read(&db).unwrap();
    let err = Store::open_read(&db).err().unwrap().to_string();
    assert!(err.contains("schema version 3"), "{err}");
    drop(Store::open(&db, false).unwrap());
    let reports = verify(&db, Some(std::slice::from_ref(&vkey))).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!((reports[0].records, reports[0].leaf_version), (26, 1));
    assert!(reports[0].closed);
    // Its leaves are untouched and still show their payloads.
    let store = Store::open_read(&db).unwrap();
    let mut shown = 0;
    store
        .for_each(&warden_audit::query::Query::default(), |r| {
            if let Some(Payload::Present { .. }) = store.payload(&r.leaf).unwrap() {
                shown += 1;
            }
            true
        })
        .unwrap();
    assert!(shown > 10, "{shown}");
    assert_ne!(
        std::fs::read(&db).unwrap(),
        before,
        "the schema was upgraded"
    );
    // A new log in the same store is v2, and both verify; erasure leaves the v1 leaves alone.
    let writer = AuditWriter::start(
        Store::open(&db, false).unwrap(),
        Keys::generate(&dir.path().join("keys"), "w", false).unwrap(),
        WriterConfig::default(),
    )
    .unwrap();
    let ctx = Arc::new(SessionContext::default());
    for i in 0..4 {
        writer.handle().record(message(i, &ctx)).unwrap();
    }
    writer.close(AuditEvent::gateway("".into(), ctx, "log_closed"));
    let reports = verify(&db, None).unwrap();
    assert_eq!(
        reports.iter().map(|r| r.leaf_version).collect::<Vec<_>>(),
        [1, 2]
    );
    let plan = Store::open_read(&db)
        .unwrap()
        .plan_removal(&Selector {
            since_us: Some(0),
            ..Selector::default()
        })
        .unwrap();
    assert_eq!(plan.digests.len(), 4);
    assert!(plan.in_v1_leaves > 10, "{plan:?}");
}

#[test]
fn a_leaf_with_huge_wire_strings_stays_under_the_tile_limit_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let keys = Keys::generate(&dir.path().join("keys"), "w", false).unwrap();
    let vkey = keys.vkey.clone();
    let writer = AuditWriter::start(
        Store::open(&db, false).unwrap(),
        keys,
        WriterConfig::default(),
    )
    .unwrap();
    let huge = "é".repeat(100_000);
    let ctx = Arc::new(SessionContext {
        principal: Some(huge.clone()),
        client_info: Some(warden_core::Implementation {
            name: huge.clone(),
            version: huge.clone(),
        }),
        ..SessionContext::default()
    });
    let mut ev = message(0, &ctx);
    ev.method = Some(huge.clone());
    ev.target = Some(huge.clone());
    ev.rpc_id = Some(format!("\"{huge}\""));
    ev.detail = Some(serde_json::json!({ "note": huge }));
    writer.handle().record(ev).unwrap();
    writer.close(AuditEvent::gateway("".into(), ctx, "log_closed"));
    let c = Connection::open(&db).unwrap();
    let mut st = c.prepare("SELECT leaf FROM records").unwrap();
    let lens: Vec<usize> = st
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|l| l.unwrap().len())
        .collect();
    assert!(
        lens.iter().all(|&l| l <= warden_audit::record::LEAF_LIMIT),
        "{lens:?}"
    );
    let leaf: serde_json::Value = serde_json::from_slice(
        &c.query_row("SELECT leaf FROM records WHERE seq = 1", [], |r| {
            r.get::<_, Vec<u8>>(0)
        })
        .unwrap(),
    )
    .unwrap();
    assert_eq!(leaf["cut"], true);
    assert!(leaf.get("rpc_id").is_none());
    assert_eq!(
        leaf["detail"]["cut"].as_u64().map(|n| n > 100_000),
        Some(true)
    );
    assert!(leaf["method"].as_str().unwrap().ends_with('…'));
    // The query columns hold what the cut leaf says: the log verifies.
    verify(&db, Some(std::slice::from_ref(&vkey))).unwrap();
}
