//! The log side of C2SP `tlog-witness`: a thread that follows the checkpoints the writer
//! commits, copies each to the anchor (if any), and sends the newest to every witness with a
//! consistency proof from the size that witness last cosigned (0 at first; a 409 says which),
//! then keeps each returned cosignature that verifies with the witness's configured key in
//! the store beside the checkpoint. It never blocks the writer (a full queue drops a
//! checkpoint: the next one supersedes it), and failures are logged, counted and retried.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use tlog_tiles::prove_tree;

use super::cosigned;
use super::policy::PolicyWitness;
use super::request;
use crate::store::{CheckpointRow, Store, StoreError};
use crate::writer::CheckpointSink;

/// Posts `body` to `url`; returns the status and body of the answer, or why there was none.
pub type Post = Box<dyn Fn(&str, &[u8]) -> Result<(u16, String), String> + Send>;

/// What the submitter does.
pub struct SubmitConfig {
    /// The audit store (read for proofs, written for cosignatures).
    pub store: PathBuf,
    /// Witnesses to submit to (those without a URL are skipped).
    pub witnesses: Vec<PolicyWitness>,
    /// Where checkpoints are copied outside the store.
    pub anchor: Option<crate::anchor::Anchor>,
    pub post: Post,
    /// How long after a failure a witness is tried again.
    pub retry: Duration,
}

/// Counters, read at any time.
#[derive(Default, Debug)]
pub struct SubmitStats {
    pub cosigned: AtomicU64,
    pub failures: AtomicU64,
    pub anchored: AtomicU64,
    pub dropped: AtomicU64,
}

/// The running submitter.
pub struct Submitter {
    thread: Option<JoinHandle<()>>,
    done: Receiver<()>,
    pub stats: Arc<SubmitStats>,
}

impl Submitter {
    /// Starts the thread; the sink goes into the writer's config.
    pub fn start(cfg: SubmitConfig) -> Result<(Submitter, CheckpointSink), StoreError> {
        let store = Store::open(&cfg.store, false)?;
        cosigned::ensure(&store)?;
        let (tx, rx) = bounded::<CheckpointRow>(256);
        let (done_tx, done) = bounded(1);
        let stats = Arc::new(SubmitStats::default());
        let s = stats.clone();
        let thread = std::thread::Builder::new()
            .name("witness-submit".into())
            .spawn(move || {
                follow(&store, cfg, &rx, &s);
                let _sent = done_tx.send(());
            })
            .map_err(|e| StoreError::Dir {
                path: "witness submitter thread".into(),
                source: e,
            })?;
        let sink = CheckpointSink::new(tx, stats.clone());
        Ok((
            Submitter {
                thread: Some(thread),
                done,
                stats,
            },
            sink,
        ))
    }

    /// After the writer closed (so the sink is gone): waits up to `wait` for the last
    /// checkpoint to be anchored and submitted.
    pub fn finish(mut self, wait: Duration) {
        if self.done.recv_timeout(wait).is_ok()
            && let Some(t) = self.thread.take()
        {
            let _joined = t.join();
        } else {
            tracing::warn!(
                "witness submission did not finish in {wait:?}; the last checkpoint may lack cosignatures"
            );
        }
    }
}

/// Where a witness stands.
struct Target {
    w: PolicyWitness,
    /// The size it last cosigned, as far as we know.
    known: u64,
    /// The newest checkpoint still to be cosigned by it.
    pending: bool,
}

