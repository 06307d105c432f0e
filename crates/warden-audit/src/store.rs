//! The SQLite audit store: logs, sealed records with the tree hashes stored beside them,
//! signed checkpoints, and the query columns copied out of each leaf.
//!
//! The leaf is the authority: verification hashes `leaf`, checks `hashes` and `checkpoints`,
//! and checks that every query column still says what its leaf says (`columns`). Many writers (one per `warden run` process) may share one
//! file: each appends to its own log, so they never contend for a chain head.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tlog_tiles::{Hash, HashReader, split_stored_hash_index, stored_hash_index};

use crate::record::Sealed;

const SCHEMA_VERSION: i64 = 4;

/// Steps that bring an older store to `SCHEMA_VERSION`, by the version they start from.
/// Version 2 added who was calling (`principal`) and with what (`agent`). Version 3 added two
/// indexes for the admin plane: `records_closed`, the records that close an exchange (they
/// carry its outcome) with the columns statistics read, so a window's statistics read only
/// the index; and `records_principal`, for pages filtered by who called. Version 4 added the
/// content store (leaf v2): the `content` table and the `records.content` query column (the
/// leaf's commitment, which joins a record to its content).
/// `SCHEMA` creates a version 2 store; a new store then takes the later steps too.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "ALTER TABLE records ADD COLUMN principal TEXT; ALTER TABLE records ADD COLUMN agent TEXT;",
    ),
    (
        2,
        "CREATE INDEX IF NOT EXISTS records_closed ON records \
         (ts_us, method, kind, target, outcome, duration_us, principal, server) \
         WHERE outcome IS NOT NULL; \
         CREATE INDEX IF NOT EXISTS records_principal ON records (principal, ts_us);",
    ),
    (3, CONTENT_STEP),
];

/// Version 3 to 4: the content store.
const CONTENT_STEP: &str = concat!(
    "ALTER TABLE records ADD COLUMN content TEXT; ",
    "CREATE TABLE IF NOT EXISTS content (digest TEXT PRIMARY KEY, nonce BLOB, body BLOB, \
     gone TEXT, gone_us INTEGER, gone_ref TEXT);"
);

/// The version `SCHEMA` creates.
const BASE_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    log_id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    instance TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    vkey TEXT NOT NULL,
    hash_key_id TEXT NOT NULL,
    checkpoint_every INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    log_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    session TEXT NOT NULL,
    dir TEXT,
    kind TEXT NOT NULL,
    method TEXT,
    target TEXT,
    exchange TEXT,
    server TEXT,
    outcome TEXT,
    duration_us INTEGER,
    leaf BLOB NOT NULL,
    principal TEXT,
    agent TEXT,
    hashes BLOB NOT NULL,
    UNIQUE (log_id, seq)
);
CREATE INDEX IF NOT EXISTS records_ts ON records (ts_us);
CREATE INDEX IF NOT EXISTS records_session ON records (session, ts_us);
CREATE INDEX IF NOT EXISTS records_id ON records (id);
CREATE INDEX IF NOT EXISTS records_target ON records (target, ts_us);
CREATE TABLE IF NOT EXISTS checkpoints (
    log_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    ts_us INTEGER NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (log_id, size)
);
";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("audit store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create directory for audit store {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("audit store {0} does not exist")]
    Missing(PathBuf),
    #[error("cannot make audit store {path} private to its owner (mode 0600): {source}")]
    Private {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "audit store {path} has schema version {found}, this warden reads {SCHEMA_VERSION} \
         (a store from an older warden is upgraded the first time a writing command opens it)"
    )]
    Schema { path: PathBuf, found: i64 },
}

/// Rows per multi-row INSERT (18 parameters each, far below SQLite's 32766 limit).
const INSERT_CHUNK: usize = 32;
const INSERT_COLUMNS: &str = "INSERT INTO records (log_id, seq, id, ts_us, session, dir, kind, method, target, \
     exchange, server, outcome, duration_us, leaf, hashes, principal, agent, content) VALUES ";
const ROW_PLACEHOLDERS: &str = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
static INSERT_ONE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{INSERT_COLUMNS}{ROW_PLACEHOLDERS}"));
static INSERT_MANY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{INSERT_COLUMNS}{}",
        vec![ROW_PLACEHOLDERS; INSERT_CHUNK].join(",")
    )
});

