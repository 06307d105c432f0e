//! The WAL checkpointer: copies the write-ahead log back into the database file from its own
//! connection and thread, so the writer's commits never wait for that, and keeps the WAL from
//! growing without end while the writer never pauses.
//!
//! A passive checkpoint never blocks anyone, but under a steady stream of commits it never
//! catches up with the last frame either, and SQLite starts a WAL over only when a checkpoint
//! has copied every frame. Measured before this module did more than that: 1.08 GB of WAL after
//! 25 s of sequential calls, growing until `warden` exited; each commit's `fdatasync` then also
//! had to record a new file size (2–3× dearer on this disk), and the WAL index (`-shm`, mapped)
//! grew with it. So once the WAL is over a limit, a `RESTART` checkpoint follows the passive
//! one: it copies the few frames left and makes the writer's next commit start the WAL from its
//! beginning; `journal_size_limit` on the writer's connection then cuts the file back to the
//! limit. A restart needs the writer's lock; asked for through SQLite's busy handler it starved
//! when commits came back to back, so the two take turns through a [`Gate`]: the checkpointer
//! asks for a turn, the writer's next commit waits for it to end (a few frames' copy, or the
//! wait for readers, bounded by `RESTART_WAIT`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

use crate::store::StoreError;

/// A WAL over this many bytes is restarted (and cut back to this size when it starts over).
pub(crate) const WAL_LIMIT_BYTES: u64 = 64 << 20;

/// How long a restart waits for readers to leave the WAL before it gives up until the next
/// tick (the writer waits that long at most).
const RESTART_WAIT: Duration = Duration::from_millis(100);

/// Turns between the writer's commits and the checkpointer's restarts.
#[derive(Default)]
pub(crate) struct Gate {
    wanted: AtomicBool,
    lock: Mutex<()>,
    ended: Condvar,
}

impl Gate {
    /// The writer's turn for one commit (held until the guard drops): waits while a restart is
    /// asked for or runs.
    pub(crate) fn commit(&self) -> MutexGuard<'_, ()> {
        let mut turn = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        while self.wanted.load(Ordering::Acquire) {
            turn = self.ended.wait(turn).unwrap_or_else(|e| e.into_inner());
        }
        turn
    }

    /// Runs `f` between two of the writer's commits.
    fn between_commits<T>(&self, f: impl FnOnce() -> T) -> T {
        self.wanted.store(true, Ordering::Release);
        let turn = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let out = f();
        self.wanted.store(false, Ordering::Release);
        drop(turn);
        self.ended.notify_all();
        out
    }
}

/// The checkpointer's thread; [`Checkpointer::stop`] runs a last, truncating checkpoint.
pub(crate) struct Checkpointer {
    stop: crossbeam_channel::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// One connection's checkpoints of one store.
pub(crate) struct Wal {
    conn: Connection,
    wal: PathBuf,
    limit: u64,
    gate: Arc<Gate>,
}

impl Wal {
    pub(crate) fn open(path: &Path, limit: u64, gate: Arc<Gate>) -> Result<Wal, StoreError> {
        let sql = |source| StoreError::Sqlite {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        // A restart waits this long for readers, then gives up until the next tick.
        conn.busy_timeout(RESTART_WAIT).map_err(sql)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Wal {
            conn,
            wal: PathBuf::from(wal),
            limit,
            gate,
        })
    }

    fn checkpoint(&self, mode: &str) {
        if let Err(e) = self
            .conn
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
        {
            tracing::debug!("WAL checkpoint ({mode}) did not complete: {e}");
        }
    }

    /// The WAL file's size now (0 when there is none).
    pub(crate) fn size(&self) -> u64 {
        std::fs::metadata(&self.wal).map_or(0, |m| m.len())
    }

    /// One round: a passive checkpoint, then a restart if the WAL is over the limit.
    pub(crate) fn tick(&self) {
        self.checkpoint("PASSIVE");
        if self.size() > self.limit {
            self.gate.between_commits(|| self.checkpoint("RESTART"));
        }
    }

