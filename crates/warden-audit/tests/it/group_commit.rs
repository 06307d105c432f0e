//! `durability: sync` is group-committed: a record nobody waits for (a request) waits for the
//! one somebody does (its response), and both share one commit; alone, it is committed after
//! the linger all the same.

use std::sync::Arc;
use std::time::{Duration, Instant};

use warden_audit::writer::Durability;
use warden_audit::{AuditEvent, AuditWriter, Keys, SessionContext, Store, WriterConfig};

use crate::message;

fn sync_writer(linger: Duration) -> (tempfile::TempDir, AuditWriter) {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::generate(&dir.path().join("keys"), "warden-test", false).unwrap();
    let cfg = WriterConfig {
        durability: Durability::Sync,
        linger,
        checkpoint_every: 1_000_000,
        checkpoint_interval: Duration::from_secs(3600),
        ..WriterConfig::default()
    };
    let store = Store::open(&dir.path().join("audit.db"), true).unwrap();
    let writer = AuditWriter::start(store, keys, cfg).unwrap();
    (dir, writer)
}

#[test]
fn an_exchange_is_one_commit_under_sync_durability() {
    // A linger far longer than the test: a request committed on its own would show as a
    // batch of its own, and a response that did not end the wait would stall the test.
    let (_dir, writer) = sync_writer(Duration::from_secs(30));
    let h = writer.handle();
    let ctx = Arc::new(SessionContext::default());
    let before = h.stats();
    let started = Instant::now();
    for i in 0..40 {
        h.record(message(2 * i, &ctx)).unwrap();
        // The server's time to answer: the writer has the request alone meanwhile. (Not a
        // wait for anything: grouped or not, the assertions below hold on their own.)
        std::thread::sleep(Duration::from_millis(2));
        let ack = h.record_committed(message(2 * i + 1, &ctx)).unwrap();
        ack.recv().unwrap().unwrap();
    }
    let after = h.stats();
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(after.committed - before.committed, 80);
    assert_eq!(
        after.batches - before.batches,
        40,
        "one commit per exchange: {after:?}"
    );
    let summary = writer.close(AuditEvent::gateway("".into(), ctx, "log_closed"));
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.records, 82);
}

#[test]
fn a_record_nobody_waits_for_is_committed_after_the_linger() {
    let (_dir, writer) = sync_writer(Duration::from_millis(20));
    let h = writer.handle();
    let ctx = Arc::new(SessionContext::default());
    let (_, committed) = h.counts();
    h.record(message(0, &ctx)).unwrap();
    // Waits for the commit itself (the deadline only ends a test that would hang).
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.counts().1 == committed {
        assert!(
            Instant::now() < deadline,
            "never committed: {:?}",
            h.stats()
        );
        std::thread::yield_now();
    }
    assert_eq!(h.counts().1, committed + 1);
    let summary = writer.close(AuditEvent::gateway("".into(), ctx, "log_closed"));
    assert_eq!(summary.records, 3);
}

#[test]
fn requests_sent_together_share_one_commit_with_all_their_responses() {
    // Four calls in flight: the first response does not commit alone while the other three
    // requests of its batch wait for theirs (they come within the linger).
    let (_dir, writer) = sync_writer(Duration::from_secs(30));
    let h = writer.handle();
    let ctx = Arc::new(SessionContext::default());
    let before = h.stats();
    for i in 0..4 {
        h.record(message(2 * i, &ctx)).unwrap();
    }
    let mut acks = Vec::new();
    for i in 0..4 {
        // The server answers one after the other (not a wait for anything).
        std::thread::sleep(Duration::from_millis(2));
        acks.push(h.record_committed(message(2 * i + 1, &ctx)).unwrap());
    }
    for ack in acks {
        ack.recv().unwrap().unwrap();
    }
    let after = h.stats();
    assert_eq!(after.committed - before.committed, 8);
    assert_eq!(after.batches - before.batches, 1, "{after:?}");
    writer.close(AuditEvent::gateway("".into(), ctx, "log_closed"));
}