/// Binds the 18 columns of each row, in order, to `st`'s positional parameters.
fn bind_rows(st: &mut rusqlite::CachedStatement<'_>, rows: &[Row]) -> rusqlite::Result<()> {
    let mut i = 0;
    let mut bind = |v: &dyn rusqlite::ToSql| {
        i += 1;
        st.raw_bind_parameter(i, v)
    };
    for row in rows {
        let s = &row.sealed;
        bind(&row.log_id)?;
        bind(&(s.seq as i64))?;
        bind(&s.id.to_string())?;
        bind(&s.ts_us)?;
        bind(&&*s.session)?;
        bind(&s.dir)?;
        bind(&s.kind)?;
        bind(&s.method)?;
        bind(&s.target)?;
        bind(&s.exchange.map(|e| e.to_string()))?;
        bind(&s.server)?;
        bind(&s.outcome)?;
        bind(&s.duration_us.map(|d| d as i64))?;
        bind(&s.leaf)?;
        bind(&hashes_to_blob(&row.hashes))?;
        bind(&s.principal)?;
        bind(&s.agent)?;
        bind(&s.content.as_ref().map(|c| c.digest.as_str()))?;
    }
    Ok(())
}

/// Runs `f` again while SQLite answers BUSY or LOCKED (jittered back-off, for at most 10 s).
pub(crate) fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut pause = 5u64;
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(
                    pause + u64::from(rand::random::<u8>() % 10),
                ));
                pause = (pause * 2).min(200);
            }
            other => return other,
        }
    }
}

/// One log (one writer instance) as registered in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogInfo {
    pub log_id: String,
    pub origin: String,
    pub instance: String,
    pub created_us: i64,
    pub vkey: String,
    pub hash_key_id: String,
    pub checkpoint_every: u64,
}

/// A sealed record with the tree hashes stored beside it.
pub struct Row {
    pub log_id: String,
    pub sealed: Sealed,
    pub hashes: Vec<Hash>,
}

/// A checkpoint ready to store.
#[derive(Clone, Debug)]
pub struct CheckpointRow {
    pub log_id: String,
    pub size: u64,
    pub ts_us: i64,
    pub note: String,
}

/// A record as read back for queries and display.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RecordRow {
    #[serde(skip)]
    pub rowid: i64,
    pub log_id: String,
    pub seq: u64,
    pub id: String,
    pub ts_us: i64,
    pub session: String,
    pub dir: Option<String>,
    pub kind: String,
    pub method: Option<String>,
    pub target: Option<String>,
    pub exchange: Option<String>,
    pub server: Option<String>,
    pub outcome: Option<String>,
    pub duration_us: Option<i64>,
    pub principal: Option<String>,
    pub agent: Option<String>,
    #[serde(skip)]
    pub leaf: Vec<u8>,
}

impl RecordRow {
    /// The method, or for a gateway event its name (read from the leaf).
    pub fn label(&self) -> String {
        if let Some(m) = &self.method {
            return m.clone();
        }
        #[derive(serde::Deserialize)]
        struct Event {
            event: Option<String>,
        }
        serde_json::from_slice::<Event>(&self.leaf)
            .ok()
            .and_then(|e| e.event)
            .unwrap_or_default()
    }
}

/// An open audit store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

