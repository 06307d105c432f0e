//! The audit writer: one thread per process owns the store and its log's tree. It seals events
//! in the order they were queued, commits them in batches (all that is queued, up to a cap, per
//! transaction), signs a checkpoint every N records or T seconds and at close, and acknowledges
//! commits to whoever waits for them (`durability: sync`, group-committed: one commit covers
//! every record queued while the previous one ran).
//!
//! When the store fails, sealed rows stay in memory and are retried in order; the failure is
//! visible through `AuditHandle::failure` so the proxy can fail closed or say so loudly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::sync::Mutex;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use tlog_tiles::record_hash;
use warden_core::Direction;

use crate::checkpoint;
use crate::content::{Gone, Removal};
use crate::keys::Keys;
use crate::record::{AuditEvent, PayloadLevel, Sealer, SessionContext, now_us};
use crate::store::{CheckpointRow, LogInfo, Row, Store, StoreError};
use crate::tree::Frontier;

/// When a response may be forwarded relative to the commit of its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Forward at once; records are committed in the next batch (milliseconds later).
    Batch,
    /// Forward a response only after the records of its exchange are committed.
    Sync,
}

/// Writer settings.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Name of this warden instance: the checkpoint origin's first part.
    pub instance: String,
    pub durability: Durability,
    pub level: PayloadLevel,
    pub max_payload: usize,
    /// Sign a checkpoint after this many records…
    pub checkpoint_every: u64,
    /// …or this long after the last one, if records were added.
    pub checkpoint_interval: Duration,
    /// Most records per transaction.
    pub max_batch: usize,
    /// Events that may wait in the queue before senders block.
    pub queue: usize,
    /// In batch durability, how long the writer waits after a commit for more events before
    /// the next one. While it waits it is not parked on the queue, so senders never have to
    /// wake it: one wake-up per batch instead of one per event. In sync durability, the
    /// longest records nobody waits for wait for one somebody does, to share its commit.
    pub linger: Duration,
    /// Where each checkpoint goes once committed (witness submission, anchors).
    pub checkpoint_sink: Option<CheckpointSink>,
}

/// Hands committed checkpoints to the witness submitter (`witness::submit`) without ever
/// blocking the writer: when its queue is full the checkpoint is dropped (and counted), the
/// next one superseding it.
#[derive(Clone)]
pub struct CheckpointSink {
    tx: Sender<CheckpointRow>,
    stats: Arc<crate::witness::submit::SubmitStats>,
}

impl CheckpointSink {
    pub(crate) fn new(
        tx: Sender<CheckpointRow>,
        stats: Arc<crate::witness::submit::SubmitStats>,
    ) -> CheckpointSink {
        CheckpointSink { tx, stats }
    }
}

impl std::fmt::Debug for CheckpointSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckpointSink")
    }
}

impl Default for WriterConfig {
    fn default() -> WriterConfig {
        WriterConfig {
            instance: "warden".into(),
            durability: Durability::Batch,
            level: PayloadLevel::Standard,
            max_payload: 64 * 1024,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(10),
            max_batch: 1024,
            queue: 8192,
            linger: Duration::from_millis(2),
            checkpoint_sink: None,
        }
    }
}

/// The result of a commit, sent to a waiter.
pub type Ack = Result<(), String>;

enum Msg {
    Event(Box<AuditEvent>, Option<Sender<Ack>>),
    /// A removal record, and the content it removes (committed together).
    Remove(Box<AuditEvent>, Removal, Sender<Ack>),
    Flush(Sender<Ack>),
    Close(Box<AuditEvent>),
}

/// What the writer did, returned when it closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub log_id: String,
    pub records: u64,
    pub checkpoints: u64,
    /// Records that could not be committed before close (the store kept failing).
    pub lost: u64,
}

#[derive(Default)]
struct Health {
    failing: AtomicBool,
    message: Mutex<Option<String>>,
    enqueued: AtomicU64,
    committed: AtomicU64,
    store_errors: AtomicU64,
    checkpoints: AtomicU64,
    batches: AtomicU64,
    batch_us: AtomicU64,
    /// Batch commits by latency, cumulative per `BATCH_BUCKETS` bound (the last is +Inf).
    batch_buckets: [AtomicU64; BATCH_BUCKETS.len() + 1],
}

