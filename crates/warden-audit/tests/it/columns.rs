//! The query columns must say what the leaves say: an edit of any column in SQLite is named
//! by verification (record, column, both values); an edited export names the record edited;
//! a tool result flagged `isError` is recorded as `tool_error` in the leaf and the column.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rusqlite::Connection;
use warden_audit::verify::ProblemKind;
use warden_audit::{AuditEvent, AuditWriter, Keys, Outcome, SessionContext, Store, WriterConfig};
use warden_core::{Direction, Implementation};

use crate::{Recorded, verify};

/// A frame as the proxy would hand it over, with its spans.
pub(crate) fn event(frame: &str, kind: &'static str, ctx: &Arc<SessionContext>) -> AuditEvent {
    let frame = Bytes::from(frame.to_owned());
    let env = warden_core::parse_frame(&frame).unwrap();
    let c = warden_core::classify(&frame, env.first().unwrap(), None);
    let mut ev = AuditEvent::gateway("0199-session".into(), ctx.clone(), "x");
    ev.event = None;
    ev.kind = kind;
    ev.method = Some("tools/call".into());
    ev.target = Some("get_pay_info".into());
    ev.args = c.args;
    ev.body = c.body;
    ev.size = frame.len() as u64;
    ev.frame = frame;
    ev
}

/// Three denied calls and three answered ones (one a tool error), with every column set.
fn recorded() -> Recorded {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let keys_dir = dir.path().join("keys");
    let keys = Keys::generate(&keys_dir, "warden-test", false).unwrap();
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
    let h = writer.handle();
    let ctx = Arc::new(SessionContext {
        server_name: Some("hr".into()),
        principal: Some("mallory".into()),
        client_info: Some(Implementation {
            name: "client\u{e9}".into(),
            version: "1.0".into(),
        }),
        ..Default::default()
    });
    for i in 0..6 {
        let mut req = event(
            &format!(
                r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"get_pay_info","arguments":{{"id":"E00{i}"}}}}}}"#
            ),
            "request",
            &ctx,
        );
        req.direction = Some(Direction::C2S);
        req.rpc_id = Some(i.to_string());
        let exchange = uuid::Uuid::now_v7();
        if i < 3 {
            req.outcome = Some(Outcome::Denied);
            h.record(req).unwrap();
            let mut reply = event(
                &format!(
                    r#"{{"jsonrpc":"2.0","id":{i},"error":{{"code":-32010,"message":"denied"}}}}"#
                ),
                "error",
                &ctx,
            );
            reply.direction = Some(Direction::S2C);
            reply.outcome = Some(Outcome::Denied);
            reply.error_code = Some(-32010);
            h.record(reply).unwrap();
        } else {
            req.exchange = Some(exchange);
            h.record(req).unwrap();
            let flag = if i == 5 { r#","isError":true"# } else { "" };
            let mut res = event(
                &format!(
                    r#"{{"jsonrpc":"2.0","id":{i},"result":{{"content":[{{"type":"text","text":"pay {i}"}}]{flag}}}}}"#
                ),
                "result",
                &ctx,
            );
            res.direction = Some(Direction::S2C);
            res.exchange = Some(exchange);
            res.outcome = Some(Outcome::Ok);
            res.duration_us = Some(1500 + i);
            h.record(res).unwrap();
        }
    }
    let summary = writer.close(AuditEvent::gateway("".into(), ctx, "log_closed"));
    assert_eq!(summary.lost, 0);
    Recorded {
        _dir: dir,
        db,
        keys: keys_dir,
        vkey,
    }
}

fn problem(r: &Recorded) -> warden_audit::verify::Problem {
    verify(&r.db, Some(std::slice::from_ref(&r.vkey))).expect_err("the edit must be found")
}

#[test]
fn a_clean_store_with_every_column_set_verifies() {
    let r = recorded();
    let reports = verify(&r.db, Some(std::slice::from_ref(&r.vkey))).unwrap();
    assert_eq!(reports[0].records, 14);
}

