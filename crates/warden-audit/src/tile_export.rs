//! `warden audit export-tiles`: writes each log of a store as a static C2SP `tlog-tiles` tree
//! under `DIR/<log_id>/`: `checkpoint`, `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`.
//!
//! Only the tree of the log's latest signed checkpoint is published: its signature is
//! checked with the log's key, the tiles are computed from the stored leaves (never the
//! stored hashes), and the root they give must equal the signed root before `checkpoint` is
//! written. Every file is written to a temporary name and renamed into place, and
//! `checkpoint` goes last, so a crash never leaves a tile that claims to be whole when it is
//! not, nor a checkpoint whose tiles are missing.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::OptionalExtension;

use crate::checkpoint;
use crate::store::{LogInfo, Store, StoreError};
use crate::tiler::{PushError, Tiler};
use crate::tiles::{self, MAX_ENTRY, TILE_WIDTH, TilePath};

#[derive(Debug, thiserror::Error)]
pub enum TilesError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "record {seq} (id {id}) of log {log_id} is {len} bytes: a C2SP entry bundle holds entries \
         of at most {MAX_ENTRY} bytes, so this log cannot be published as tiles"
    )]
    EntryTooLong {
        log_id: String,
        seq: u64,
        id: String,
        len: u64,
    },
    #[error("log id {0:?} is not a UUID; it cannot name a directory")]
    BadLogId(String),
    #[error(
        "log {log_id}: records 0..{end} are archived, and tiles are built from every record: export \
         the tiles before archiving, or keep the tiles written then"
    )]
    Archived { log_id: String, end: u64 },
    #[error("log {log_id}: checkpoint at size {size}: {reason}; run `warden audit verify`")]
    Checkpoint {
        log_id: String,
        size: u64,
        reason: String,
    },
    #[error(
        "log {log_id}: record {expected} is missing (the next stored is {found}); run `warden audit verify`"
    )]
    Gap {
        log_id: String,
        expected: u64,
        found: i64,
    },
}

/// What export-tiles did with one log.
#[derive(Debug)]
pub enum LogTiles {
    /// Written under `dir`: the tree of the checkpoint at `size`.
    Exported {
        log_id: String,
        dir: PathBuf,
        size: u64,
        files: u64,
    },
    /// The log has no signed checkpoint yet: nothing to publish.
    NoCheckpoint { log_id: String, records: u64 },
    /// The log cannot be published (the reason names the record or checkpoint).
    Refused { log_id: String, error: TilesError },
}

/// Writes every log of `store` under `dir` (one directory per log). `trusted`: the verifier
/// keys the latest checkpoint must be signed by (`None`: each log's registered key). Errors
/// of one log refuse that log only; a store or directory error stops the export.
pub fn export_tiles(
    store: &Store,
    dir: &Path,
    trusted: Option<&[String]>,
) -> Result<Vec<LogTiles>, TilesError> {
    let _snapshot = store.snapshot()?;
    let mut out = Vec::new();
    for log in store.logs()? {
        match export_log(store, dir, &log, trusted) {
            Ok(done) => out.push(done),
            Err(e @ (TilesError::Store(_) | TilesError::Io { .. })) => return Err(e),
            Err(error) => out.push(LogTiles::Refused {
                log_id: log.log_id.clone(),
                error,
            }),
        }
    }
    Ok(out)
}

