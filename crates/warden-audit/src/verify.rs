//! Verification of a log: every leaf re-hashed, the tree rebuilt, every checkpoint's signature
//! and root checked, every query column compared with its leaf, and the first problem named
//! (edited, deleted, reordered, inserted, truncated, forged or missing checkpoint, column
//! edited). Reads stored bytes only; re-serializes nothing.

use std::collections::HashSet;
use std::fmt;

use rusqlite::types::ValueRef;
use tlog_tiles::record_hash;

use crate::checkpoint::{self, CheckpointError};
use crate::columns::Leaf;
use crate::content::{ContentRow, Gone, RemovalDetail, Removals, Status, Tombstone};
use crate::store::{LogInfo, blob_to_hashes};
use crate::tree::Frontier;

/// What kind of damage a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    Edited,
    Deleted,
    Reordered,
    Inserted,
    Truncated,
    ForgedCheckpoint,
    MissingCheckpoint,
    Registration,
    /// A query column no longer says what its leaf says (the leaf itself verifies).
    Column,
    /// Stored content no longer matches the commitment in its leaf.
    ContentEdited,
    /// Content is gone without a record of its expiry or erasure.
    ContentDeleted,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Edited => "edited",
            ProblemKind::Deleted => "deleted",
            ProblemKind::Reordered => "reordered",
            ProblemKind::Inserted => "inserted",
            ProblemKind::Truncated => "truncated",
            ProblemKind::ForgedCheckpoint => "forged checkpoint",
            ProblemKind::MissingCheckpoint => "missing checkpoint",
            ProblemKind::Registration => "log registration altered",
            ProblemKind::Column => "query column edited",
            ProblemKind::ContentEdited => "content edited",
            ProblemKind::ContentDeleted => "content deleted",
        }
    }
}

/// The first thing found wrong in a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub log_id: String,
    pub kind: ProblemKind,
    /// The position (seq) of the first bad record, when there is one.
    pub seq: Option<u64>,
    /// The id of that record, when its leaf could be read.
    pub record_id: Option<String>,
    /// For a `Column` problem, the column that disagrees with the leaf.
    pub column: Option<&'static str>,
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "log {}: {}", self.log_id, self.kind.as_str())?;
        if let Some(seq) = self.seq {
            write!(f, " at record {seq}")?;
        }
        if let Some(id) = &self.record_id {
            write!(f, " (id {id})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// What a verified log holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LogReport {
    pub log_id: String,
    pub origin: String,
    pub records: u64,
    pub checkpoints: u64,
    pub last_checkpoint: u64,
    /// Records after the last checkpoint: not yet covered by a signature (a log still being
    /// written, or one whose writer was killed).
    pub unsigned_tail: u64,
    pub closed: bool,
    /// The leaf format of the log (1: payload in the leaf, 2: content store).
    pub leaf_version: u32,
    /// What became of the content its leaves commit to.
    pub content: ContentCount,
}

/// Content of a log's records, by state (leaf v2).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ContentCount {
    /// Present and matching its commitment.
    pub present: u64,
    pub expired: u64,
    pub erased: u64,
    /// Not checked: the source holds no content (an export made without it).
    pub unchecked: u64,
}

/// Where a check finds the content a leaf commits to: `Ok(None)` when there is no row,
/// `Err` when the source cannot tell (the content is then counted as unchecked).
pub type ContentLookup<'k> = Box<dyn FnMut(&str) -> Result<Option<ContentRow>, ()> + 'k>;

/// Checks one log fed record by record in stored order.
pub struct LogCheck<'k> {
    log_id: String,
    origin: String,
    vkey: String,
    hash_key_id: String,
    vkeys: Vec<&'k str>,
    checkpoint_every: u64,
    checkpoints: Vec<(u64, String)>,
    next_checkpoint: usize,
    frontier: Frontier,
    closed: bool,
    problem: Option<Problem>,
    /// Leaf seqs seen after the first problem, to tell a reorder from a deletion.
    later_seqs: HashSet<u64>,
    pending_order: Option<(u64, u64)>,
    /// The leaf version of record 0, which every record of the log must have.
    version: Option<u32>,
    contents: Option<ContentLookup<'k>>,
    count: ContentCount,
    removals: Removals,
}

