//! The archive: a log's oldest records, up to a signed checkpoint, moved out of the store
//! into sealed segment files (gzip JSON Lines in the export's format: the log, the
//! checkpoints that cover the range, each record with its stored hashes and content). The
//! store keeps the tree's right edge where the segment ends (all later records, checkpoints
//! and proofs need of it) and each segment's SHA-256, so store and archive verify as one log.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};
use tlog_tiles::{Hash, HashReader};

use crate::export::{ExportError, ExportedLog};
use crate::store::{LogInfo, Store, StoreError};
use crate::tree::{Frontier, edge_indexes};
use crate::verify::ProblemKind;

/// Where a log's archived records end, and the tree's right edge there.
#[derive(Clone, Debug, PartialEq)]
pub struct Archived {
    pub end: u64,
    /// Stored-hash index and hash of each complete subtree on the right edge at `end`.
    pub edge: Vec<(u64, Hash)>,
}

/// One archive segment as the store remembers it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Segment {
    pub log_id: String,
    pub first: u64,
    pub end: u64,
    /// Its path inside the archive directory.
    pub file: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// A range of a log that can be archived: every record in it is older than the cutoff, and
/// a signed checkpoint ends it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Planned {
    pub log_id: String,
    pub first: u64,
    pub end: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("archive {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("log {0} does not verify ({1}); archive nothing of a log that does not verify")]
    Unverified(String, String),
    #[error("log {log_id}: the tree edge at {end} could not be read from the store")]
    Edge { log_id: String, end: u64 },
}

pub(crate) fn edge_bytes(edge: &[(u64, Hash)]) -> Vec<u8> {
    edge.iter()
        .flat_map(|(i, h)| i.to_be_bytes().into_iter().chain(h.0))
        .collect()
}

pub(crate) fn edge_from_bytes(b: &[u8]) -> Option<Vec<(u64, Hash)>> {
    if !b.len().is_multiple_of(40) {
        return None;
    }
    b.chunks_exact(40)
        .map(|c| {
            let i = u64::from_be_bytes(c[..8].try_into().ok()?);
            Some((i, Hash(c[8..].try_into().ok()?)))
        })
        .collect()
}

