//! One C2SP tile, entry bundle or checkpoint of a log, read from the store on request (the
//! admin plane serves them at `/api/v1/logs/<log_id>/…`). Only what the log's latest
//! checkpoint covers is served. Level-0 tiles and entry bundles come from the leaves; higher
//! tiles from the stored hashes. A client checks all of them against the signed checkpoint.

use rusqlite::OptionalExtension;
use tlog_tiles::{Tile, record_hash};

use crate::store::{Store, StoreError};
use crate::tiles::{self, MAX_ENTRY, TILE_HEIGHT, TILE_WIDTH, TilePath};

/// Why a tile could not be served.
#[derive(Debug, thiserror::Error)]
pub enum TileReadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no such log, or it has no signed checkpoint yet")]
    NoLog,
    #[error("the log's latest checkpoint does not cover this tile")]
    NotInTree,
    #[error(
        "record {seq} (id {id}) is {len} bytes, longer than an entry bundle holds ({MAX_ENTRY})"
    )]
    EntryTooLong { seq: u64, id: String, len: usize },
    #[error("the stored log is damaged at record {0}; run `warden audit verify`")]
    Damaged(u64),
    #[error(
        "records 0..{0} of this log are archived (`warden audit archive`): their tiles are not in the store"
    )]
    Archived(u64),
}

fn sql(store: &Store) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    |source| StoreError::Sqlite {
        path: store.path().to_owned(),
        source,
    }
}

/// The log's latest checkpoint: `(size, note)`.
pub fn latest_checkpoint(store: &Store, log_id: &str) -> Result<Option<(u64, String)>, StoreError> {
    store
        .conn()
        .query_row(
            "SELECT size, note FROM checkpoints WHERE log_id = ?1 ORDER BY size DESC LIMIT 1",
            [log_id],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
        )
        .optional()
        .map_err(sql(store))
}

/// The bytes of `tile` of log `log_id`, if its latest checkpoint covers it.
pub fn read_tile(store: &Store, log_id: &str, tile: &TilePath) -> Result<Vec<u8>, TileReadError> {
    let _snapshot = store.snapshot()?;
    let (size, _) = latest_checkpoint(store, log_id)?.ok_or(TileReadError::NoLog)?;
    if !tiles::tree_holds(size, tile) {
        return Err(TileReadError::NotInTree);
    }
    let first = tile.index() * TILE_WIDTH;
    if let Some(a) = store.archived(log_id)? {
        // A tile at level L starts at record index · 256^(L+1); any below the archive's end
        // needs records or hashes the store no longer holds.
        let level = match *tile {
            TilePath::Entries { .. } => 0,
            TilePath::Hashes { level, .. } => u32::from(level),
        };
        let start = tile
            .index()
            .saturating_mul(TILE_WIDTH.checked_pow(level + 1).unwrap_or(u64::MAX));
        if start < a.end {
            return Err(TileReadError::Archived(a.end));
        }
    }
    match *tile {
        TilePath::Entries { width, .. } => {
            let mut bundle = Vec::new();
            leaves(store, log_id, first, width, |seq, id, leaf| {
                tiles::push_entry(&mut bundle, leaf).ok_or_else(|| TileReadError::EntryTooLong {
                    seq,
                    id: id.to_owned(),
                    len: leaf.len(),
                })
            })?;
            Ok(bundle)
        }
        TilePath::Hashes {
            level: 0, width, ..
        } => {
            let mut data = Vec::with_capacity(usize::from(width) * 32);
            leaves(store, log_id, first, width, |_, _, leaf| {
                data.extend_from_slice(&record_hash(leaf).0);
                Ok(())
            })?;
            Ok(data)
        }
        TilePath::Hashes {
            level,
            index,
            width,
        } => Tile::new(TILE_HEIGHT, level, index, u32::from(width), false)
            .read_data(&store.hash_reader(log_id))
            .map_err(|_| {
                let shift = u32::from(TILE_HEIGHT) * (u32::from(level) + 1);
                TileReadError::Damaged(index.checked_shl(shift).unwrap_or(u64::MAX))
            }),
    }
}

/// Calls `f(seq, id, leaf)` for records `first..first + width` of a log, in order; every one
/// of them must be there.
fn leaves(
    store: &Store,
    log_id: &str,
    first: u64,
    width: u16,
    mut f: impl FnMut(u64, &str, &[u8]) -> Result<(), TileReadError>,
) -> Result<(), TileReadError> {
    let mut st = store
        .conn()
        .prepare_cached(
            "SELECT seq, id, leaf FROM records WHERE log_id = ?1 AND seq >= ?2 AND seq < ?3 ORDER BY seq",
        )
        .map_err(sql(store))?;
    let end = first + u64::from(width);
    let mut rows = st
        .query(rusqlite::params![log_id, first as i64, end as i64])
        .map_err(sql(store))?;
    let mut next = first;
    while let Some(r) = rows.next().map_err(sql(store))? {
        let seq: i64 = r.get(0).map_err(sql(store))?;
        if seq != next as i64 {
            return Err(TileReadError::Damaged(next));
        }
        let id: String = r.get(1).map_err(sql(store))?;
        let leaf = r
            .get_ref(2)
            .map_err(sql(store))?
            .as_bytes()
            .map_err(|e| sql(store)(e.into()))?;
        f(next, &id, leaf)?;
        next += 1;
    }
    if next != end {
        return Err(TileReadError::Damaged(next));
    }
    Ok(())
}
