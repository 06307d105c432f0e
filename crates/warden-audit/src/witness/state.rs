//! The witness's state: per log origin, the latest checkpoint it cosigned (size, root, the
//! note with its cosignature), in a SQLite file private to its owner (mode 0600). A
//! submission is checked and recorded inside one `BEGIN IMMEDIATE` transaction, so two
//! submissions for a log (from this process or another sharing the file) cannot interleave
//! and roll the log back (the race C2SP `tlog-witness` warns of).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use tlog_tiles::Hash;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS witness_logs (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    updated_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS witness_refused (
    origin TEXT NOT NULL,
    size INTEGER NOT NULL,
    note TEXT NOT NULL,
    reason TEXT NOT NULL,
    ts_us INTEGER NOT NULL
);
";

/// The latest cosigned checkpoint of one log.
#[derive(Clone, Debug, PartialEq)]
pub struct Latest {
    pub size: u64,
    pub root: Hash,
    /// The checkpoint as submitted, with this witness's cosignature appended.
    pub note: String,
}

#[derive(Debug, thiserror::Error)]
#[error("witness state {path}: {source}")]
pub struct StateError {
    path: PathBuf,
    #[source]
    source: rusqlite::Error,
}

/// The open state file.
pub struct State {
    conn: Connection,
    path: PathBuf,
}

impl State {
    /// Opens (creating, mode 0600) the state file.
    pub fn open(path: &Path) -> Result<State, StateError> {
        let err = |source| StateError {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::create_dir(dir)
                .map_err(|e| err(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        }
        crate::private::make_private(path)
            .map_err(|e| err(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        crate::store::retry_busy(|| conn.pragma_update(None, "journal_mode", "WAL"))
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        crate::store::retry_busy(|| conn.execute_batch(SCHEMA)).map_err(err)?;
        Ok(State {
            conn,
            path: path.to_owned(),
        })
    }

    fn err(&self) -> impl FnOnce(rusqlite::Error) -> StateError + '_ {
        move |source| StateError {
            path: self.path.clone(),
            source,
        }
    }

    /// The latest cosigned checkpoint of `origin`, if any.
    pub fn latest(&self, origin: &str) -> Result<Option<Latest>, StateError> {
        read(&self.conn, origin).map_err(self.err())
    }

    /// Keeps a correctly signed checkpoint that was refused as inconsistent (a fork or a
    /// rewrite): the log's own signature on it is evidence of the log's misbehaviour.
    pub fn refused(
        &self,
        origin: &str,
        size: u64,
        note: &str,
        reason: &str,
    ) -> Result<(), StateError> {
        crate::store::retry_busy(|| {
            self.conn.execute(
                "INSERT INTO witness_refused (origin, size, note, reason, ts_us) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![origin, size as i64, note, reason, crate::now_us()],
            )
        })
        .map_err(self.err())?;
        Ok(())
    }

    /// The refused checkpoints kept for `origin`: `(size, note, reason)`.
    pub fn refusals(&self, origin: &str) -> Result<Vec<(u64, String, String)>, StateError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT size, note, reason FROM witness_refused WHERE origin = ?1 ORDER BY rowid",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([origin], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// The latest checkpoint of the log whose origin's SHA-256 is `origin_hash` (lowercase hex).
    pub fn latest_by_hash(&self, origin_hash: &str) -> Result<Option<Latest>, StateError> {
        use sha2::Digest;
        let origins: Vec<String> = {
            let mut st = self
                .conn
                .prepare("SELECT origin FROM witness_logs")
                .map_err(self.err())?;
            let rows = st.query_map([], |r| r.get(0)).map_err(self.err())?;
            rows.collect::<Result<_, _>>().map_err(self.err())?
        };
        match origins
            .iter()
            .find(|o| crate::keyed::hex(&sha2::Sha256::digest(o.as_bytes())) == origin_hash)
        {
            Some(o) => self.latest(o),
            None => Ok(None),
        }
    }

    /// Runs `decide` on the latest checkpoint of `origin` inside one write transaction; when it
    /// returns a new latest checkpoint, that is stored before the transaction commits.
    pub fn update<T>(
        &mut self,
        origin: &str,
        decide: impl FnOnce(Option<&Latest>) -> (Option<Latest>, T),
    ) -> Result<T, StateError> {
        let path = self.path.clone();
        let err = move |source| StateError {
            path: path.clone(),
            source,
        };
        crate::store::retry_busy(|| self.conn.execute_batch("BEGIN IMMEDIATE"))
            .map_err(err.clone())?;
        let run = || -> rusqlite::Result<T> {
            let latest = read(&self.conn, origin)?;
            let (new, out) = decide(latest.as_ref());
            if let Some(n) = new {
                self.conn.execute(
                    "INSERT INTO witness_logs (origin, size, root, note, updated_us) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (origin) DO UPDATE SET size = ?2, root = ?3, note = ?4, updated_us = ?5",
                    params![origin, n.size as i64, n.root.0.to_vec(), n.note, crate::now_us()],
                )?;
            }
            Ok(out)
        };
        match run() {
            Ok(out) => {
                self.conn.execute_batch("COMMIT").map_err(err)?;
                Ok(out)
            }
            Err(e) => {
                let _rolled_back = self.conn.execute_batch("ROLLBACK");
                Err(err(e))
            }
        }
    }
}

fn read(conn: &Connection, origin: &str) -> rusqlite::Result<Option<Latest>> {
    conn.query_row(
        "SELECT size, root, note FROM witness_logs WHERE origin = ?1",
        [origin],
        |r| {
            let root: Vec<u8> = r.get(1)?;
            Ok(Latest {
                size: r.get::<_, i64>(0)? as u64,
                root: Hash(root.try_into().unwrap_or([0; 32])),
                note: r.get(2)?,
            })
        },
    )
    .optional()
}
