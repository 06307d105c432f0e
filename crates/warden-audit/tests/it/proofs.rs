//! Inclusion and consistency proofs check offline, and fail against another tree.

use warden_audit::Store;
use warden_audit::proof::{self, Checked, Proof};

use crate::record;

fn record_id(db: &std::path::Path, seq: i64) -> String {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row("SELECT id FROM records WHERE seq = ?1", [seq], |x| x.get(0))
        .unwrap()
}

#[test]
fn inclusion_proof_round_trip_and_rejections() {
    let r = record(50, 16);
    let store = Store::open_read(&r.db).unwrap();
    for seq in [0, 1, 17, 33, 51] {
        let p = proof::prove_inclusion(&store, &record_id(&r.db, seq)).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        let back: Proof = serde_json::from_str(&json).unwrap();
        let checked = proof::check(&back, Some(std::slice::from_ref(&r.vkey))).unwrap();
        assert_eq!(
            checked,
            Checked::Inclusion {
                origin: checked_origin(&checked),
                index: seq as u64,
                size: 52
            }
        );
    }
    // The same proof against a different log's checkpoint fails.
    let other = record(50, 16);
    let other_store = Store::open_read(&other.db).unwrap();
    let mine = proof::prove_inclusion(&store, &record_id(&r.db, 17)).unwrap();
    let theirs = proof::prove_inclusion(&other_store, &record_id(&other.db, 17)).unwrap();
    let (
        Proof::Inclusion {
            leaf,
            index,
            record_id,
            proof,
            origin,
            vkey,
            ..
        },
        Proof::Inclusion { checkpoint, .. },
    ) = (mine, theirs)
    else {
        unreachable!()
    };
    let mixed = Proof::Inclusion {
        origin,
        index,
        record_id,
        leaf,
        checkpoint,
        vkey,
        proof,
    };
    assert!(proof::check(&mixed, Some(std::slice::from_ref(&other.vkey))).is_err());
    assert!(proof::check(&mixed, Some(std::slice::from_ref(&r.vkey))).is_err());
}

#[test]
fn an_inclusion_proof_relabelled_to_another_record_id_fails() {
    let r = record(20, 8);
    let store = Store::open_read(&r.db).unwrap();
    let valid = proof::prove_inclusion(&store, &record_id(&r.db, 3)).unwrap();
    let mut json = serde_json::to_value(&valid).unwrap();
    assert!(proof::check(&valid, Some(std::slice::from_ref(&r.vkey))).is_ok());
    json["record_id"] = serde_json::Value::from(record_id(&r.db, 4));
    let relabelled: Proof = serde_json::from_value(json).unwrap();
    assert!(proof::check(&relabelled, Some(std::slice::from_ref(&r.vkey))).is_err());
}

fn checked_origin(c: &Checked) -> String {
    match c {
        Checked::Inclusion { origin, .. } | Checked::Consistency { origin, .. } => origin.clone(),
    }
}

#[test]
fn consistency_proof_from_an_old_checkpoint() {
    let r = record(50, 16);
    let store = Store::open_read(&r.db).unwrap();
    let log = store.logs().unwrap().remove(0);
    let cps = store.checkpoints(&log.log_id).unwrap();
    let (old_size, _, old_note) = cps[0].clone();
    let p = proof::prove_consistency(&store, &old_note).unwrap();
    let checked = proof::check(&p, Some(std::slice::from_ref(&r.vkey))).unwrap();
    assert_eq!(
        checked,
        Checked::Consistency {
            origin: log.origin.clone(),
            old_size,
            new_size: 52
        }
    );
    // A consistency proof whose old checkpoint comes from a different tree fails.
    let other = record(50, 16);
    let other_store = Store::open_read(&other.db).unwrap();
    let other_log = other_store.logs().unwrap().remove(0);
    let foreign_old = other_store.checkpoints(&other_log.log_id).unwrap()[0]
        .2
        .clone();
    let Proof::Consistency {
        origin,
        new_checkpoint,
        vkey,
        proof,
        ..
    } = p
    else {
        unreachable!()
    };
    let mixed = Proof::Consistency {
        origin,
        old_checkpoint: foreign_old,
        new_checkpoint,
        vkey,
        proof,
    };
    assert!(proof::check(&mixed, None).is_err());
}