/// Upper bounds (seconds) of the batch-commit latency buckets in `WriterStats`.
pub const BATCH_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// The writer's health counters, read at any time (metrics read them on each scrape).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriterStats {
    pub enqueued: u64,
    pub committed: u64,
    /// Commits that failed (each retried later).
    pub store_errors: u64,
    pub checkpoints: u64,
    /// Successful batch commits, their total time, and how many took at most each
    /// `BATCH_BUCKETS` bound (cumulative; the last entry counts all).
    pub batches: u64,
    pub batch_seconds: f64,
    pub batch_buckets: Vec<u64>,
    pub failing: bool,
}

impl Health {
    fn commit_took(&self, d: Duration) {
        let s = d.as_secs_f64();
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batch_us.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let i = BATCH_BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BATCH_BUCKETS.len());
        self.batch_buckets[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// The cheap, cloneable handle the rest of the system uses to record.
#[derive(Clone)]
pub struct AuditHandle {
    tx: Sender<Msg>,
    health: Arc<Health>,
    log_id: Arc<str>,
}

#[derive(Debug, thiserror::Error)]
#[error("audit writer has stopped")]
pub struct WriterGone;

impl AuditHandle {
    /// Queues an event (blocking while the queue is full: the proxy slows, records are not dropped).
    pub fn record(&self, ev: AuditEvent) -> Result<(), WriterGone> {
        self.health.enqueued.fetch_add(1, Ordering::Relaxed);
        self.tx
            .send(Msg::Event(Box::new(ev), None))
            .map_err(|_| WriterGone)
    }

    /// Queues an event and returns a receiver that answers once it is committed.
    pub fn record_committed(&self, ev: AuditEvent) -> Result<Receiver<Ack>, WriterGone> {
        let (tx, rx) = bounded(1);
        self.health.enqueued.fetch_add(1, Ordering::Relaxed);
        self.tx
            .send(Msg::Event(Box::new(ev), Some(tx)))
            .map_err(|_| WriterGone)?;
        Ok(rx)
    }

    /// Records `ev` (a `content_expired` or `content_erased` event whose detail lists
    /// `digests`) and removes that content in the same commit; the receiver answers once
    /// both are committed. At most [`crate::content::DIGESTS_PER_RECORD`] per record.
    pub fn remove_content(
        &self,
        ev: AuditEvent,
        why: Gone,
        digests: Vec<String>,
    ) -> Result<Receiver<Ack>, WriterGone> {
        let (tx, rx) = bounded(1);
        let removal = Removal {
            why,
            by: ev.id.to_string(),
            at_us: ev.ts_us,
            digests,
        };
        self.health.enqueued.fetch_add(1, Ordering::Relaxed);
        self.tx
            .send(Msg::Remove(Box::new(ev), removal, tx))
            .map_err(|_| WriterGone)?;
        Ok(rx)
    }

    /// Waits until everything queued before this call is committed.
    pub fn flush(&self) -> Ack {
        let (tx, rx) = bounded(1);
        self.tx
            .send(Msg::Flush(tx))
            .map_err(|_| WriterGone.to_string())?;
        rx.recv().map_err(|_| WriterGone.to_string())?
    }

    /// Why the store is failing, if it is.
    pub fn failure(&self) -> Option<String> {
        if self.health.failing.load(Ordering::Acquire) {
            self.health.message.lock().ok().and_then(|m| m.clone())
        } else {
            None
        }
    }

    pub fn log_id(&self) -> &str {
        &self.log_id
    }

    /// The writer's health counters.
    pub fn stats(&self) -> WriterStats {
        let h = &self.health;
        let mut running = 0;
        let batch_buckets = h
            .batch_buckets
            .iter()
            .map(|b| {
                running += b.load(Ordering::Relaxed);
                running
            })
            .collect();
        WriterStats {
            enqueued: h.enqueued.load(Ordering::Relaxed),
            committed: h.committed.load(Ordering::Relaxed),
            store_errors: h.store_errors.load(Ordering::Relaxed),
            checkpoints: h.checkpoints.load(Ordering::Relaxed),
            batches: h.batches.load(Ordering::Relaxed),
            batch_seconds: h.batch_us.load(Ordering::Relaxed) as f64 / 1e6,
            batch_buckets,
            failing: h.failing.load(Ordering::Acquire),
        }
    }

    /// `(enqueued, committed)` record counts.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.health.enqueued.load(Ordering::Relaxed),
            self.health.committed.load(Ordering::Relaxed),
        )
    }
}