    fn last(&self) {
        self.checkpoint("TRUNCATE");
    }
}

impl Checkpointer {
    /// Starts checkpointing `path` every `every`: passive (never blocks readers or the writer),
    /// and a restart, between two of the writer's commits (`gate`), when the WAL has grown
    /// past `limit` bytes.
    pub(crate) fn start(
        path: &Path,
        every: Duration,
        limit: u64,
        gate: Arc<Gate>,
    ) -> Result<Checkpointer, StoreError> {
        let wal = Wal::open(path, limit, gate)?;
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || {
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(every)
                {
                    wal.tick();
                }
                wal.last();
            })
            .map_err(|e| StoreError::Dir {
                path: path.to_owned(),
                source: e,
            })?;
        Ok(Checkpointer { stop, thread })
    }

    /// Runs a last checkpoint and stops.
    pub(crate) fn stop(self) {
        let _sent = self.stop.send(());
        let _joined = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::AtomicU64;

    use super::*;

    const LIMIT: u64 = 1 << 20;

    /// A connection set up as the store's writer sets up its own.
    fn writer(path: &Path) -> Connection {
        let c = Connection::open(path).unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        c.pragma_update(None, "journal_size_limit", LIMIT as i64)
            .unwrap();
        c.execute_batch("CREATE TABLE t (b BLOB NOT NULL)").unwrap();
        c
    }

    /// A writer that commits 8 KiB at a time back to back (taking its turn at the gate as
    /// warden's writer does), while the checkpointer ticks as fast as it can: the WAL stays
    /// within a few times the limit instead of growing with everything written (48 MiB). With
    /// passive checkpoints alone it grows: a checkpoint never ends with every frame copied at
    /// the moment a commit starts, and only then does SQLite start the WAL over.
    #[test]
    fn a_wal_kept_busy_by_the_writer_is_restarted_and_cut_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let w = writer(&path);
        let gate = Arc::new(Gate::default());
        let wal = Wal::open(&path, LIMIT, gate.clone()).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let thread = {
            let (done, written) = (done.clone(), written.clone());
            std::thread::spawn(move || {
                let blob = vec![7u8; 8 << 10];
                while written.load(Ordering::Relaxed) < 48 << 20 {
                    let _turn = gate.commit();
                    w.execute("INSERT INTO t (b) VALUES (?1)", [&blob]).unwrap();
                    written.fetch_add(blob.len() as u64, Ordering::Relaxed);
                }
                done.store(true, Ordering::Release);
            })
        };
        let mut largest = 0;
        let mut ticks = 0;
        while !done.load(Ordering::Acquire) {
            wal.tick();
            ticks += 1;
            largest = largest.max(wal.size());
        }
        thread.join().unwrap();
        largest = largest.max(wal.size());
        assert!(ticks > 1, "the checkpointer ran once at most");
        assert!(
            largest <= 8 * LIMIT,
            "the WAL reached {largest} bytes with a limit of {LIMIT} ({ticks} ticks)"
        );
    }

    /// A restart needs the writer's lock and every reader gone; when it cannot have them
    /// within its wait, the tick gives up quietly and the writer is not disturbed.
    #[test]
    fn a_restart_that_cannot_finish_gives_up_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let w = writer(&path);
        let blob = vec![1u8; 64 << 10];
        for _ in 0..40 {
            w.execute("INSERT INTO t (b) VALUES (?1)", [&blob]).unwrap();
        }
        // A reader holding a snapshot keeps the WAL from starting over.
        let r = Connection::open(&path).unwrap();
        r.execute_batch("BEGIN").unwrap();
        let _n: i64 = r
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        let wal = Wal::open(&path, LIMIT, Arc::default()).unwrap();
        wal.conn.busy_timeout(Duration::from_millis(50)).unwrap();
        let before = wal.size();
        assert!(before > LIMIT);
        wal.tick();
        w.execute("INSERT INTO t (b) VALUES (?1)", [&blob]).unwrap();
        assert!(wal.size() >= before, "the WAL started over under a reader");
        r.execute_batch("COMMIT").unwrap();
        // Once the reader is gone, the next tick restarts it and the next commit cuts it back.
        wal.tick();
        w.execute("INSERT INTO t (b) VALUES (?1)", [&blob]).unwrap();
        assert!(wal.size() <= LIMIT, "the WAL is {} bytes", wal.size());
        let rows: i64 = w
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 42);
    }
}