impl Store {
    /// Where `log_id`'s archived records end, if any were archived.
    pub fn archived(&self, log_id: &str) -> Result<Option<Archived>, StoreError> {
        let row: Option<(i64, Vec<u8>)> = self
            .conn()
            .query_row(
                "SELECT end, edge FROM archives WHERE log_id = ?1 ORDER BY end DESC LIMIT 1",
                [log_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.sql_error(e))?;
        Ok(row.map(|(end, edge)| Archived {
            end: end as u64,
            // An edge that does not decode is caught by verification (no frontier from it).
            edge: edge_from_bytes(&edge).unwrap_or_default(),
        }))
    }

    /// The segments of `log_id`, oldest first.
    pub fn segments(&self, log_id: &str) -> Result<Vec<Segment>, StoreError> {
        let mut st = self
            .conn()
            .prepare("SELECT first, end, file, sha256 FROM archives WHERE log_id = ?1 ORDER BY end")
            .map_err(|e| self.sql_error(e))?;
        let rows = st
            .query_map([log_id], |r| {
                Ok(Segment {
                    log_id: log_id.to_owned(),
                    first: r.get::<_, i64>(0)? as u64,
                    end: r.get::<_, i64>(1)? as u64,
                    file: r.get(2)?,
                    sha256: r.get(3)?,
                })
            })
            .map_err(|e| self.sql_error(e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| self.sql_error(e))
    }

    /// For each log, the longest range after what is archived whose records are all older
    /// than `before_us` and that a signed checkpoint ends.
    pub fn plan_archive(&self, before_us: i64) -> Result<Vec<Planned>, StoreError> {
        let mut out = Vec::new();
        for log in self.logs()? {
            let first = self.archived(&log.log_id)?.map_or(0, |a| a.end);
            // The first record (after the archived ones) not old enough bounds the range.
            let young: Option<i64> = self
                .conn()
                .query_row(
                    "SELECT MIN(seq) FROM records WHERE log_id = ?1 AND seq >= ?2 AND ts_us >= ?3",
                    params![log.log_id, first as i64, before_us],
                    |r| r.get(0),
                )
                .map_err(|e| self.sql_error(e))?;
            let bound = young.map_or(u64::MAX, |y| y as u64);
            let end = self
                .checkpoints(&log.log_id)?
                .into_iter()
                .map(|(size, _, _)| size)
                .filter(|&s| s > first && s <= bound)
                .max();
            if let Some(end) = end {
                out.push(Planned {
                    log_id: log.log_id,
                    first,
                    end,
                });
            }
        }
        Ok(out)
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Moves `plan`'s records of `log` into a new segment under `dir` and out of the store: the
/// log must verify first; the segment is written and synced before anything is deleted; the
/// segment's row, the edge, and the deletion of its records and their content are one
/// transaction.
pub fn archive(
    store: &Store,
    log: &LogInfo,
    plan: &Planned,
    dir: &Path,
) -> Result<Segment, ArchiveError> {
    if let Err(p) = crate::export::verify_log(store, log, None)? {
        return Err(ArchiveError::Unverified(log.log_id.clone(), p.to_string()));
    }
    let after = store.archived(&log.log_id)?;
    let indexes: Vec<u64> = edge_indexes(plan.end).collect();
    let hashes = store
        .hash_reader(&log.log_id)
        .read_hashes(&indexes)
        .map_err(|_| ArchiveError::Edge {
            log_id: log.log_id.clone(),
            end: plan.end,
        })?;
    let edge: Vec<(u64, Hash)> = indexes.into_iter().zip(hashes).collect();
    // The edge must be what the checkpoint at `end` signed.
    let signed = store
        .checkpoints(&log.log_id)?
        .into_iter()
        .find(|c| c.0 == plan.end)
        .and_then(|c| crate::checkpoint::peek(&c.2).ok());
    let frontier = Frontier::from_edge(plan.end, &edge);
    if signed.map(|s| s.root) != frontier.map(|f| f.root()) {
        return Err(ArchiveError::Edge {
            log_id: log.log_id.clone(),
            end: plan.end,
        });
    }
    let rel = format!(
        "{}/{:012}-{:012}.jsonl.gz",
        log.log_id, plan.first, plan.end
    );
    let path = dir.join(&rel);
    let parent = path.parent().unwrap_or(dir).to_owned();
    crate::private::create_dir(&parent).map_err(io(&parent))?;
    let tmp = parent.join(format!(".{}.tmp", uuid::Uuid::now_v7()));
    let written = (|| -> Result<(), ArchiveError> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        crate::private::make_private(&tmp).map_err(io(&tmp))?;
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::default(),
        );
        crate::export::write_header(&mut gz)?;
        crate::export::write_log(store, log, after.as_ref(), plan.end, &mut gz)?;
        let file = gz
            .finish()
            .map_err(io(&tmp))?
            .into_inner()
            .map_err(|e| io(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io(&tmp))?;
        Ok(())
    })();
    if let Err(e) = written {
        let _cleaned = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    std::fs::File::open(&parent)
        .and_then(|d| d.sync_all())
        .map_err(io(&parent))?;
    let sha256 = crate::content::hex(&Sha256::digest(std::fs::read(&path).map_err(io(&path))?));
    let segment = Segment {
        log_id: log.log_id.clone(),
        first: plan.first,
        end: plan.end,
        file: rel,
        sha256,
    };
    store.move_out(&segment, &edge_bytes(&edge))?;
    Ok(segment)
}

impl Store {
    /// Records the segment and deletes its records and their content, in one transaction.
    fn move_out(&self, seg: &Segment, edge: &[u8]) -> Result<(), StoreError> {
        let err = |e| self.sql_error(e);
        self.conn().execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        let done = (|| -> rusqlite::Result<()> {
            let c = self.conn();
            let (first, end) = (seg.first as i64, seg.end as i64);
            c.execute(
                "INSERT INTO archives (log_id, first, end, file, sha256, edge, created_us) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    seg.log_id,
                    first,
                    end,
                    seg.file,
                    seg.sha256,
                    edge,
                    crate::now_us()
                ],
            )?;
            c.execute(
                "DELETE FROM content WHERE digest IN (SELECT content FROM records \
                 WHERE log_id = ?1 AND seq >= ?2 AND seq < ?3 AND content IS NOT NULL)",
                params![seg.log_id, first, end],
            )?;
            c.execute(
                "DELETE FROM records WHERE log_id = ?1 AND seq >= ?2 AND seq < ?3",
                params![seg.log_id, first, end],
            )?;
            Ok(())
        })();
        match done {
            Ok(()) => self.conn().execute_batch("COMMIT").map_err(err),
            Err(e) => {
                let _undone = self.conn().execute_batch("ROLLBACK");
                Err(err(e))
            }
        }
    }
}

/// Reads a segment from the archive directory, checking it is the file the store sealed.
/// A problem is `(kind, detail)` for verification to report.
pub(crate) fn read_segment(
    dir: &Path,
    seg: &Segment,
) -> Result<ExportedLog, (ProblemKind, String)> {
    let path = dir.join(&seg.file);
    let bytes = std::fs::read(&path).map_err(|e| {
        (
            ProblemKind::Deleted,
            format!(
                "records {}..{} are archived in {}, which cannot be read: {e}",
                seg.first,
                seg.end.saturating_sub(1),
                path.display()
            ),
        )
    })?;
    if crate::content::hex(&Sha256::digest(&bytes)) != seg.sha256 {
        return Err((
            ProblemKind::Edited,
            format!(
                "archive segment {} is not the file that was sealed (its SHA-256 differs)",
                seg.file
            ),
        ));
    }
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut text)
        .map_err(|e| {
            (
                ProblemKind::Edited,
                format!("archive segment {}: {e}", seg.file),
            )
        })?;
    let mut logs = crate::export::read_export(BufReader::new(&text[..])).map_err(|e| {
        (
            ProblemKind::Edited,
            format!("archive segment {}: {e}", seg.file),
        )
    })?;
    match (logs.pop(), logs.is_empty()) {
        (Some(l), true) if l.info.log_id == seg.log_id => Ok(l),
        _ => Err((
            ProblemKind::Edited,
            format!("archive segment {} does not hold exactly its log", seg.file),
        )),
    }
}
