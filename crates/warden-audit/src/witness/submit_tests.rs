//! The submitter against a real witness core and a real writer: every checkpoint of a growing
//! log cosigned (the final one included), an answer lost after the witness recorded it
//! recovered through the 409 size, cosignatures kept in the store, the newest anchored.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::core::{TrustedLog, Witness};
use super::cosign::{CosignatureKey, Cosigner};
use super::cosigned;
use super::policy::PolicyWitness;
use super::submit::{Post, SubmitConfig, Submitter};
use crate::anchor::{self, Anchor, Finding};
use crate::{AuditEvent, AuditWriter, Keys, Store, WriterConfig};

#[test]
fn checkpoints_are_cosigned_after_a_lost_answer_and_anchored() {
    let d = tempfile::tempdir().unwrap();
    let keys = Keys::generate(&d.path().join("keys"), "warden", false).unwrap();
    let cosigner = Cosigner::generate("witness.test/w1").unwrap();
    let wvkey = cosigner.vkey();
    let witness = Arc::new(
        Witness::new(
            vec![TrustedLog {
                origin: None,
                origin_prefix: Some("warden/warden/".into()),
                keys: vec![keys.vkey.clone()],
            }],
            cosigner,
            &d.path().join("witness.db"),
        )
        .unwrap(),
    );
    // The transport: the real witness answers, but the first answer is lost on the way back
    // (after the witness recorded the checkpoint), as with a connection reset.
    let w = witness.clone();
    let lose = AtomicBool::new(true);
    let post: Post = Box::new(move |url: &str, body: &[u8]| {
        assert_eq!(url, "http://witness.test/add-checkpoint");
        let a = w.add_checkpoint(body);
        if lose.swap(false, Ordering::SeqCst) {
            return Err("connection reset".into());
        }
        Ok((a.status, a.body))
    });
    let db = d.path().join("audit.db");
    let store = Store::open(&db, false).unwrap();
    let (submitter, sink) = Submitter::start(SubmitConfig {
        store: db.clone(),
        witnesses: vec![PolicyWitness {
            name: "w1".into(),
            key: CosignatureKey::parse(&wvkey).unwrap(),
            vkey: wvkey.clone(),
            url: Some("http://witness.test".into()),
        }],
        anchor: Some(Anchor::new(&d.path().join("anchors/")).unwrap()),
        post,
        retry: Duration::from_millis(20),
    })
    .unwrap();
    let writer = AuditWriter::start(
        store,
        keys,
        WriterConfig {
            checkpoint_every: 3,
            checkpoint_sink: Some(sink),
            ..WriterConfig::default()
        },
    )
    .unwrap();
    let h = writer.handle();
    for _ in 0..10 {
        h.record(AuditEvent::gateway(
            "s".into(),
            Arc::default(),
            "session_start",
        ))
        .unwrap();
        h.flush().unwrap();
    }
    drop(h);
    let summary = writer.close(AuditEvent::gateway("".into(), Arc::default(), "log_closed"));
    let stats = submitter.stats.clone();
    submitter.finish(Duration::from_secs(20));

    let store = Store::open_read(&db).unwrap();
    let log = store.logs().unwrap().remove(0);
    let last = store.checkpoints(&log.log_id).unwrap().pop().unwrap();
    assert_eq!(last.0, summary.records);
    let cosigs = cosigned::of_log(&store, &log.log_id).unwrap();
    assert_eq!(cosigs.last().map(|c| c.0), Some(last.0), "{cosigs:?}");
    assert!(cosigs.iter().all(|c| c.1 == wvkey));
    assert_eq!(witness.latest(&log.origin).unwrap().unwrap().size, last.0);
    assert!(
        stats.failures.load(Ordering::Relaxed) >= 1,
        "the lost answer was counted"
    );
    // The witness's view and the offline policy check agree.
    let policy = super::policy::Policy::parse(&format!("witness w1 {wvkey}\nquorum w1\n")).unwrap();
    let found = super::audit::check(&store, &policy).unwrap();
    assert!(found[0].ok(), "{found:?}");
    // The anchor holds the final checkpoint, which the store matches.
    let anchored = anchor::read(&d.path().join("anchors")).unwrap();
    assert_eq!(anchored.len(), 1);
    assert_eq!(anchored[0].1, last.2);
    let findings = anchor::check(&store, &anchored, None).unwrap();
    assert!(
        matches!(findings[0], Finding::Matched { size, .. } if size == last.0),
        "{findings:?}"
    );
}
