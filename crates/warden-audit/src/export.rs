//! The JSONL export: each log's registration, its signed checkpoints, then its records with
//! the leaf bytes embedded verbatim and the tree hashes stored with each (hex), so the export
//! verifies on its own (`verify --file`) and names the record that was edited.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::archive::Archived;
use crate::content::{ContentRow, LeafContent, Removals};
use crate::store::{LogInfo, Store, StoreError};
use crate::tree::Frontier;
use crate::verify::{LogCheck, LogReport, Problem, ProblemKind};

/// Format name on the export's first line.
pub const EXPORT_FORMAT: &str = "warden-audit-export";
/// Version of the export: 2 added each record's content (leaf v2); version 1 files verify.
pub const EXPORT_VERSION: u32 = 2;

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line<'a> {
    Export {
        format: String,
        v: u32,
    },
    Log {
        log_id: String,
        origin: String,
        instance: String,
        created_us: i64,
        vkey: String,
        hash_key_id: String,
        checkpoint_every: u64,
        /// The records before `size` are not in this file (archived): the tree's right edge
        /// at that size stands for them.
        #[serde(skip_serializing_if = "Option::is_none")]
        archived: Option<ArchivedLine>,
    },
    Checkpoint {
        log_id: String,
        size: u64,
        ts_us: i64,
        note: String,
    },
    Record {
        log_id: String,
        seq: i64,
        leaf: &'a RawValue,
        /// The `hashes` column, hex: the leaf's hash and the subtree roots it completes.
        hashes: String,
        /// The content the leaf commits to (leaf v2), as the content store holds it.
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<ExportContent>,
    },
}

/// Where an export or archive segment starts, when not at record 0.
#[derive(Serialize, Deserialize, Clone)]
pub(crate) struct ArchivedLine {
    pub size: u64,
    /// The right edge: for each hash, its stored-hash index (8 bytes, big-endian) and the
    /// hash (32 bytes), in hex.
    pub edge: String,
}

impl ArchivedLine {
    pub(crate) fn new(a: &Archived) -> ArchivedLine {
        ArchivedLine {
            size: a.end,
            edge: crate::keyed::hex(&crate::archive::edge_bytes(&a.edge)),
        }
    }

    fn frontier(&self) -> Option<Frontier> {
        let bytes = crate::keyed::unhex(&self.edge)?;
        Frontier::from_edge(self.size, &crate::archive::edge_from_bytes(&bytes)?)
    }
}

/// A record's content in an export: the nonce and body (hex, base64), or the tombstone.
#[derive(Serialize, Deserialize, Default)]
struct ExportContent {
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gone_us: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<String>,
}

impl ExportContent {
    fn from_row(row: ContentRow) -> ExportContent {
        use base64::Engine;
        ExportContent {
            nonce: row.nonce.as_deref().map(crate::keyed::hex),
            body: row
                .body
                .as_deref()
                .map(|b| base64::prelude::BASE64_STANDARD.encode(b)),
            gone: row.gone,
            gone_us: row.gone_us,
            by: row.gone_ref,
        }
    }

    /// The row this line stands for; `None` when the nonce or body is not readable.
    fn to_row(&self) -> Option<ContentRow> {
        use base64::Engine;
        Some(ContentRow {
            nonce: match &self.nonce {
                Some(n) => Some(crate::keyed::unhex(n)?),
                None => None,
            },
            body: match &self.body {
                Some(b) => Some(base64::prelude::BASE64_STANDARD.decode(b).ok()?),
                None => None,
            },
            gone: self.gone.clone(),
            gone_us: self.gone_us,
            gone_ref: self.by.clone(),
        })
    }
}