/// The finding: outcome 'denied' edited to 'ok' turned "denied: 3" into "denied: 0" beside
/// an integrity verdict of ok.
#[test]
fn an_outcome_edited_from_denied_to_ok_is_named_with_both_values() {
    let r = recorded();
    let c = Connection::open(&r.db).unwrap();
    let n = c
        .execute(
            "UPDATE records SET outcome = 'ok' WHERE outcome = 'denied'",
            [],
        )
        .unwrap();
    assert_eq!(n, 6);
    let store = Store::open_read(&r.db).unwrap();
    let stats = store.stats(0, i64::MAX, None).unwrap();
    assert_eq!(stats.policy_blocks, 0, "the readers believe the column…");
    let p = problem(&r);
    assert_eq!(p.kind, ProblemKind::Column, "{p}");
    assert_eq!(p.seq, Some(1), "the first denied record (after log_opened)");
    assert_eq!(p.column, Some("outcome"));
    let id: String = c
        .query_row("SELECT id FROM records WHERE seq = 1", [], |x| x.get(0))
        .unwrap();
    assert_eq!(p.record_id.as_deref(), Some(id.as_str()));
    let text = p.to_string();
    assert!(
        text.contains("column outcome holds \"ok\" but the record says \"denied\""),
        "{text}"
    );
}

/// Every copied column, edited on one record in several ways (another value, NULL, another
/// type), is found, and named with the right record.
#[test]
fn every_copied_column_edited_any_way_is_named() {
    let r = recorded();
    // seq 10: the answered call's result (every column but none is NULL there).
    let c = Connection::open(&r.db).unwrap();
    let null_free: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM records WHERE seq = 10 AND outcome IS NOT NULL AND exchange IS NOT NULL \
             AND duration_us IS NOT NULL AND principal IS NOT NULL AND agent IS NOT NULL AND server IS NOT NULL",
            [],
            |x| x.get(0),
        )
        .unwrap();
    assert_eq!(null_free, 1);
    drop(c);
    for column in warden_audit::columns::COPIED {
        for value in ["'x'", "NULL", "12", "X'6f6b'"] {
            let r = recorded();
            let c = Connection::open(&r.db).unwrap();
            let same: bool = c
                .query_row(
                    &format!("SELECT {column} IS {value} FROM records WHERE seq = 10"),
                    [],
                    |x| x.get(0),
                )
                .unwrap();
            if same {
                continue;
            }
            // NOT NULL columns refuse NULL: that edit cannot be made.
            if c.execute(
                &format!("UPDATE records SET {column} = {value} WHERE seq = 10"),
                [],
            )
            .is_err()
            {
                continue;
            }
            let p = problem(&r);
            assert_eq!(
                (p.kind, p.seq, p.column),
                (ProblemKind::Column, Some(10), Some(column)),
                "{column} = {value}: {p}"
            );
        }
    }
}

/// A column filled where the leaf has no such member is an edit too.
#[test]
fn a_column_set_where_the_leaf_has_nothing_is_named() {
    let r = recorded();
    let c = Connection::open(&r.db).unwrap();
    c.execute("UPDATE records SET target = 'other' WHERE seq = 0", [])
        .unwrap();
    let p = problem(&r);
    assert_eq!(
        (p.kind, p.seq, p.column),
        (ProblemKind::Column, Some(0), Some("target"))
    );
    assert!(
        p.detail.contains("\"other\" but the record says absent"),
        "{p}"
    );
}

/// A leaf edit is still an edit of the leaf, not of a column.
#[test]
fn an_edited_leaf_is_named_as_edited_before_its_columns() {
    let r = recorded();
    Connection::open(&r.db)
        .unwrap()
        .execute(
            "UPDATE records SET leaf = CAST(replace(CAST(leaf AS TEXT), '\"denied\"', '\"ok\"') AS BLOB) WHERE seq = 2",
            [],
        )
        .unwrap();
    let p = problem(&r);
    assert_eq!((p.kind, p.seq), (ProblemKind::Edited, Some(2)), "{p}");
}