fn export_log(
    store: &Store,
    dir: &Path,
    log: &LogInfo,
    trusted: Option<&[String]>,
) -> Result<LogTiles, TilesError> {
    let log_id = &log.log_id;
    let bad = |size: u64, reason: String| TilesError::Checkpoint {
        log_id: log_id.clone(),
        size,
        reason,
    };
    // The directory is named by the log id: only a real UUID may name it.
    if uuid::Uuid::try_parse(log_id)
        .map(|u| u.hyphenated().to_string() != *log_id)
        .unwrap_or(true)
    {
        return Err(TilesError::BadLogId(log_id.clone()));
    }
    if let Some(a) = store.archived(log_id)? {
        return Err(TilesError::Archived {
            log_id: log_id.clone(),
            end: a.end,
        });
    }
    let checkpoints = store.checkpoints(log_id)?;
    let Some((size, _, note)) = checkpoints.last().cloned() else {
        return Ok(LogTiles::NoCheckpoint {
            log_id: log_id.clone(),
            records: count_records(store, log_id)?,
        });
    };
    let keys: Vec<&str> = match trusted {
        Some(k) => k.iter().map(String::as_str).collect(),
        None => vec![log.vkey.as_str()],
    };
    let signed = checkpoint::open(&note, &keys).map_err(|e| bad(size, e.to_string()))?;
    if signed.origin != log.origin || signed.size != size {
        return Err(bad(
            size,
            format!(
                "it states {} at size {}, not this log's origin at the size it is stored under",
                signed.origin, signed.size
            ),
        ));
    }
    if let Some((seq, id, len)) = too_long(store, log_id, size)? {
        return Err(TilesError::EntryTooLong {
            log_id: log_id.clone(),
            seq,
            id,
            len,
        });
    }
    // Roots stated by the earlier checkpoints, checked as the tree passes their sizes; their
    // partial tiles are published too while the tile they belong to is still partial.
    let mut stated: Vec<(u64, tlog_tiles::Hash)> = Vec::new();
    for (s, _, n) in &checkpoints[..checkpoints.len() - 1] {
        let c = checkpoint::peek(n).map_err(|e| bad(*s, e.to_string()))?;
        stated.push((*s, c.root));
    }
    stated.push((size, signed.root));
    stated.reverse();

    let root = dir.join(log_id);
    let mut w = Writer::new(root.clone());
    let mut tiler = Tiler::new();
    let mut failure: Option<TilesError> = None;
    store.scan(log_id, 0..u64::MAX, |seq, leaf, _| {
        let n = tiler.size();
        if n >= size {
            return false;
        }
        if seq != n as i64 {
            failure = Some(TilesError::Gap {
                log_id: log_id.clone(),
                expected: n,
                found: seq,
            });
            return false;
        }
        let mut put = |t: TilePath, data: &[u8]| w.put(&t, data);
        match tiler.push(leaf, &mut put) {
            Ok(()) => {}
            Err(PushError::Out(e)) => {
                failure = Some(e);
                return false;
            }
            Err(PushError::TooLong(t)) => {
                failure = Some(TilesError::EntryTooLong {
                    log_id: log_id.clone(),
                    seq: t.index,
                    id: String::new(),
                    len: t.len as u64,
                });
                return false;
            }
        }
        while let Some(&(s, stated_root)) = stated.last() {
            if s != tiler.size() {
                break;
            }
            stated.pop();
            if tiler.root() != stated_root {
                failure = Some(bad(
                    s,
                    "its root is not the root of the stored records".into(),
                ));
                return false;
            }
            // This size's partial tiles, where the tile is still partial in the exported tree.
            let mut put = |t: TilePath, data: &[u8]| w.put(&t, data);
            if let Err(e) = tiler.partials(|t| still_partial(t, size), &mut put) {
                failure = Some(e);
                return false;
            }
        }
        true
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    if tiler.size() < size {
        return Err(TilesError::Gap {
            log_id: log_id.clone(),
            expected: tiler.size(),
            found: -1,
        });
    }
    if !stated.is_empty() {
        return Err(bad(size, "a checkpoint's size was never reached".into()));
    }
    w.put_file("checkpoint", note.as_bytes())?;
    Ok(LogTiles::Exported {
        log_id: log_id.clone(),
        dir: root,
        size,
        files: w.files,
    })
}

/// Whether `tile` (a partial tile of some earlier size) is still partial in a tree of `size`:
/// once the full tile exists, the spec lets its partial versions go.
fn still_partial(tile: &TilePath, size: u64) -> bool {
    let level = match tile {
        TilePath::Hashes { level, .. } => *level,
        TilePath::Entries { .. } => 0,
    };
    tile.index() == tiles::hashes_at_level(size, level) / TILE_WIDTH
}

/// The first record below `size` whose leaf is longer than an entry bundle can hold.
fn too_long(
    store: &Store,
    log_id: &str,
    size: u64,
) -> Result<Option<(u64, String, u64)>, StoreError> {
    store
        .conn()
        .query_row(
            "SELECT seq, id, length(leaf) FROM records WHERE log_id = ?1 AND seq < ?2 \
             AND length(leaf) > ?3 ORDER BY seq LIMIT 1",
            rusqlite::params![log_id, size as i64, MAX_ENTRY as i64],
            |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get(1)?,
                    r.get::<_, i64>(2)? as u64,
                ))
            },
        )
        .optional()
        .map_err(|source| StoreError::Sqlite {
            path: store.path().to_owned(),
            source,
        })
}

fn count_records(store: &Store, log_id: &str) -> Result<u64, StoreError> {
    store
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM records WHERE log_id = ?1",
            [log_id],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n as u64)
        .map_err(|source| StoreError::Sqlite {
            path: store.path().to_owned(),
            source,
        })
}

/// Writes files below a log's directory, each to a temporary name first, then renamed.
struct Writer {
    root: PathBuf,
    made: HashSet<PathBuf>,
    /// Partial tiles written: many checkpoints give a high level's partial tile the same
    /// width, and its bytes are the same each time.
    partials: HashSet<TilePath>,
    files: u64,
}

impl Writer {
    fn new(root: PathBuf) -> Writer {
        Writer {
            root,
            made: HashSet::new(),
            partials: HashSet::new(),
            files: 0,
        }
    }

    fn put(&mut self, tile: &TilePath, data: &[u8]) -> Result<(), TilesError> {
        if !tile.is_full() && !self.partials.insert(*tile) {
            return Ok(());
        }
        self.put_file(&tile.path(), data)
    }

    fn put_file(&mut self, rel: &str, data: &[u8]) -> Result<(), TilesError> {
        let path = self.root.join(rel);
        let io = |source| TilesError::Io {
            path: path.clone(),
            source,
        };
        let parent = path.parent().unwrap_or(&self.root).to_owned();
        if !self.made.contains(&parent) {
            std::fs::create_dir_all(&parent).map_err(io)?;
            self.made.insert(parent.clone());
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A dot name that no tile path has, so an interrupted write is never taken for a tile.
        let tmp = parent.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = std::fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(data)?;
            if rel == "checkpoint" {
                f.sync_all()?;
            }
            Ok(())
        });
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &path)) {
            let _gone = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        self.files += 1;
        Ok(())
    }
}