/// The running writer thread.
pub struct AuditWriter {
    handle: AuditHandle,
    thread: JoinHandle<Summary>,
    checkpointer: crate::wal::Checkpointer,
}

struct State {
    store: Store,
    keys: Keys,
    cfg: WriterConfig,
    sealer: Sealer,
    origin: String,
    frontier: Frontier,
    pending: Vec<Row>,
    /// Checkpoints signed while sealing, committed with the pending rows.
    pending_checkpoints: Vec<CheckpointRow>,
    /// Content removals recorded by pending rows.
    pending_removals: Vec<Removal>,
    acks: Vec<Sender<Ack>>,
    /// Client requests in `pending` whose responses are not (yet) in it: under sync durability
    /// a commit waits a little for them (they are usually on their way, see `group`).
    open_requests: usize,
    last_checkpoint_size: u64,
    last_checkpoint_at: Instant,
    checkpoints: u64,
    health: Arc<Health>,
    /// Turns with the WAL checkpointer's restarts (`wal`).
    gate: Arc<crate::wal::Gate>,
}

impl AuditWriter {
    /// Opens a new log in `store` and starts its writer thread. The log's first record
    /// (`log_opened`) states its origin, keys and checkpoint schedule.
    pub fn start(store: Store, keys: Keys, cfg: WriterConfig) -> Result<AuditWriter, StoreError> {
        let log_id = uuid::Uuid::now_v7().to_string();
        let origin = format!("{}/warden/{}", cfg.instance, log_id);
        let info = LogInfo {
            log_id: log_id.clone(),
            origin: origin.clone(),
            instance: cfg.instance.clone(),
            created_us: now_us(),
            vkey: keys.vkey.clone(),
            hash_key_id: keys.hasher.key_id().to_owned(),
            checkpoint_every: cfg.checkpoint_every,
        };
        store.register_log(&info)?;
        let gate = Arc::new(crate::wal::Gate::default());
        let checkpointer = crate::wal::Checkpointer::start(
            store.path(),
            Duration::from_millis(500),
            crate::wal::WAL_LIMIT_BYTES,
            gate.clone(),
        )?;
        let health = Arc::new(Health::default());
        let sealer = Sealer {
            log_id: log_id.clone(),
            level: cfg.level,
            max_payload: cfg.max_payload,
            hasher: keys.hasher.clone(),
            nonce_seed: rand::random(),
        };
        let mut state = State {
            store,
            keys,
            sealer,
            origin: origin.clone(),
            frontier: Frontier::new(),
            pending: Vec::new(),
            pending_checkpoints: Vec::new(),
            pending_removals: Vec::new(),
            acks: Vec::new(),
            open_requests: 0,
            last_checkpoint_size: 0,
            last_checkpoint_at: Instant::now(),
            checkpoints: 0,
            health: health.clone(),
            gate,
            cfg: cfg.clone(),
        };
        let mut opened =
            AuditEvent::gateway("".into(), Arc::new(SessionContext::default()), "log_opened");
        opened.detail = Some(serde_json::json!({
            "origin": origin,
            "instance": cfg.instance,
            "vkey": info.vkey,
            "hash_key_id": info.hash_key_id,
            "checkpoint_every": cfg.checkpoint_every,
            "checkpoint_interval_ms": cfg.checkpoint_interval.as_millis() as u64,
            "payload_level": format!("{:?}", cfg.level).to_lowercase(),
            "max_payload": cfg.max_payload,
            "durability": format!("{:?}", cfg.durability).to_lowercase(),
            "warden_version": env!("CARGO_PKG_VERSION"),
        }));
        state.health.enqueued.fetch_add(1, Ordering::Relaxed);
        state.seal(&opened);
        state.commit(false)?;
        let (tx, rx) = bounded(cfg.queue);
        let handle = AuditHandle {
            tx,
            health,
            log_id: log_id.into(),
        };
        let thread = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || state.run(rx))
            .map_err(|e| StoreError::Dir {
                path: "audit writer thread".into(),
                source: e,
            })?;
        Ok(AuditWriter {
            handle,
            thread,
            checkpointer,
        })
    }

    pub fn handle(&self) -> AuditHandle {
        self.handle.clone()
    }

    /// Writes the `log_closed` record and the final checkpoint, and stops the thread.
    pub fn close(self, closing: AuditEvent) -> Summary {
        self.handle.health.enqueued.fetch_add(1, Ordering::Relaxed);
        let _sent = self.handle.tx.send(Msg::Close(Box::new(closing)));
        let log_id = self.handle.log_id.to_string();
        drop(self.handle);
        let summary = self.thread.join().unwrap_or(Summary {
            log_id,
            records: 0,
            checkpoints: 0,
            lost: 0,
        });
        self.checkpointer.stop();
        summary
    }
}

