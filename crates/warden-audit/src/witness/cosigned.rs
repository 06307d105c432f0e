//! The cosignatures a log's checkpoints got from witnesses, kept in the audit store beside the
//! checkpoints: `cosignatures(log_id, size, witness, line, ts_us)`, `witness` being the
//! witness's verifier key and `line` its note signature line. Created on first use; a store
//! without the table has no cosignatures.

use rusqlite::params;

use crate::store::{Store, StoreError};

const TABLE: &str = "CREATE TABLE IF NOT EXISTS cosignatures (
    log_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    witness TEXT NOT NULL,
    line TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    PRIMARY KEY (log_id, size, witness)
)";

fn sql(store: &Store) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: store.path().to_owned(),
        source,
    }
}

/// Creates the table if it is missing (a store opened for writing).
pub fn ensure(store: &Store) -> Result<(), StoreError> {
    crate::store::retry_busy(|| store.conn().execute(TABLE, [])).map_err(sql(store))?;
    Ok(())
}

/// Keeps a verified cosignature line of `witness` on the checkpoint of `log_id` at `size`.
pub fn add(
    store: &Store,
    log_id: &str,
    size: u64,
    witness: &str,
    line: &str,
) -> Result<(), StoreError> {
    crate::store::retry_busy(|| {
        store.conn().execute(
            "INSERT OR REPLACE INTO cosignatures (log_id, size, witness, line, ts_us) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![log_id, size as i64, witness, line, crate::now_us()],
        )
    })
    .map_err(sql(store))?;
    Ok(())
}

/// The cosignatures of a log: `(size, witness, line)`, by size.
pub fn of_log(store: &Store, log_id: &str) -> Result<Vec<(u64, String, String)>, StoreError> {
    let exists: bool = store
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'cosignatures'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(sql(store))?
        > 0;
    if !exists {
        return Ok(Vec::new());
    }
    let mut st = store
        .conn()
        .prepare(
            "SELECT size, witness, line FROM cosignatures WHERE log_id = ?1 ORDER BY size, witness",
        )
        .map_err(sql(store))?;
    let rows = st
        .query_map([log_id], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
        })
        .map_err(sql(store))?;
    rows.collect::<Result<_, _>>().map_err(sql(store))
}

/// The note with the stored cosignature lines of its size appended (a signed note with more
/// signatures: verifiers that do not know the witness keys ignore them).
pub fn attach(note: &str, size: u64, cosigned: &[(u64, String, String)]) -> String {
    let mut out = note.to_owned();
    for (_, _, line) in cosigned.iter().filter(|c| c.0 == size) {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(line.trim_end_matches('\n'));
        out.push('\n');
    }
    out
}