fn hashes_to_blob(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

/// Splits a stored `hashes` blob into hashes; `None` if its length is not a multiple of 32.
pub fn blob_to_hashes(blob: &[u8]) -> Option<Vec<Hash>> {
    if !blob.len().is_multiple_of(32) {
        return None;
    }
    Some(
        blob.chunks_exact(32)
            .map(|c| Hash(c.try_into().unwrap_or([0; 32])))
            .collect(),
    )
}

impl Store {
    fn err(&self) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Opens (creating if needed) a store for writing. `sync` makes every commit durable
    /// against power loss (`synchronous=FULL`); otherwise commits survive a crash of warden.
    /// The file and its `-wal` and `-shm` companions are private to their owner (mode
    /// 0600, whatever the umask; directories it creates are 0700): they hold redacted
    /// arguments and results.
    pub fn open(path: &Path, sync: bool) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::create_dir(dir).map_err(|source| StoreError::Dir {
                path: dir.to_owned(),
                source,
            })?;
        }
        crate::private::make_private(path).map_err(|source| StoreError::Private {
            path: path.to_owned(),
            source,
        })?;
        let sql = |source| StoreError::Sqlite {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
        // Several processes may create the same store at once (a desktop client starting all
        // its servers). Upgrading a shared lock to switch to WAL or create the schema can then
        // fail at once with SQLITE_BUSY (SQLite's deadlock avoidance skips the busy handler),
        // so these steps are retried.
        retry_busy(|| conn.pragma_update(None, "journal_mode", "WAL")).map_err(sql)?;
        conn.pragma_update(None, "synchronous", if sync { "FULL" } else { "NORMAL" })
            .map_err(sql)?;
        // WAL checkpoints (which sync the database file) run on their own thread and
        // connection (`wal::Checkpointer`), never in the middle of the writer's commits.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(sql)?;
        // A multi-row INSERT keeps a statement journal (to undo the statement alone if a row
        // fails). In a temp file, that is a write and a truncate of a file per statement: a
        // quarter of the writer's time went there. In memory it costs a copy.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(sql)?;
        // Removed content (expiry, erasure) is overwritten with zeros in the file, not left in
        // free pages.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(sql)?;
        // When the WAL starts over (after a checkpoint the writer can restart it), a file that
        // grew past this is cut back to it (see `wal::Checkpointer`).
        conn.pragma_update(
            None,
            "journal_size_limit",
            crate::wal::WAL_LIMIT_BYTES as i64,
        )
        .map_err(sql)?;
        retry_busy(|| conn.execute_batch(SCHEMA)).map_err(sql)?;
        let store = Store {
            conn,
            path: path.to_owned(),
        };
        store.check_schema(true)?;
        Ok(store)
    }

    /// Opens an existing store for reading.
    pub fn open_read(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_owned()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Sqlite {
            path: path.to_owned(),
            source,
        })?;
        let store = Store {
            conn,
            path: path.to_owned(),
        };
        store
            .conn
            .busy_timeout(Duration::from_secs(10))
            .map_err(store.err())?;
        store.check_schema(false)?;
        Ok(store)
    }

    fn check_schema(&self, write: bool) -> Result<(), StoreError> {
        let found: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.err())?;
        match found.and_then(|v| v.parse::<i64>().ok()) {
            Some(SCHEMA_VERSION) => Ok(()),
            Some(old) if write && old < SCHEMA_VERSION => self.migrate(old),
            None if write => {
                retry_busy(|| {
                    self.conn.execute(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?1)",
                        [BASE_VERSION.to_string()],
                    )
                })
                .map_err(self.err())?;
                self.migrate(BASE_VERSION)
            }
            found => Err(StoreError::Schema {
                path: self.path.clone(),
                found: found.unwrap_or(0),
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for the read-only queries in this crate (`query`, `daily`).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Copies the write-ahead log into the database and empties it (after content was
    /// removed, so no earlier page image holding it stays in the `-wal` file). `false` when
    /// another connection kept it from finishing.
    pub fn purge_wal(&self) -> Result<bool, StoreError> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .map_err(self.err())?;
        Ok(busy == 0)
    }

    /// A SQLite error on this store, with its path.
    pub(crate) fn sql_error(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Brings a store written by an older warden up to date, in one transaction per step.
    fn migrate(&self, from: i64) -> Result<(), StoreError> {
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v >= from) {
            // Several processes may upgrade at once: each step re-reads the version inside
            // its write transaction, so a step another process took is not taken twice.
            retry_busy(|| {
                self.conn.execute_batch("BEGIN IMMEDIATE")?;
                let step = || -> rusqlite::Result<()> {
                    let now: String = self.conn.query_row(
                        "SELECT value FROM meta WHERE key = 'schema'",
                        [],
                        |r| r.get(0),
                    )?;
                    if now.parse::<i64>().unwrap_or(0) > *version {
                        return Ok(());
                    }
                    self.conn.execute_batch(&format!(
                        "{sql} UPDATE meta SET value = '{}' WHERE key = 'schema';",
                        version + 1
                    ))
                };
                match step() {
                    Ok(()) => self.conn.execute_batch("COMMIT"),
                    Err(e) => {
                        let _undone = self.conn.execute_batch("ROLLBACK");
                        Err(e)
                    }
                }
            })
            .map_err(self.err())?;
        }
        Ok(())
    }

    pub fn register_log(&self, log: &LogInfo) -> Result<(), StoreError> {
        retry_busy(|| {
            self.conn.execute(
                "INSERT INTO logs (log_id, origin, instance, created_us, vkey, hash_key_id, checkpoint_every)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    log.log_id,
                    log.origin,
                    log.instance,
                    log.created_us,
                    log.vkey,
                    log.hash_key_id,
                    log.checkpoint_every as i64
                ],
            )
        })
        .map_err(self.err())?;
        Ok(())
    }

    /// Appends sealed rows and checkpoints in one transaction.
    /// Content `removals` take effect in the same transaction, after the rows that record them.
    pub fn append(
        &mut self,
        rows: &[Row],
        checkpoints: &[CheckpointRow],
        removals: &[crate::content::Removal],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = move |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql.clone())?;
        {
            // Full chunks go in one multi-row statement each; the rest one row at a time.
            let mut chunks = rows.chunks_exact(INSERT_CHUNK);
            for chunk in chunks.by_ref() {
                let mut st = tx.prepare_cached(&INSERT_MANY).map_err(sql.clone())?;
                bind_rows(&mut st, chunk).map_err(sql.clone())?;
                st.raw_execute().map_err(sql.clone())?;
            }
            for row in chunks.remainder() {
                let mut st = tx.prepare_cached(&INSERT_ONE).map_err(sql.clone())?;
                bind_rows(&mut st, std::slice::from_ref(row)).map_err(sql.clone())?;
                st.raw_execute().map_err(sql.clone())?;
            }
            let mut content = tx
                .prepare_cached("INSERT INTO content (digest, nonce, body) VALUES (?1, ?2, ?3)")
                .map_err(sql.clone())?;
            for c in rows.iter().filter_map(|r| r.sealed.content.as_ref()) {
                content
                    .execute(params![c.digest, &c.nonce[..], c.body])
                    .map_err(sql.clone())?;
            }
            drop(content);
            crate::content::remove(&tx, removals).map_err(sql.clone())?;
            for c in checkpoints {
                tx.execute(
                    "INSERT INTO checkpoints (log_id, size, ts_us, note) VALUES (?1, ?2, ?3, ?4)",
                    params![c.log_id, c.size as i64, c.ts_us, c.note],
                )
                .map_err(sql.clone())?;
            }
        }
        tx.commit().map_err(sql)
    }

    pub fn logs(&self) -> Result<Vec<LogInfo>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT log_id, origin, instance, created_us, vkey, hash_key_id, checkpoint_every
                 FROM logs ORDER BY created_us, log_id",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| {
                Ok(LogInfo {
                    log_id: r.get(0)?,
                    origin: r.get(1)?,
                    instance: r.get(2)?,
                    created_us: r.get(3)?,
                    vkey: r.get(4)?,
                    hash_key_id: r.get(5)?,
                    checkpoint_every: r.get::<_, i64>(6)? as u64,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Log ids that have records but no registration (a deleted `logs` row).
    pub fn unregistered_logs(&self) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT DISTINCT log_id FROM records WHERE log_id NOT IN (SELECT log_id FROM logs)
                 UNION SELECT DISTINCT log_id FROM checkpoints WHERE log_id NOT IN (SELECT log_id FROM logs)",
            )
            .map_err(self.err())?;
        let rows = st.query_map([], |r| r.get(0)).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Calls `f(seq, leaf, hashes)` for each record of `log_id` in stored `seq` order.
    pub fn scan(
        &self,
        log_id: &str,
        mut f: impl FnMut(i64, &[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT seq, leaf, hashes FROM records WHERE log_id = ?1 ORDER BY seq")
            .map_err(self.err())?;
        let mut rows = st.query([log_id]).map_err(self.err())?;
        while let Some(r) = rows.next().map_err(self.err())? {
            let seq: i64 = r.get(0).map_err(self.err())?;
            let leaf = r
                .get_ref(1)
                .map_err(self.err())?
                .as_bytes_or_null()
                .map_err(|e| self.err()(e.into()))?;
            let hashes = r
                .get_ref(2)
                .map_err(self.err())?
                .as_bytes_or_null()
                .map_err(|e| self.err()(e.into()))?;
            if !f(seq, leaf.unwrap_or_default(), hashes.unwrap_or_default()) {
                break;
            }
        }
        Ok(())
    }

    /// The checkpoints of a log, smallest first: `(size, ts_us, note)`.
    pub fn checkpoints(&self, log_id: &str) -> Result<Vec<(u64, i64, String)>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT size, ts_us, note FROM checkpoints WHERE log_id = ?1 ORDER BY size")
            .map_err(self.err())?;
        let rows = st
            .query_map([log_id], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Where the record with this id is: `(log_id, seq, leaf)`.
    pub fn find_record(&self, id: &str) -> Result<Option<(String, u64, Vec<u8>)>, StoreError> {
        self.conn
            .query_row(
                "SELECT log_id, seq, leaf FROM records WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?)),
            )
            .optional()
            .map_err(self.err())
    }

    /// A reader of one log's stored tree hashes, for proofs.
    pub fn hash_reader<'a>(&'a self, log_id: &'a str) -> StoredHashes<'a> {
        StoredHashes {
            store: self,
            log_id,
        }
    }

    /// Reads from one consistent snapshot until the guard is dropped: a writer committing
    /// meanwhile is not seen, so checkpoints and records read one after the other agree.
    pub fn snapshot(&self) -> Result<Snapshot<'_>, StoreError> {
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .map_err(self.err())?;
        // The snapshot starts with the first read.
        self.conn
            .query_row("SELECT COUNT(*) FROM logs", [], |_| Ok(()))
            .map_err(self.err())?;
        Ok(Snapshot { store: self })
    }

    /// Budget usage recorded since `since_us`: units per `(key, window_start_ms)`, summed from
    /// the `policy.budget` entries of the request records that were charged.
    pub fn budget_usage(&self, since_us: i64) -> Result<Vec<(String, u64, u64)>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Leaf {
            policy: Option<Policy>,
        }
        #[derive(serde::Deserialize)]
        struct Policy {
            #[serde(default)]
            budget: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            key: String,
            window_start_ms: u64,
            units: u64,
        }
        let mut st = self
            .conn
            .prepare("SELECT leaf FROM records WHERE ts_us >= ?1 AND kind = 'request' AND instr(leaf, '\"budget\":[') > 0")
            .map_err(self.err())?;
        let mut rows = st.query([since_us]).map_err(self.err())?;
        let mut sums: std::collections::BTreeMap<(String, u64), u64> =
            std::collections::BTreeMap::new();
        while let Some(r) = rows.next().map_err(self.err())? {
            let leaf: Vec<u8> = r.get(0).map_err(self.err())?;
            if let Ok(Leaf { policy: Some(p) }) = serde_json::from_slice::<Leaf>(&leaf) {
                for e in p.budget {
                    *sums.entry((e.key, e.window_start_ms)).or_default() += e.units;
                }
            }
        }
        Ok(sums.into_iter().map(|((k, w), u)| (k, w, u)).collect())
    }

    /// The largest row id stored (for following new records).
    pub fn max_rowid(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT COALESCE(MAX(rowid), 0) FROM records", [], |r| {
                r.get(0)
            })
            .map_err(self.err())
    }
}

