//! The JSONL export: each log's registration, its signed checkpoints, then its records with
//! the leaf bytes embedded verbatim and the tree hashes stored with each (hex), so the export
//! verifies on its own (`verify --file`) and names the record that was edited.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::store::{LogInfo, Store, StoreError};
use crate::verify::{LogCheck, LogReport, Problem, ProblemKind};

/// Format name on the export's first line.
pub const EXPORT_FORMAT: &str = "warden-audit-export";

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
    },
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
pub fn export(store: &Store, out: &mut impl Write) -> Result<u64, ExportError> {
    let _snapshot = store.snapshot()?;
    let header = Line::Export {
        format: EXPORT_FORMAT.into(),
        v: 1,
    };
    serde_json::to_writer(&mut *out, &header).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    let mut count = 0;
    for log in store.logs()? {
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
            },
        )?;
        let cosigned = crate::witness::cosigned::of_log(store, &log.log_id)?;
        for (size, ts_us, note) in store.checkpoints(&log.log_id)? {
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
        let mut failure: Option<ExportError> = None;
        store.scan(&log.log_id, |seq, leaf, hashes| {
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
            let line = Line::Record {
                log_id: log.log_id.clone(),
                seq,
                leaf,
                hashes: crate::keyed::hex(hashes),
            };
            if let Err(e) = write_line(out, &line) {
                failure = Some(e);
                return false;
            }
            count += 1;
            true
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
    }
    out.flush()?;
    Ok(count)
}

fn write_line(out: &mut impl Write, line: &Line<'_>) -> Result<(), ExportError> {
    serde_json::to_writer(&mut *out, line).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Outcome of verifying a set of logs.
pub type Verdict = Result<Vec<LogReport>, Problem>;

/// Verifies an export read from `input` against trusted verifier keys (`None`: the keys
/// named in the export itself, which proves integrity but not authorship).
pub fn verify_export(
    input: impl BufRead,
    trusted: Option<&[String]>,
) -> Result<Verdict, ExportError> {
    let mut reports = Vec::new();
    struct Current {
        info: LogInfo,
        checkpoints: Vec<(u64, String)>,
        records: Vec<(i64, Vec<u8>, Option<Vec<u8>>)>,
    }
    let mut logs: Vec<Current> = Vec::new();
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
            "log" => logs.push(Current {
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
                    current
                        .records
                        .push((seq, leaf.get().as_bytes().to_vec(), hashes));
                }
            }
            other => return Err(bad(format!("unknown line type {other:?}"))),
        }
    }
    for log in logs {
        let keys: Vec<&str> = match trusted {
            Some(t) => t.iter().map(String::as_str).collect(),
            None => vec![log.info.vkey.as_str()],
        };
        let mut check = LogCheck::new(&log.info, log.checkpoints, keys);
        for (seq, leaf, hashes) in &log.records {
            check.push(*seq, leaf, hashes.as_deref(), None);
        }
        match check.finish() {
            Ok(r) => reports.push(r),
            Err(p) => return Ok(Err(p)),
        }
    }
    Ok(Ok(reports))
}

/// Verifies every log in a store against trusted verifier keys (`None`: each log's registered key).
pub fn verify_store(store: &Store, trusted: Option<&[String]>) -> Result<Verdict, StoreError> {
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
    for log in store.logs()? {
        match verify_log(store, &log, trusted)? {
            Ok(r) => reports.push(r),
            Err(p) => return Ok(Err(p)),
        }
    }
    Ok(Ok(reports))
}

/// Verifies one log of a store: its leaves, stored hashes, checkpoints and query columns.
/// Call it inside a [`Store::snapshot`] when checkpoints and records must agree.
pub fn verify_log(
    store: &Store,
    log: &LogInfo,
    trusted: Option<&[String]>,
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
    let mut check = LogCheck::new(log, checkpoints, keys);
    store.scan_checked(&log.log_id, |seq, leaf, hashes, columns| {
        check.push(seq, leaf, Some(hashes), Some(columns));
        true
    })?;
    Ok(check.finish())
}