fn follow(store: &Store, cfg: SubmitConfig, rx: &Receiver<CheckpointRow>, stats: &SubmitStats) {
    let mut targets: Vec<Target> = cfg
        .witnesses
        .into_iter()
        .filter(|w| w.url.is_some())
        .map(|w| Target {
            w,
            known: 0,
            pending: false,
        })
        .collect();
    let mut latest: Option<CheckpointRow> = None;
    loop {
        let waiting = targets.iter().any(|t| t.pending);
        let got = if waiting {
            rx.recv_timeout(cfg.retry)
        } else {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        let closing = match got {
            Ok(mut c) => {
                while let Ok(newer) = rx.try_recv() {
                    if let Some(a) = &cfg.anchor {
                        anchor(a, &c, stats);
                    }
                    c = newer;
                }
                if let Some(a) = &cfg.anchor {
                    anchor(a, &c, stats);
                }
                latest = Some(c);
                for t in &mut targets {
                    t.pending = true;
                }
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        if let Some(c) = &latest {
            for t in targets.iter_mut().filter(|t| t.pending) {
                match submit(store, &cfg.post, t, c) {
                    Ok(()) => {
                        t.pending = false;
                        stats.cosigned.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(Retry::Later(e)) => {
                        stats.failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            witness = t.w.name,
                            size = c.size,
                            "witness submission failed (retried later): {e}"
                        );
                    }
                    Err(Retry::Newer(e)) => {
                        t.pending = false;
                        stats.failures.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(
                            witness = t.w.name,
                            size = c.size,
                            "witness refused the checkpoint: {e}"
                        );
                    }
                }
            }
        }
        if closing {
            return;
        }
    }
}

fn anchor(a: &crate::anchor::Anchor, c: &CheckpointRow, stats: &SubmitStats) {
    match a.write(&c.log_id, &c.note) {
        Ok(()) => {
            stats.anchored.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(size = c.size, "cannot write the checkpoint anchor: {e}");
        }
    }
}

enum Retry {
    /// Try this checkpoint again after a while (network, 5xx, a transient refusal).
    Later(String),
    /// This checkpoint will not be cosigned; wait for a newer one.
    Newer(String),
}

fn submit(store: &Store, post: &Post, t: &mut Target, c: &CheckpointRow) -> Result<(), Retry> {
    let Some(url) = &t.w.url else {
        return Ok(());
    };
    let url = format!("{url}/add-checkpoint");
    let body_text = signed_note::Note::from_bytes(c.note.as_bytes())
        .map_err(|e| Retry::Newer(format!("our checkpoint is not a note: {e}")))?
        .text()
        .to_vec();
    // A 409 tells the size the witness has; one more try then uses it.
    for _ in 0..3 {
        if t.known > c.size {
            return Err(Retry::Newer(format!(
                "the witness has cosigned size {} of this log, more than this checkpoint's {}",
                t.known, c.size
            )));
        }
        let proof = if t.known == 0 || t.known == c.size {
            Vec::new()
        } else {
            prove_tree(c.size, t.known, &store.hash_reader(&c.log_id)).map_err(|e| {
                Retry::Later(format!("cannot prove consistency from {}: {e}", t.known))
            })?
        };
        let body = request::format(t.known, &proof, &c.note);
        let (status, answer) = post(&url, body.as_bytes()).map_err(Retry::Later)?;
        match status {
            200 => {
                let mut kept = 0;
                for line in answer.lines().filter(|l| !l.is_empty()) {
                    match t.w.key.verify_line(&body_text, line) {
                        Ok(_) => {
                            cosigned::add(store, &c.log_id, c.size, &t.w.vkey, line)
                                .map_err(|e| Retry::Later(e.to_string()))?;
                            kept += 1;
                        }
                        Err(super::cosign::CosignError::OtherKey) => {}
                        Err(e) => return Err(Retry::Later(format!("returned cosignature: {e}"))),
                    }
                }
                if kept == 0 {
                    return Err(Retry::Later(
                        "the answer holds no cosignature of the configured witness key".into(),
                    ));
                }
                t.known = c.size;
                return Ok(());
            }
            409 => {
                let size = request::parse_size(answer.trim_end_matches('\n')).ok_or_else(|| {
                    Retry::Later(format!("409 without a size: {:?}", answer.trim()))
                })?;
                if size == t.known {
                    return Err(Retry::Later("409 naming the size we sent".into()));
                }
                t.known = size;
            }
            s => {
                return Err(Retry::Later(format!("HTTP {s}: {}", answer.trim())));
            }
        }
    }
    Err(Retry::Later("the witness's size kept changing".into()))
}

/// Hands committed checkpoints to the submitter.
pub(crate) fn hand_over(tx: &Sender<CheckpointRow>, stats: &SubmitStats, c: &CheckpointRow) {
    if tx.try_send(c.clone()).is_err() {
        stats.dropped.fetch_add(1, Ordering::Relaxed);
    }
}