#[test]
fn a_tool_result_flagged_is_error_is_recorded_as_tool_error() {
    let r = recorded();
    let c = Connection::open(&r.db).unwrap();
    let rows: Vec<(i64, Option<String>, String)> = c
        .prepare("SELECT seq, outcome, CAST(leaf AS TEXT) FROM records WHERE kind = 'result' ORDER BY seq")
        .unwrap()
        .query_map([], |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let outcomes: Vec<Option<&str>> = rows.iter().map(|r| r.1.as_deref()).collect();
    assert_eq!(outcomes, [Some("ok"), Some("ok"), Some("tool_error")]);
    assert!(
        rows[2].2.contains(r#""outcome":"tool_error""#),
        "{}",
        rows[2].2
    );
    let store = Store::open_read(&r.db).unwrap();
    let stats = store.stats(0, i64::MAX, None).unwrap();
    assert_eq!(
        (
            stats.total_invocations,
            stats.successes,
            stats.errors,
            stats.policy_blocks
        ),
        (6, 2, 1, 3)
    );
    // Latency is the server's, for the principal too.
    assert!(stats.by_principal[0].avg_latency_ms.is_some());
    // `--status error` finds it.
    let q = warden_audit::query::Query {
        outcomes: warden_audit::query::status_outcomes("error")
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..Default::default()
    };
    let page = store
        .page(&q, warden_audit::query::Order::OldestFirst, None, 100)
        .unwrap();
    assert_eq!(page.rows.len(), 1);
    assert_eq!(page.rows[0].outcome.as_deref(), Some("tool_error"));
    // The daily report agrees.
    let d = warden_audit::daily::daily(&store, 0, i64::MAX, Default::default()).unwrap();
    let s = &d.tool_call_stats;
    assert_eq!(
        (
            s.total_calls,
            s.successful,
            s.failed,
            s.tool_errors,
            s.blocked
        ),
        (6, 2, 1, 1, 3)
    );
}

fn export(r: &Recorded) -> String {
    let store = Store::open_read(&r.db).unwrap();
    let mut out = Vec::new();
    warden_audit::export::export(&store, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// `verify --file` names the record that was edited: every record, edited in turn.
#[test]
fn an_edited_export_names_the_record_edited() {
    let r = crate::record(40, 16);
    let text = export(&r);
    let lines: Vec<&str> = text.lines().collect();
    let records: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].starts_with(r#"{"type":"record""#))
        .collect();
    assert_eq!(records.len(), 42);
    for (seq, &line) in records.iter().enumerate() {
        let mut edited = lines.clone();
        // Change the record's id: every leaf has one (the line's log id may share a prefix).
        let v: serde_json::Value = serde_json::from_str(lines[line]).unwrap();
        let id = v["leaf"]["id"].as_str().unwrap().to_owned();
        let other = format!(
            "{}{}",
            &id[..id.len() - 1],
            if id.ends_with('0') { '1' } else { '0' }
        );
        let changed = lines[line].replacen(
            &format!("\"id\":\"{id}\""),
            &format!("\"id\":\"{other}\""),
            1,
        );
        assert_ne!(changed, lines[line]);
        edited[line] = &changed;
        let p = warden_audit::export::verify_export(edited.join("\n").as_bytes(), None)
            .unwrap()
            .expect_err("an edited export fails");
        assert_eq!(
            (p.kind, p.seq),
            (ProblemKind::Edited, Some(seq as u64)),
            "{p}"
        );
    }
}

/// An export without stored hashes (an older one, or hashes stripped) is still checked by
/// its checkpoints, which name the range, never another record.
#[test]
fn an_export_without_hashes_names_the_range_not_another_record() {
    let r = crate::record(40, 16);
    let text = export(&r);
    let mut stripped = String::new();
    for line in text.lines() {
        // `hashes` is the last member of a record line.
        let line = match line.rfind(r#","hashes":""#) {
            Some(at) => format!("{}}}", &line[..at]),
            None => line.to_owned(),
        };
        stripped.push_str(&line);
        stripped.push('\n');
    }
    assert!(!stripped.contains("\"hashes\""));
    assert!(
        warden_audit::export::verify_export(stripped.as_bytes(), None)
            .unwrap()
            .is_ok()
    );
    let tampered = crate::edit_record_line(&stripped, 21, "\"read_file\"", "\"rm_file\"");
    assert_ne!(tampered, stripped);
    let p = warden_audit::export::verify_export(tampered.as_bytes(), None)
        .unwrap()
        .unwrap_err();
    assert_eq!((p.kind, p.seq), (ProblemKind::Edited, None), "{p}");
    assert!(p.detail.contains("one of records 16..31"), "{p}");
}

/// An export whose hashes are not hex is refused as malformed.
#[test]
fn an_export_with_garbled_hashes_is_refused() {
    let r = crate::record(4, 16);
    let text = export(&r);
    let v: serde_json::Value = serde_json::from_str(
        text.lines()
            .find(|l| l.contains(r#""type":"record""#))
            .unwrap(),
    )
    .unwrap();
    let h = v["hashes"].as_str().unwrap().to_owned();
    let bad = text.replacen(&h, "zz", 1);
    assert!(warden_audit::export::verify_export(bad.as_bytes(), None).is_err());
}

/// The store and its companions are private to the owner, whatever mode they had.
#[cfg(unix)]
#[test]
fn the_store_is_narrowed_to_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new/audit.db");
    drop(Store::open(&db, false).unwrap());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(
        mode(&dir.path().join("new")) & 0o077,
        0,
        "a new directory is private"
    );
    // An existing store left world-readable (and its WAL) is narrowed when opened to write.
    for f in ["", "-wal", "-shm"] {
        let p = std::path::PathBuf::from(format!("{}{f}", db.display()));
        if !p.exists() {
            std::fs::write(&p, b"").unwrap();
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let s = Store::open(&db, false).unwrap();
    s.register_log(&warden_audit::store::LogInfo {
        log_id: "l".into(),
        origin: "o".into(),
        instance: "i".into(),
        created_us: 0,
        vkey: "v".into(),
        hash_key_id: "h".into(),
        checkpoint_every: 1,
    })
    .unwrap();
    for f in ["", "-wal", "-shm"] {
        let p = std::path::PathBuf::from(format!("{}{f}", db.display()));
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 32, ..Default::default() })]
    /// Any one column of any one record, set to any of several values: if the value changed,
    /// verification names exactly that record and column.
    #[test]
    fn any_single_column_edit_is_named(
        seq in 0i64..14,
        column in 0usize..warden_audit::columns::COPIED.len(),
        value in proptest::sample::select(vec!["'ok'", "'denied'", "NULL", "0", "-1", "''", "'mallory'", "X'00'", "1.5"]),
    ) {
        let r = recorded();
        let c = Connection::open(&r.db).unwrap();
        let column = warden_audit::columns::COPIED[column];
        let changed: bool = c
            .query_row(
                &format!("SELECT {column} IS NOT {value} FROM records WHERE seq = ?1"),
                [seq],
                |x| x.get(0),
            )
            .unwrap();
        let applied = c
            .execute(&format!("UPDATE records SET {column} = {value} WHERE seq = ?1"), [seq])
            .is_ok();
        if changed && applied {
            let p = problem(&r);
            proptest::prop_assert_eq!(
                (p.kind, p.seq, p.column),
                (ProblemKind::Column, Some(seq as u64), Some(column)),
                "{}", p
            );
        } else {
            proptest::prop_assert!(verify(&r.db, Some(std::slice::from_ref(&r.vkey))).is_ok());
        }
    }
}