/// The flat shape export lines are read through (`RawValue` cannot sit in a tagged enum).
#[derive(Deserialize)]
struct AnyLine<'a> {
    #[serde(rename = "type")]
    kind: String,
    format: Option<String>,
    log_id: Option<String>,
    origin: Option<String>,
    instance: Option<String>,
    created_us: Option<i64>,
    vkey: Option<String>,
    hash_key_id: Option<String>,
    checkpoint_every: Option<u64>,
    size: Option<u64>,
    note: Option<String>,
    seq: Option<i64>,
    #[serde(borrow)]
    leaf: Option<&'a RawValue>,
    hashes: Option<String>,
    content: Option<ExportContent>,
    archived: Option<ArchivedLine>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write export: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "record {seq} of log {log_id} is not valid JSON; run `warden audit verify` on the store"
    )]
    BadLeaf { log_id: String, seq: i64 },
    #[error("line {line} of the export: {reason}")]
    Format { line: usize, reason: String },
}

/// Writes every log of `store` as JSONL to `out`; returns the number of records written.
/// A log whose oldest records were archived starts where they end (`archived` on its line).
pub fn export(store: &Store, out: &mut impl Write) -> Result<u64, ExportError> {
    let _snapshot = store.snapshot()?;
    write_header(out)?;
    let mut count = 0;
    for log in store.logs()? {
        let archived = store.archived(&log.log_id)?;
        count += write_log(store, &log, archived.as_ref(), u64::MAX, out)?;
    }
    out.flush()?;
    Ok(count)
}

pub(crate) fn write_header(out: &mut impl Write) -> Result<(), ExportError> {
    write_line(
        out,
        &Line::Export {
            format: EXPORT_FORMAT.into(),
            v: EXPORT_VERSION,
        },
    )
}