impl<'k> LogCheck<'k> {
    /// `log` is the log's registration, `checkpoints` are `(size, note)` in any order, and
    /// `vkeys` are the trusted verifier keys.
    pub fn new(
        log: &LogInfo,
        mut checkpoints: Vec<(u64, String)>,
        vkeys: Vec<&'k str>,
    ) -> LogCheck<'k> {
        checkpoints.sort_by_key(|c| c.0);
        LogCheck {
            log_id: log.log_id.clone(),
            origin: log.origin.clone(),
            vkey: log.vkey.clone(),
            hash_key_id: log.hash_key_id.clone(),
            vkeys,
            checkpoint_every: log.checkpoint_every,
            checkpoints,
            next_checkpoint: 0,
            frontier: Frontier::new(),
            closed: false,
            problem: None,
            later_seqs: HashSet::new(),
            pending_order: None,
            version: None,
            contents: None,
            count: ContentCount::default(),
            removals: Removals::default(),
        }
    }

    /// Checks each v2 leaf's content through `lookup` as the leaf is fed.
    pub fn with_contents(mut self, lookup: ContentLookup<'k>) -> LogCheck<'k> {
        self.contents = Some(lookup);
        self
    }

    /// The removals seen so far (tombstones, and the records that removed content), to be
    /// checked against each other across logs with [`Removals::check`].
    pub fn take_removals(&mut self) -> Removals {
        std::mem::take(&mut self.removals)
    }

    fn fail(
        &mut self,
        kind: ProblemKind,
        seq: Option<u64>,
        record_id: Option<String>,
        detail: String,
    ) {
        if self.problem.is_none() {
            self.problem = Some(Problem {
                log_id: self.log_id.clone(),
                kind,
                seq,
                record_id,
                column: None,
                detail,
            });
        }
    }

    /// Feeds the record stored at position `pos` with its leaf bytes and, from a database,
    /// the tree hashes stored beside it and its query columns ([`crate::columns::COPIED`],
    /// in order).
    pub fn push(
        &mut self,
        pos: i64,
        leaf: &[u8],
        stored: Option<&[u8]>,
        columns: Option<&[ValueRef<'_>]>,
    ) {
        let head: Option<Leaf<'_>> = serde_json::from_slice(leaf).ok();
        if self.problem.is_some() {
            if let Some(s) = head.as_ref().and_then(|h| h.seq) {
                self.later_seqs.insert(s);
            }
            return;
        }
        let n = self.frontier.size();
        let id = head
            .as_ref()
            .and_then(|h| h.id.as_deref().map(str::to_owned));
        if pos != n as i64 {
            let (kind, detail) = if pos > n as i64 {
                (
                    ProblemKind::Deleted,
                    format!("records {n}..{} are missing", pos - 1),
                )
            } else {
                (
                    ProblemKind::Inserted,
                    format!("a second record is stored at position {pos}"),
                )
            };
            return self.fail(kind, Some(n), id, detail);
        }
        let Some(head) = head else {
            return self.fail(
                ProblemKind::Edited,
                Some(n),
                None,
                "the record is no longer valid JSON".into(),
            );
        };
        let version_ok = match (self.version, head.v) {
            (None, Some(v @ (1 | 2))) => {
                self.version = Some(v);
                true
            }
            (Some(want), Some(v)) => want == v,
            _ => false,
        };
        if !version_ok || head.log.as_deref() != Some(self.log_id.as_str()) {
            return self.fail(
                ProblemKind::Inserted,
                Some(n),
                id,
                "the record does not belong to this log".into(),
            );
        }
        if self.closed {
            return self.fail(
                ProblemKind::Inserted,
                Some(n),
                id,
                "a record follows the log_closed record".into(),
            );
        }
        match head.seq {
            Some(s) if s == n => {}
            Some(s) => {
                self.pending_order = Some((n, s));
                let detail = format!("position {n} holds the record written as {s}");
                return self.fail(ProblemKind::Reordered, Some(n), id, detail);
            }
            None => {
                return self.fail(
                    ProblemKind::Edited,
                    Some(n),
                    id,
                    "the record lost its seq".into(),
                );
            }
        }
        if n == 0 && !self.opening_matches(&head) {
            return self.fail(
                ProblemKind::Registration,
                Some(0),
                id,
                "the log_opened record does not match the log's registration (origin or key)"
                    .into(),
            );
        }
        let leaf_hash = record_hash(leaf);
        let computed = self.frontier.append(leaf_hash);
        if let Some(blob) = stored {
            match blob_to_hashes(blob) {
                Some(stored) if stored == computed => {}
                Some(stored) if stored.first() != Some(&leaf_hash) => {
                    return self.fail(
                        ProblemKind::Edited,
                        Some(n),
                        id,
                        "its bytes no longer match the leaf hash stored when it was written".into(),
                    );
                }
                Some(stored) => {
                    // Level i is the root of the 2^i records ending at n: the first level that
                    // disagrees bounds the records that can hold an edit made together with
                    // their stored hashes (n itself included: its own could have been rewritten).
                    let level = stored
                        .iter()
                        .zip(&computed)
                        .position(|(a, b)| a != b)
                        .unwrap_or(stored.len().min(computed.len()))
                        .min(63) as u32;
                    let first = (n + 1).saturating_sub(1u64 << level);
                    let detail = if stored.len() != computed.len() || level == 0 {
                        "the tree hashes stored with it do not match the records before it".into()
                    } else {
                        format!(
                            "the tree hashes stored with it do not match the records before it: one of records \
                             {first}..{n} was edited together with the hashes stored with it"
                        )
                    };
                    return self.fail(ProblemKind::Edited, Some(n), id, detail);
                }
                None => {
                    return self.fail(
                        ProblemKind::Edited,
                        Some(n),
                        id,
                        "the tree hashes stored with it are not a whole number of hashes".into(),
                    );
                }
            }
        }
        if let Some(m) = columns.and_then(|c| head.first_mismatch(c)) {
            let detail = format!(
                "column {} holds {} but the record says {} (reports, statistics and searches read the column)",
                m.column, m.stored, m.leaf
            );
            self.fail(ProblemKind::Column, Some(n), id, detail);
            if let Some(p) = self.problem.as_mut() {
                p.column = Some(m.column);
            }
            return;
        }
        if head.kind.as_deref() == Some("event") && head.event.as_deref() == Some("log_closed") {
            self.closed = true;
        }
        if self.version == Some(2) {
            self.check_content(n, id, &head);
            if self.problem.is_some() {
                return;
            }
        }
        self.check_checkpoints_at(self.frontier.size());
    }

    /// Checks the content a v2 leaf commits to, and notes removals and removal records.
    fn check_content(&mut self, n: u64, id: Option<String>, head: &Leaf<'_>) {
        if let (Some("event"), Some(event)) = (head.kind.as_deref(), head.event.as_deref())
            && let Some(why) = [Gone::Expired, Gone::Erased]
                .into_iter()
                .find(|g| g.event() == event)
        {
            let digests = head
                .detail
                .and_then(|d| serde_json::from_str::<RemovalDetail>(d.get()).ok())
                .map(|d| d.digests)
                .unwrap_or_default();
            self.removals.records.insert(
                id.clone().unwrap_or_default(),
                (why, digests.into_iter().collect()),
            );
        }
        let Some(digest) = head.content.as_deref() else {
            return;
        };
        let Some(lookup) = self.contents.as_mut() else {
            self.count.unchecked += 1;
            return;
        };
        match lookup(digest) {
            Err(()) => self.count.unchecked += 1,
            Ok(None) => self.fail(
                ProblemKind::ContentDeleted,
                Some(n),
                id,
                "its content is gone, with no record of its expiry or erasure".into(),
            ),
            Ok(Some(row)) => match row.status(digest) {
                Status::Present => self.count.present += 1,
                Status::Removed { why, by } => {
                    match why {
                        Gone::Expired => self.count.expired += 1,
                        Gone::Erased => self.count.erased += 1,
                    }
                    self.removals.tombstones.push(Tombstone {
                        log_id: self.log_id.clone(),
                        seq: n,
                        record_id: id,
                        digest: digest.to_owned(),
                        why,
                        by,
                    });
                }
                Status::Edited(detail) => {
                    self.fail(ProblemKind::ContentEdited, Some(n), id, detail)
                }
            },
        }
    }

    /// The `log_opened` record (covered by the tree and the signatures) must state what the
    /// log's registration row says, so editing that row cannot weaken the checks.
    fn opening_matches(&self, head: &Leaf<'_>) -> bool {
        let Some(d) = head
            .detail
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d.get()).ok())
        else {
            return false;
        };
        let text = |k: &str| d.get(k).and_then(|v| v.as_str());
        head.event.as_deref() == Some("log_opened")
            && text("origin") == Some(&self.origin)
            && text("vkey") == Some(&self.vkey)
            && text("hash_key_id") == Some(&self.hash_key_id)
            && d.get("checkpoint_every").and_then(|v| v.as_u64()) == Some(self.checkpoint_every)
    }

    fn check_checkpoints_at(&mut self, size: u64) {
        while let Some((csize, note)) = self.checkpoints.get(self.next_checkpoint).cloned() {
            if csize > size {
                break;
            }
            self.next_checkpoint += 1;
            let prev = if self.next_checkpoint >= 2 {
                self.checkpoints[self.next_checkpoint - 2].0
            } else {
                0
            };
            if self.checkpoint_every > 0 && csize - prev > self.checkpoint_every {
                let detail = format!(
                    "no checkpoint between sizes {prev} and {csize}, though one is signed every {} records",
                    self.checkpoint_every
                );
                return self.fail(ProblemKind::MissingCheckpoint, Some(prev), None, detail);
            }
            let opened = match checkpoint::open(&note, &self.vkeys) {
                Ok(v) => v,
                Err(e) => {
                    let detail = match e {
                        CheckpointError::Unsigned => "it is not signed by a trusted key".to_owned(),
                        other => other.to_string(),
                    };
                    return self.fail(
                        ProblemKind::ForgedCheckpoint,
                        Some(csize),
                        None,
                        format!("checkpoint at size {csize}: {detail}"),
                    );
                }
            };
            if opened.origin != self.origin || opened.size != csize {
                let detail = format!(
                    "checkpoint at size {csize} names {} at size {}",
                    opened.origin, opened.size
                );
                return self.fail(ProblemKind::ForgedCheckpoint, Some(csize), None, detail);
            }
            if opened.root != self.frontier.root() {
                // No stored hash names the record (an export without them, or hashes edited
                // too): only the range this checkpoint adds is known, so no record is named.
                let detail = format!(
                    "the signed root at size {csize} does not match the records before it: one of records \
                     {prev}..{} was edited, inserted, deleted or reordered together with its stored hashes",
                    csize.saturating_sub(1)
                );
                return self.fail(ProblemKind::Edited, None, None, detail);
            }
        }
    }

    /// A problem of this log with no particular record.
    fn problem(&self, kind: ProblemKind, seq: Option<u64>, detail: String) -> Problem {
        Problem {
            log_id: self.log_id.clone(),
            kind,
            seq,
            record_id: None,
            column: None,
            detail,
        }
    }

    /// Ends the check: the report, or the first problem found.
    pub fn finish(mut self) -> Result<LogReport, Problem> {
        let size = self.frontier.size();
        if let Some(mut p) = self.problem.take() {
            if let Some((pos, held)) = self.pending_order {
                // The record that belongs at `pos` never shows up later: it was deleted.
                if !self.later_seqs.contains(&pos) && held > pos {
                    p.kind = ProblemKind::Deleted;
                    p.detail =
                        format!("record {pos} is missing (position {pos} holds record {held})");
                } else if held < pos {
                    p.kind = ProblemKind::Inserted;
                    p.detail = format!("position {pos} holds a second copy of record {held}");
                }
            }
            return Err(p);
        }
        if let Some((csize, note)) = self.checkpoints.get(self.next_checkpoint) {
            // Only an authentic checkpoint proves records were removed; a forged one is forged.
            let (kind, detail) = match checkpoint::open(note, &self.vkeys) {
                Ok(v) if v.origin == self.origin && v.size == *csize => (
                    ProblemKind::Truncated,
                    format!(
                        "a signed checkpoint covers {csize} records but only {size} are present"
                    ),
                ),
                _ => (
                    ProblemKind::ForgedCheckpoint,
                    format!("checkpoint at size {csize}: not signed by a trusted key for this log"),
                ),
            };
            return Err(self.problem(kind, Some(size), detail));
        }
        let last = if self.next_checkpoint > 0 {
            self.checkpoints[self.next_checkpoint - 1].0
        } else {
            0
        };
        if self.closed && last != size {
            return Err(self.problem(
                ProblemKind::MissingCheckpoint,
                Some(last),
                format!("the log is closed at {size} records but its final checkpoint is missing"),
            ));
        }
        if self.checkpoint_every > 0 && size - last > self.checkpoint_every {
            return Err(self.problem(ProblemKind::MissingCheckpoint, Some(last), format!(
                    "{} records follow the last checkpoint at size {last}, though one is signed every {} records",
                    size - last,
                    self.checkpoint_every
                )));
        }
        if size == 0 {
            return Err(self.problem(
                ProblemKind::Deleted,
                Some(0),
                "the log is registered but holds no records".into(),
            ));
        }
        Ok(LogReport {
            log_id: self.log_id,
            origin: self.origin,
            records: size,
            checkpoints: self.next_checkpoint as u64,
            last_checkpoint: last,
            unsigned_tail: size - last,
            closed: self.closed,
            leaf_version: self.version.unwrap_or(crate::record::LEAF_VERSION),
            content: self.count,
        })
    }
}
