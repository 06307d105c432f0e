//! Every kind of tampering with a recorded store is detected and named.

use proptest::prelude::*;
use rusqlite::{Connection, params};
use warden_audit::verify::ProblemKind;

use crate::{record, verify};

fn conn(r: &crate::Recorded) -> Connection {
    Connection::open(&r.db).unwrap()
}

fn first_problem(r: &crate::Recorded) -> warden_audit::verify::Problem {
    verify(&r.db, Some(std::slice::from_ref(&r.vkey))).expect_err("tampering must be detected")
}

#[test]
fn edited_leaf() {
    let r = record(30, 10);
    conn(&r)
        .execute("UPDATE records SET leaf = CAST(replace(CAST(leaf AS TEXT), '\"read_file\"', '\"rm_file\"') AS BLOB) WHERE seq = 13", [])
        .unwrap();
    let p = first_problem(&r);
    assert_eq!((p.kind, p.seq), (ProblemKind::Edited, Some(13)));
    assert!(p.record_id.is_some());
}

#[test]
fn edited_leaf_with_recomputed_leaf_hash_is_caught_by_the_tree_or_checkpoint() {
    let r = record(30, 10);
    let c = conn(&r);
    let leaf: Vec<u8> = c
        .query_row("SELECT leaf FROM records WHERE seq = 5", [], |x| x.get(0))
        .unwrap();
    let edited = String::from_utf8(leaf)
        .unwrap()
        .replace("\"read_file\"", "\"rm_file\"");
    let mut hashes: Vec<u8> = c
        .query_row("SELECT hashes FROM records WHERE seq = 5", [], |x| x.get(0))
        .unwrap();
    hashes[..32].copy_from_slice(&tlog_tiles::record_hash(edited.as_bytes()).0);
    c.execute(
        "UPDATE records SET leaf = ?1, hashes = ?2 WHERE seq = 5",
        params![edited.as_bytes(), hashes],
    )
    .unwrap();
    let p = first_problem(&r);
    assert_eq!(p.kind, ProblemKind::Edited);
    // Record 5's own higher hash (leaves 4..5) no longer matches: the range named holds it.
    assert_eq!(p.seq, Some(5), "{p}");
    assert!(p.detail.contains("one of records 4..5"), "{p}");
}

#[test]
fn deleted_record() {
    let r = record(30, 10);
    conn(&r)
        .execute("DELETE FROM records WHERE seq = 7", [])
        .unwrap();
    let p = first_problem(&r);
    assert_eq!((p.kind, p.seq), (ProblemKind::Deleted, Some(7)));
}

#[test]
fn deleted_and_renumbered() {
    let r = record(30, 10);
    let c = conn(&r);
    c.execute("DELETE FROM records WHERE seq = 7", []).unwrap();
    c.execute("UPDATE records SET seq = seq - 1 WHERE seq > 7", [])
        .unwrap();
    let p = first_problem(&r);
    assert_eq!((p.kind, p.seq), (ProblemKind::Deleted, Some(7)));
}

#[test]
fn reordered_records() {
    let r = record(30, 10);
    let c = conn(&r);
    c.execute("UPDATE records SET seq = -1 WHERE seq = 4", [])
        .unwrap();
    c.execute("UPDATE records SET seq = 4 WHERE seq = 5", [])
        .unwrap();
    c.execute("UPDATE records SET seq = 5 WHERE seq = -1", [])
        .unwrap();
    let p = first_problem(&r);
    assert_eq!((p.kind, p.seq), (ProblemKind::Reordered, Some(4)));
}

#[test]
fn inserted_record() {
    let r = record(30, 10);
    let c = conn(&r);
    let max: i64 = c
        .query_row("SELECT MAX(seq) FROM records", [], |x| x.get(0))
        .unwrap();
    // Shift from the top down to keep (log_id, seq) unique, then insert a copy at 9.
    for s in (9..=max).rev() {
        c.execute("UPDATE records SET seq = seq + 1 WHERE seq = ?1", [s])
            .unwrap();
    }
    c.execute(
        "INSERT INTO records (log_id, seq, id, ts_us, session, kind, leaf, hashes)
         SELECT log_id, 9, 'forged', ts_us, session, kind, leaf, hashes FROM records WHERE seq = 3",
        [],
    )
    .unwrap();
    let p = first_problem(&r);
    assert_eq!((p.kind, p.seq), (ProblemKind::Inserted, Some(9)));
}

#[test]
fn appended_after_close() {
    let r = record(10, 100);
    let c = conn(&r);
    let leaf: Vec<u8> = c
        .query_row("SELECT leaf FROM records WHERE seq = 4", [], |x| x.get(0))
        .unwrap();
    let max: i64 = c
        .query_row("SELECT MAX(seq) FROM records", [], |x| x.get(0))
        .unwrap();
    let forged = String::from_utf8(leaf)
        .unwrap()
        .replace("\"seq\":4,", &format!("\"seq\":{},", max + 1));
    c.execute(
        "INSERT INTO records (log_id, seq, id, ts_us, session, kind, leaf, hashes)
         SELECT log_id, ?1, 'forged', ts_us, session, kind, ?2, hashes FROM records WHERE seq = 4",
        params![max + 1, forged.as_bytes()],
    )
    .unwrap();
    let p = first_problem(&r);
    assert_eq!(
        (p.kind, p.seq),
        (ProblemKind::Inserted, Some(max as u64 + 1))
    );
}