/// Writes one log's registration, its checkpoints of sizes `from..=end`, and its records
/// `from..end`, where `from` is where `after` (an archived prefix) ends, else 0.
pub(crate) fn write_log(
    store: &Store,
    log: &LogInfo,
    after: Option<&Archived>,
    end: u64,
    out: &mut impl Write,
) -> Result<u64, ExportError> {
    let from = after.map_or(0, |a| a.end);
    let LogInfo {
        log_id,
        origin,
        instance,
        created_us,
        vkey,
        hash_key_id,
        checkpoint_every,
    } = log.clone();
    write_line(
        out,
        &Line::Log {
            log_id,
            origin,
            instance,
            created_us,
            vkey,
            hash_key_id,
            checkpoint_every,
            archived: after.map(ArchivedLine::new),
        },
    )?;
    let cosigned = crate::witness::cosigned::of_log(store, &log.log_id)?;
    for (size, ts_us, note) in store.checkpoints(&log.log_id)? {
        if size < from || size > end {
            continue;
        }
        // Witnesses' cosignatures ride in the note as more signature lines (C2SP).
        let note = crate::witness::cosigned::attach(&note, size, &cosigned);
        write_line(
            out,
            &Line::Checkpoint {
                log_id: log.log_id.clone(),
                size,
                ts_us,
                note,
            },
        )?;
    }
    let mut count = 0;
    let mut failure: Option<ExportError> = None;
    store.scan(&log.log_id, from..end, |seq, leaf, hashes| {
        let raw = std::str::from_utf8(leaf)
            .ok()
            .and_then(|s| serde_json::from_str::<&RawValue>(s).ok());
        let Some(leaf) = raw else {
            failure = Some(ExportError::BadLeaf {
                log_id: log.log_id.clone(),
                seq,
            });
            return false;
        };
        let content = match serde_json::from_str::<LeafContent>(leaf.get()) {
            Ok(LeafContent {
                content: Some(digest),
                ..
            }) => match store.content(&digest) {
                Ok(row) => Some(row.map(ExportContent::from_row).unwrap_or_default()),
                Err(e) => {
                    failure = Some(e.into());
                    return false;
                }
            },
            _ => None,
        };
        let line = Line::Record {
            log_id: log.log_id.clone(),
            seq,
            leaf,
            hashes: crate::keyed::hex(hashes),
            content,
        };
        if let Err(e) = write_line(out, &line) {
            failure = Some(e);
            return false;
        }
        count += 1;
        true
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(count),
    }
}

fn write_line(out: &mut impl Write, line: &Line<'_>) -> Result<(), ExportError> {
    serde_json::to_writer(&mut *out, line).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Outcome of verifying a set of logs.
pub type Verdict = Result<Vec<LogReport>, Problem>;

/// One log as read from an export or an archive segment.
pub(crate) struct ExportedLog {
    pub info: LogInfo,
    pub checkpoints: Vec<(u64, String)>,
    /// `(seq, leaf, hashes)` in file order.
    pub records: Vec<(i64, Vec<u8>, Option<Vec<u8>>)>,
    /// Content by commitment, from the record lines that carry it (`None`: not decodable).
    pub contents: std::collections::HashMap<String, Option<ContentRow>>,
    /// Where the file starts, when not at record 0.
    pub resume: Option<Frontier>,
}

/// Reads an export (or an archive segment) line by line, strictly.
pub(crate) fn read_export(input: impl BufRead) -> Result<Vec<ExportedLog>, ExportError> {
    let mut logs: Vec<ExportedLog> = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| ExportError::Format {
            line: i + 1,
            reason,
        };
        let parsed: AnyLine<'_> = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        let missing = |what: &str| bad(format!("{} line without {what}", parsed.kind));
        match parsed.kind.as_str() {
            "export" => {
                if parsed.format.as_deref() != Some(EXPORT_FORMAT) {
                    return Err(bad(format!("unknown export format {:?}", parsed.format)));
                }
            }
            "log" => logs.push(ExportedLog {
                info: LogInfo {
                    log_id: parsed.log_id.clone().ok_or_else(|| missing("log_id"))?,
                    origin: parsed.origin.clone().ok_or_else(|| missing("origin"))?,
                    instance: parsed.instance.clone().unwrap_or_default(),
                    created_us: parsed.created_us.unwrap_or_default(),
                    vkey: parsed.vkey.clone().ok_or_else(|| missing("vkey"))?,
                    hash_key_id: parsed
                        .hash_key_id
                        .clone()
                        .ok_or_else(|| missing("hash_key_id"))?,
                    checkpoint_every: parsed
                        .checkpoint_every
                        .ok_or_else(|| missing("checkpoint_every"))?,
                },
                checkpoints: Vec::new(),
                records: Vec::new(),
                contents: std::collections::HashMap::new(),
                resume: match &parsed.archived {
                    None => None,
                    Some(a) => Some(a.frontier().ok_or_else(|| {
                        bad("log line whose archived edge is not a tree's right edge".into())
                    })?),
                },
            }),
            kind @ ("checkpoint" | "record") => {
                let log_id = parsed.log_id.as_deref().ok_or_else(|| missing("log_id"))?;
                let Some(current) = logs.iter_mut().find(|l| l.info.log_id == log_id) else {
                    return Err(bad(format!("{kind} of unknown log {log_id}")));
                };
                if kind == "checkpoint" {
                    let size = parsed.size.ok_or_else(|| missing("size"))?;
                    let note = parsed.note.clone().ok_or_else(|| missing("note"))?;
                    current.checkpoints.push((size, note));
                } else {
                    let seq = parsed.seq.ok_or_else(|| missing("seq"))?;
                    let leaf = parsed.leaf.ok_or_else(|| missing("leaf"))?;
                    // An older export has no hashes: an edited record is then caught by the
                    // next checkpoint, which can name only the range it covers.
                    let hashes = match &parsed.hashes {
                        Some(h) => Some(crate::keyed::unhex(h).ok_or_else(|| {
                            bad("record line with hashes that are not hex".into())
                        })?),
                        None => None,
                    };
                    if let Some(c) = &parsed.content
                        && let Ok(LeafContent {
                            content: Some(digest),
                            ..
                        }) = serde_json::from_str::<LeafContent>(leaf.get())
                    {
                        // A line whose content does not decode is checked as edited content.
                        current.contents.insert(digest, c.to_row());
                    }
                    current
                        .records
                        .push((seq, leaf.get().as_bytes().to_vec(), hashes));
                }
            }
            other => return Err(bad(format!("unknown line type {other:?}"))),
        }
    }
    Ok(logs)
}

/// Verifies an export read from `input` against trusted verifier keys (`None`: the keys
/// named in the export itself, which proves integrity but not authorship).
pub fn verify_export(
    input: impl BufRead,
    trusted: Option<&[String]>,
) -> Result<Verdict, ExportError> {
    let mut reports = Vec::new();
    let mut removals = Removals::default();
    let logs = read_export(input)?;
    for log in logs {
        let keys: Vec<&str> = match trusted {
            Some(t) => t.iter().map(String::as_str).collect(),
            None => vec![log.info.vkey.as_str()],
        };
        let contents = log.contents;
        let lookup = move |digest: &str| match contents.get(digest) {
            None => Err(()),
            Some(None) => Ok(Some(ContentRow {
                gone: Some("unreadable in the export".into()),
                ..ContentRow::default()
            })),
            Some(Some(row)) => Ok(Some(row.clone())),
        };
        let check = match log.resume {
            Some(edge) => LogCheck::resume(&log.info, log.checkpoints, keys, edge),
            None => LogCheck::new(&log.info, log.checkpoints, keys),
        };
        let mut check = check.with_contents(Box::new(lookup));
        for (seq, leaf, hashes) in &log.records {
            check.push(*seq, leaf, hashes.as_deref(), None);
        }
        removals.extend(check.take_removals());
        match check.finish() {
            Ok(r) => reports.push(r),
            Err(p) => return Ok(Err(p)),
        }
    }
    if let Some(p) = removals.check() {
        return Ok(Err(p));
    }
    Ok(Ok(reports))
}

/// Verifies every log in a store against trusted verifier keys (`None`: each log's registered key).
/// Archived records are represented by the tree edge kept for them; see
/// [`verify_store_with_archive`] to check them too.
pub fn verify_store(store: &Store, trusted: Option<&[String]>) -> Result<Verdict, StoreError> {
    verify_store_with_archive(store, trusted, None)
}

/// Verifies every log in a store, with the archived records of each read from the segments
/// in `archive` (`warden audit archive --out`): archive and store are checked as one log.
pub fn verify_store_with_archive(
    store: &Store,
    trusted: Option<&[String]>,
    archive: Option<&std::path::Path>,
) -> Result<Verdict, StoreError> {
    let _snapshot = store.snapshot()?;
    let mut reports = Vec::new();
    if let Some(orphan) = store.unregistered_logs()?.into_iter().next() {
        return Ok(Err(Problem {
            log_id: orphan,
            kind: ProblemKind::Registration,
            seq: None,
            record_id: None,
            column: None,
            detail: "records or checkpoints exist for a log that is not registered".into(),
        }));
    }
    let mut removals = Removals::default();
    for log in store.logs()? {
        match check_log(store, &log, trusted, &mut removals, archive)? {
            Ok(r) => reports.push(r),
            Err(p) => return Ok(Err(p)),
        }
    }
    if let Some(p) = removals.check() {
        return Ok(Err(p));
    }
    Ok(Ok(reports))
}

/// Verifies one log of a store: its leaves, stored hashes, checkpoints, query columns and
/// content. Call it inside a [`Store::snapshot`] when checkpoints and records must agree.
/// Content removed from this log is checked against the removal record each tombstone
/// names, wherever it is in the store.
pub fn verify_log(
    store: &Store,
    log: &LogInfo,
    trusted: Option<&[String]>,
) -> Result<Result<LogReport, Problem>, StoreError> {
    let mut removals = Removals::default();
    let report = check_log(store, log, trusted, &mut removals, None)?;
    // A tombstone may name a removal record of another log (an erasure's own log, another
    // process's expiry): read it from the store (its own log is verified with that log).
    let named: Vec<String> = removals
        .tombstones
        .iter()
        .filter(|t| !removals.records.contains_key(&t.by))
        .map(|t| t.by.clone())
        .collect();
    for by in named {
        if let Some((_, _, leaf)) = store.find_record(&by)?
            && let Some((why, digests)) = crate::content::removal_of(&leaf)
        {
            removals.records.insert(by, (why, digests));
        }
    }
    if report.is_ok()
        && let Some(p) = removals.check()
    {
        return Ok(Err(p));
    }
    Ok(report)
}

fn check_log(
    store: &Store,
    log: &LogInfo,
    trusted: Option<&[String]>,
    removals: &mut Removals,
    archive: Option<&std::path::Path>,
) -> Result<Result<LogReport, Problem>, StoreError> {
    let keys: Vec<&str> = match trusted {
        Some(t) => t.iter().map(String::as_str).collect(),
        None => vec![log.vkey.as_str()],
    };
    let checkpoints = store
        .checkpoints(&log.log_id)?
        .into_iter()
        .map(|(s, _, n)| (s, n))
        .collect();
    let archived = store.archived(&log.log_id)?;
    // The archived records, when their segments are given: checked first, as one log.
    let mut earlier = ExportedLog {
        info: log.clone(),
        checkpoints: Vec::new(),
        records: Vec::new(),
        contents: std::collections::HashMap::new(),
        resume: None,
    };
    let problem = |kind, seq, detail: String| Problem {
        log_id: log.log_id.clone(),
        kind,
        seq,
        record_id: None,
        column: None,
        detail,
    };
    let check = match (&archived, archive) {
        (None, _) => LogCheck::new(log, checkpoints, keys),
        (Some(a), None) => {
            removals.unmatched_allowed = true;
            let Some(edge) = Frontier::from_edge(a.end, &a.edge) else {
                return Ok(Err(problem(
                    ProblemKind::Edited,
                    Some(a.end),
                    "the tree edge kept for its archived records is incomplete".into(),
                )));
            };
            LogCheck::resume(log, checkpoints, keys, edge)
        }
        (Some(_), Some(dir)) => {
            for seg in store.segments(&log.log_id)? {
                match crate::archive::read_segment(dir, &seg) {
                    Ok(part)
                        if part.records.first().map(|r| r.0) == Some(seg.first as i64)
                            || seg.first == seg.end =>
                    {
                        earlier.records.extend(part.records);
                        earlier.contents.extend(part.contents);
                    }
                    Ok(_) => {
                        return Ok(Err(problem(
                            ProblemKind::Deleted,
                            Some(seg.first),
                            format!(
                                "archive segment {} does not start at record {}",
                                seg.file, seg.first
                            ),
                        )));
                    }
                    Err((kind, detail)) => return Ok(Err(problem(kind, Some(seg.first), detail))),
                }
            }
            LogCheck::new(log, checkpoints, keys)
        }
    };
    let failed: std::cell::RefCell<Option<StoreError>> = std::cell::RefCell::new(None);
    let from_segments = earlier.contents;
    let lookup = |digest: &str| {
        if let Some(row) = from_segments.get(digest) {
            return Ok(Some(row.clone().unwrap_or_else(|| ContentRow {
                gone: Some("unreadable in the archive".into()),
                ..ContentRow::default()
            })));
        }
        match store.content(digest) {
            Ok(row) => Ok(row),
            Err(e) => {
                failed.borrow_mut().get_or_insert(e);
                Err(())
            }
        }
    };
    let mut check = check.with_contents(Box::new(lookup));
    for (seq, leaf, hashes) in &earlier.records {
        check.push(*seq, leaf, hashes.as_deref(), None);
    }
    store.scan_checked(&log.log_id, |seq, leaf, hashes, columns| {
        check.push(seq, leaf, Some(hashes), Some(columns));
        true
    })?;
    removals.extend(check.take_removals());
    let report = check.finish();
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    Ok(report)
}