impl State {
    fn seal(&mut self, ev: &AuditEvent) {
        match (ev.direction, ev.kind) {
            (Some(Direction::C2S), "request") => self.open_requests += 1,
            (Some(Direction::S2C), "result" | "error") => {
                self.open_requests = self.open_requests.saturating_sub(1);
            }
            _ => {}
        }
        let seq = self.frontier.size();
        let sealed = self.sealer.seal(ev, seq);
        let hashes = self.frontier.append(record_hash(&sealed.leaf));
        self.pending.push(Row {
            log_id: self.sealer.log_id.clone(),
            sealed,
            hashes,
        });
        if self.frontier.size() - self.last_checkpoint_size >= self.cfg.checkpoint_every {
            self.cut_checkpoint();
        }
    }

    /// Signs a checkpoint of the tree as it stands (committed with the pending rows).
    fn cut_checkpoint(&mut self) {
        let size = self.frontier.size();
        match checkpoint::sign(&self.origin, size, self.frontier.root(), &self.keys.signer) {
            Ok(note) => {
                self.pending_checkpoints.push(CheckpointRow {
                    log_id: self.sealer.log_id.clone(),
                    size,
                    ts_us: now_us(),
                    note,
                });
                self.last_checkpoint_size = size;
                self.last_checkpoint_at = Instant::now();
                self.checkpoints += 1;
                self.health.checkpoints.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::error!("cannot sign checkpoint at size {size}: {e}"),
        }
    }

    /// Commits pending rows and checkpoints, cutting a time-based (or `force`d) one if due.
    fn commit(&mut self, force_checkpoint: bool) -> Result<(), StoreError> {
        let grown = self.frontier.size() > self.last_checkpoint_size;
        if grown
            && (force_checkpoint
                || self.last_checkpoint_at.elapsed() >= self.cfg.checkpoint_interval)
        {
            self.cut_checkpoint();
        }
        if self.pending.is_empty() && self.pending_checkpoints.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let turn = self.gate.commit();
        let appended = self.store.append(
            &self.pending,
            &self.pending_checkpoints,
            &self.pending_removals,
        );
        drop(turn);
        if let Err(e) = appended {
            self.health.store_errors.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        self.health.commit_took(started.elapsed());
        self.health
            .committed
            .fetch_add(self.pending.len() as u64, Ordering::Relaxed);
        if let Some(sink) = &self.cfg.checkpoint_sink {
            for c in &self.pending_checkpoints {
                crate::witness::submit::hand_over(&sink.tx, &sink.stats, c);
            }
        }
        self.pending.clear();
        self.pending_checkpoints.clear();
        self.pending_removals.clear();
        self.open_requests = 0;
        Ok(())
    }

    fn set_failure(&self, message: Option<String>) {
        if let Ok(mut m) = self.health.message.lock() {
            *m = message.clone();
        }
        self.health
            .failing
            .store(message.is_some(), Ordering::Release);
    }

    fn commit_and_ack(&mut self, force_checkpoint: bool) -> bool {
        match self.commit(force_checkpoint) {
            Ok(()) => {
                if self.health.failing.load(Ordering::Acquire) {
                    self.set_failure(None);
                    tracing::warn!("audit store recovered; pending records committed");
                }
                for ack in self.acks.drain(..) {
                    let _sent = ack.send(Ok(()));
                }
                true
            }
            Err(e) => {
                let msg = e.to_string();
                if !self.health.failing.load(Ordering::Acquire) {
                    tracing::error!(
                        pending = self.pending.len(),
                        "audit store failing, records held in memory: {msg}"
                    );
                }
                self.set_failure(Some(msg.clone()));
                for ack in self.acks.drain(..) {
                    let _sent = ack.send(Err(msg.clone()));
                }
                false
            }
        }
    }

    /// Takes one message; a `Close` is returned (nothing after it is taken).
    fn take(&mut self, msg: Msg) -> Option<Box<AuditEvent>> {
        match msg {
            Msg::Event(ev, ack) => {
                self.seal(&ev);
                self.acks.extend(ack);
                None
            }
            Msg::Remove(ev, removal, ack) => {
                self.seal(&ev);
                self.pending_removals.push(removal);
                self.acks.push(ack);
                None
            }
            Msg::Flush(ack) => {
                self.acks.push(ack);
                None
            }
            Msg::Close(ev) => Some(ev),
        }
    }

    /// Takes `first` and whatever else is queued, up to a batch.
    fn drain(
        &mut self,
        first: Msg,
        rx: &Receiver<Msg>,
        taken: &mut usize,
    ) -> Option<Box<AuditEvent>> {
        let mut next = Some(first);
        while let Some(msg) = next {
            if let Some(closing) = self.take(msg) {
                return Some(closing);
            }
            *taken += 1;
            next = if *taken < self.cfg.max_batch {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        None
    }

    /// Group commit (`durability: sync`): records nobody waits for (a request, a notification)
    /// wait up to the linger for one somebody does (the response that closes the exchange), so
    /// that one commit, one fsync, covers the whole exchange. A record somebody waits for is
    /// committed with everything queued while the previous commit ran, and with the responses
    /// to the other requests of the batch when they come within the linger: requests sent
    /// together are answered together, and share one commit instead of two.
    fn should_group(&self, failing: bool, taken: usize) -> bool {
        self.cfg.durability == Durability::Sync
            && !failing
            && !self.pending.is_empty()
            && (self.acks.is_empty() || self.open_requests > 0)
            && taken < self.cfg.max_batch
    }

    fn group(&mut self, rx: &Receiver<Msg>, taken: &mut usize) -> Option<Box<AuditEvent>> {
        let deadline = Instant::now() + self.cfg.linger;
        while (self.acks.is_empty() || self.open_requests > 0) && *taken < self.cfg.max_batch {
            match rx.recv_deadline(deadline) {
                Ok(msg) => {
                    if let Some(closing) = self.drain(msg, rx, taken) {
                        return Some(closing);
                    }
                }
                Err(_) => break,
            }
        }
        None
    }

    fn run(mut self, rx: Receiver<Msg>) -> Summary {
        let retry = Duration::from_millis(500);
        let mut closing: Option<Box<AuditEvent>> = None;
        while closing.is_none() {
            let failing = self.health.failing.load(Ordering::Acquire);
            // While failing, hold back new events once many are pending (senders then block).
            let timeout = if failing {
                retry
            } else if self.frontier.size() > self.last_checkpoint_size {
                self.cfg
                    .checkpoint_interval
                    .saturating_sub(self.last_checkpoint_at.elapsed())
            } else {
                Duration::from_secs(3600)
            };
            let first = if failing && self.pending.len() >= self.cfg.queue * 8 {
                std::thread::sleep(retry);
                None
            } else {
                match rx.recv_timeout(timeout) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            let mut taken = 0;
            if let Some(msg) = first {
                closing = self.drain(msg, &rx, &mut taken);
            }
            if closing.is_none() && self.should_group(failing, taken) {
                closing = self.group(&rx, &mut taken);
            }
            if closing.is_none() {
                self.commit_and_ack(false);
                if self.cfg.durability == Durability::Batch && taken < self.cfg.max_batch {
                    std::thread::sleep(self.cfg.linger);
                }
            }
        }
        // Drain what is still queued, then close the log.
        while let Ok(msg) = rx.try_recv() {
            let _later_close = self.take(msg);
        }
        let closing = closing.unwrap_or_else(|| {
            Box::new(AuditEvent::gateway("".into(), Arc::default(), "log_closed"))
        });
        let mut closing = *closing;
        closing.kind = "event";
        closing.event = Some("log_closed");
        self.seal(&closing);
        let mut tries = 0;
        while !self.commit_and_ack(true) && tries < 10 {
            tries += 1;
            std::thread::sleep(retry);
        }
        let lost = self.pending.len() as u64;
        if lost > 0 {
            tracing::error!(
                lost,
                "audit store: records could not be committed and are lost"
            );
        }
        Summary {
            log_id: self.sealer.log_id.clone(),
            records: self.frontier.size() - lost,
            checkpoints: self.checkpoints,
            lost,
        }
    }
}