/// A read transaction on a store; ends when dropped.
pub struct Snapshot<'a> {
    store: &'a Store,
}

impl Drop for Snapshot<'_> {
    fn drop(&mut self) {
        // Nothing was written in it, so ending it cannot lose anything.
        let _ended = self.store.conn.execute_batch("ROLLBACK");
    }
}

/// Reads a log's stored tree hashes from the `hashes` column of the record that wrote each.
pub struct StoredHashes<'a> {
    store: &'a Store,
    log_id: &'a str,
}

impl HashReader for StoredHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let mut st = self
            .store
            .conn
            .prepare_cached("SELECT hashes FROM records WHERE log_id = ?1 AND seq = ?2")
            .map_err(|_| tlog_tiles::Error::IndexesNotInTree)?;
        indexes
            .iter()
            .map(|&i| {
                let (level, k) = split_stored_hash_index(i);
                // The hash of subtree k at `level` is written with its last record.
                let record = ((k + 1) << level) - 1;
                let offset = usize::try_from(i - stored_hash_index(0, record))
                    .map_err(|_| tlog_tiles::Error::BadMath)?;
                let blob: Vec<u8> = st
                    .query_row(params![self.log_id, record as i64], |r| r.get(0))
                    .map_err(|_| tlog_tiles::Error::IndexesNotInTree)?;
                blob.get(offset * 32..offset * 32 + 32)
                    .and_then(|b| b.try_into().ok())
                    .map(Hash)
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}