#[test]
fn truncated_after_last_checkpoint() {
    let r = record(30, 10);
    conn(&r)
        .execute("DELETE FROM records WHERE seq >= 25", [])
        .unwrap();
    let p = first_problem(&r);
    assert_eq!(p.kind, ProblemKind::Truncated);
}

#[test]
fn forged_checkpoint() {
    let r = record(30, 10);
    let c = conn(&r);
    let note: String = c
        .query_row("SELECT note FROM checkpoints WHERE size = 20", [], |x| {
            x.get(0)
        })
        .unwrap();
    let (skey, _) = signed_note::generate_key(&mut rand::rngs::OsRng, "warden-test");
    let signer = signed_note::StandardSigner::new(&skey).unwrap();
    let v = warden_audit::checkpoint::peek(&note).unwrap();
    let forged =
        warden_audit::checkpoint::sign(&v.origin, 20, tlog_tiles::Hash([7; 32]), &signer).unwrap();
    c.execute("UPDATE checkpoints SET note = ?1 WHERE size = 20", [forged])
        .unwrap();
    let p = first_problem(&r);
    assert_eq!((p.kind, p.seq), (ProblemKind::ForgedCheckpoint, Some(20)));
}

#[test]
fn missing_checkpoint() {
    let r = record(30, 10);
    conn(&r)
        .execute("DELETE FROM checkpoints WHERE size = 20", [])
        .unwrap();
    let p = first_problem(&r);
    assert_eq!(p.kind, ProblemKind::MissingCheckpoint);
    let r = record(30, 10);
    conn(&r)
        .execute(
            "DELETE FROM checkpoints WHERE size = (SELECT MAX(size) FROM checkpoints)",
            [],
        )
        .unwrap();
    assert_eq!(first_problem(&r).kind, ProblemKind::MissingCheckpoint);
}

#[test]
fn wrong_trusted_key_fails() {
    let r = record(12, 10);
    let (_, other) = signed_note::generate_key(&mut rand::rngs::OsRng, "warden-test");
    let p = verify(&r.db, Some(&[other])).unwrap_err();
    assert_eq!(p.kind, ProblemKind::ForgedCheckpoint);
}

/// The attacker's whole forgery: a new key registered for the log and named in its
/// `log_opened` record, every stored hash recomputed, every checkpoint re-signed with the new
/// key. It verifies against the registered key (integrity, not authorship); against the key
/// the auditor holds, it is caught.
#[test]
fn registered_key_swap_is_caught_with_pubkey() {
    let r = record(30, 10);
    let c = conn(&r);
    let attacker_dir = r._dir.path().join("attacker");
    let attacker = warden_audit::Keys::generate(&attacker_dir, "warden-test", false).unwrap();
    assert_ne!(attacker.vkey, r.vkey);
    let log_id: String = c
        .query_row("SELECT log_id FROM logs", [], |x| x.get(0))
        .unwrap();
    // Rewrite log_opened to name the attacker's key, then rebuild every stored hash.
    let opened: Vec<u8> = c
        .query_row("SELECT leaf FROM records WHERE seq = 0", [], |x| x.get(0))
        .unwrap();
    let opened = String::from_utf8(opened).unwrap();
    assert!(opened.contains(&r.vkey));
    let opened = opened.replace(&r.vkey, &attacker.vkey);
    c.execute(
        "UPDATE records SET leaf = ?1 WHERE seq = 0",
        params![opened.as_bytes()],
    )
    .unwrap();
    let leaves: Vec<(i64, Vec<u8>)> = c
        .prepare("SELECT seq, leaf FROM records ORDER BY seq")
        .unwrap()
        .query_map([], |x| Ok((x.get(0)?, x.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut frontier = warden_audit::tree::Frontier::new();
    let mut roots = std::collections::HashMap::new();
    for (seq, leaf) in &leaves {
        let hashes = frontier.append(tlog_tiles::record_hash(leaf));
        let blob: Vec<u8> = hashes.iter().flat_map(|h| h.0).collect();
        c.execute(
            "UPDATE records SET hashes = ?1 WHERE seq = ?2",
            params![blob, seq],
        )
        .unwrap();
        roots.insert(frontier.size(), frontier.root());
    }
    let notes: Vec<(i64, String)> = c
        .prepare("SELECT size, note FROM checkpoints")
        .unwrap()
        .query_map([], |x| Ok((x.get(0)?, x.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        notes.len() >= 3,
        "checkpoints at 10, 20, 30 and the final one"
    );
    for (size, note) in notes {
        let v = warden_audit::checkpoint::peek(&note).unwrap();
        let root = roots[&(size as u64)];
        let forged =
            warden_audit::checkpoint::sign(&v.origin, v.size, root, &attacker.signer).unwrap();
        c.execute(
            "UPDATE checkpoints SET note = ?1 WHERE size = ?2",
            params![forged, size],
        )
        .unwrap();
    }
    c.execute(
        "UPDATE logs SET vkey = ?1 WHERE log_id = ?2",
        params![attacker.vkey, log_id],
    )
    .unwrap();
    // The swap is complete: against the registered (swapped) key everything agrees…
    assert!(
        verify(&r.db, None).is_ok(),
        "the forgery is self-consistent"
    );
    // …and the auditor's own key shows the checkpoints were not signed by it.
    let p = first_problem(&r);
    assert_eq!(p.kind, ProblemKind::ForgedCheckpoint, "{p}");
    // Swapping only the registration (not the records) is caught even without --pubkey.
    let r2 = record(12, 10);
    conn(&r2)
        .execute("UPDATE logs SET vkey = ?1", params![attacker.vkey])
        .unwrap();
    assert_eq!(
        verify(&r2.db, None).unwrap_err().kind,
        ProblemKind::Registration
    );
}

#[test]
fn deleted_log_registration() {
    let r = record(12, 10);
    conn(&r).execute("DELETE FROM logs", []).unwrap();
    assert_eq!(
        verify(&r.db, None).unwrap_err().kind,
        ProblemKind::Registration
    );
}

#[derive(Debug, Clone)]
enum Tamper {
    Edit(i64, usize),
    Delete(i64),
    Swap(i64, i64),
    Truncate(i64),
}

fn apply(c: &Connection, t: &Tamper) -> bool {
    match *t {
        Tamper::Edit(seq, at) => {
            let leaf: Vec<u8> = c
                .query_row("SELECT leaf FROM records WHERE seq = ?1", [seq], |x| {
                    x.get(0)
                })
                .unwrap();
            let mut leaf = leaf;
            let i = at % leaf.len();
            leaf[i] ^= 0x01;
            c.execute(
                "UPDATE records SET leaf = ?1 WHERE seq = ?2",
                params![leaf, seq],
            )
            .unwrap();
        }
        Tamper::Delete(seq) => {
            c.execute("DELETE FROM records WHERE seq = ?1", [seq])
                .unwrap();
        }
        Tamper::Swap(a, b) => {
            if a == b {
                return false;
            }
            let la: Vec<u8> = c
                .query_row("SELECT leaf FROM records WHERE seq = ?1", [a], |x| x.get(0))
                .unwrap();
            let lb: Vec<u8> = c
                .query_row("SELECT leaf FROM records WHERE seq = ?1", [b], |x| x.get(0))
                .unwrap();
            if la == lb {
                return false;
            }
            c.execute(
                "UPDATE records SET leaf = ?1 WHERE seq = ?2",
                params![lb, a],
            )
            .unwrap();
            c.execute(
                "UPDATE records SET leaf = ?1 WHERE seq = ?2",
                params![la, b],
            )
            .unwrap();
        }
        Tamper::Truncate(from) => {
            c.execute("DELETE FROM records WHERE seq >= ?1", [from])
                .unwrap();
        }
    }
    true
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (0i64..24, 0usize..4096).prop_map(|(s, a)| Tamper::Edit(s, a)),
        (0i64..24).prop_map(Tamper::Delete),
        (0i64..24, 0i64..24).prop_map(|(a, b)| Tamper::Swap(a, b)),
        (0i64..24).prop_map(Tamper::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn any_single_tamper_is_detected(t in tamper()) {
        let r = record(22, 8);
        let c = conn(&r);
        if apply(&c, &t) {
            prop_assert!(verify(&r.db, Some(std::slice::from_ref(&r.vkey))).is_err(), "undetected: {t:?}");
        }
    }
}

#[test]
fn weakened_registration_is_caught() {
    let r = record(30, 10);
    conn(&r)
        .execute("UPDATE logs SET checkpoint_every = 1000000", [])
        .unwrap();
    assert_eq!(first_problem(&r).kind, ProblemKind::Registration);
}

#[test]
fn a_forged_checkpoint_beyond_the_records_is_forged_not_truncation() {
    let r = record(30, 10);
    let c = conn(&r);
    let (log_id, note): (String, String) = c
        .query_row(
            "SELECT log_id, note FROM checkpoints ORDER BY size DESC LIMIT 1",
            [],
            |x| Ok((x.get(0)?, x.get(1)?)),
        )
        .unwrap();
    c.execute(
        "INSERT INTO checkpoints (log_id, size, ts_us, note) VALUES (?1, 999, 0, ?2)",
        params![log_id, note],
    )
    .unwrap();
    let p = first_problem(&r);
    assert_eq!(p.kind, ProblemKind::ForgedCheckpoint);
}
