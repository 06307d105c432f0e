//! The content store: the payloads a v2 leaf commits to, kept beside the log instead of in it.
//!
//! A leaf names its content by a commitment, `content` = hex(SHA-256(nonce || body)), where
//! the 32-byte nonce is stored with the body and never in the leaf. While the row holds both,
//! anyone can check the body against the leaf; once the content expires or is erased, the
//! body and nonce are gone and the commitment no longer lets anyone confirm a guess of what
//! it was. A removed body leaves a tombstone naming the record that removed it (an erasure
//! or expiry event listing the commitment), so verification tells removal from tampering.

use rusqlite::{OptionalExtension, params};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError};

/// How a stored body reads: JSON (strictly), other UTF-8 text, or bytes that are not UTF-8.
pub fn kind_of(body: &[u8], json: bool) -> &'static str {
    if json {
        "json"
    } else if std::str::from_utf8(body).is_ok() {
        "text"
    } else {
        "bytes"
    }
}

/// The commitment to `body` under `nonce`: lowercase hex of SHA-256(nonce || body).
pub fn commit(nonce: &[u8], body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(nonce);
    h.update(body);
    hex(&h.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _infallible = write!(s, "{b:02x}");
            s
        })
}

/// A sealed record's payload, ready for the content store.
#[derive(Clone, Debug)]
pub struct Content {
    /// The commitment the leaf carries (`content`).
    pub digest: String,
    pub nonce: [u8; 32],
    pub body: Vec<u8>,
    /// `json`, `text` or `bytes` (the leaf's `content_type`).
    pub kind: &'static str,
}

impl Content {
    /// Commits to `body` for record `id` at `seq`, with a nonce derived from the writer's
    /// secret seed (equal bodies get unrelated commitments).
    pub fn seal(
        seed: &[u8; 32],
        id: uuid::Uuid,
        seq: u64,
        body: &[u8],
        kind: &'static str,
    ) -> Content {
        let mut h = Sha256::new();
        h.update(b"warden content nonce\0");
        h.update(seed);
        h.update(id.as_bytes());
        h.update(seq.to_be_bytes());
        let nonce: [u8; 32] = h.finalize().into();
        Content {
            digest: commit(&nonce, body),
            nonce,
            body: body.to_vec(),
            kind,
        }
    }
}

/// Why content is no longer stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gone {
    /// Removed by the retention period for content.
    Expired,
    /// Removed on request (`warden audit erase`).
    Erased,
}

impl Gone {
    pub fn as_str(self) -> &'static str {
        match self {
            Gone::Expired => "expired",
            Gone::Erased => "erased",
        }
    }

    pub fn parse(s: &str) -> Option<Gone> {
        match s {
            "expired" => Some(Gone::Expired),
            "erased" => Some(Gone::Erased),
            _ => None,
        }
    }

    /// The event that records this removal.
    pub fn event(self) -> &'static str {
        match self {
            Gone::Expired => "content_expired",
            Gone::Erased => "content_erased",
        }
    }
}

/// A content row as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentRow {
    pub nonce: Option<Vec<u8>>,
    pub body: Option<Vec<u8>>,
    /// `expired` or `erased` once removed (then `nonce` and `body` are NULL).
    pub gone: Option<String>,
    pub gone_us: Option<i64>,
    /// The id of the record that removed it.
    pub gone_ref: Option<String>,
}

/// What the content store says about the content a leaf commits to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Present, and it matches the commitment.
    Present,
    /// Removed, by the record `by`.
    Removed { why: Gone, by: String },
    /// A row whose body or nonce does not match the commitment, or a tombstone that is not
    /// well formed.
    Edited(String),
}

impl ContentRow {
    /// Checks this row against the commitment `digest` from a leaf.
    pub fn status(&self, digest: &str) -> Status {
        match (&self.gone, &self.nonce, &self.body) {
            (None, Some(nonce), Some(body)) => {
                if commit(nonce, body) == digest {
                    Status::Present
                } else {
                    Status::Edited("the stored content does not match its commitment".into())
                }
            }
            (Some(g), None, None) => match (Gone::parse(g), &self.gone_ref) {
                (Some(why), Some(by)) => Status::Removed {
                    why,
                    by: by.clone(),
                },
                _ => Status::Edited(format!("a removed content row is not well formed ({g})")),
            },
            _ => Status::Edited("a content row is neither whole nor a tombstone".into()),
        }
    }
}

/// The `detail` of a `content_expired` or `content_erased` record: the commitments whose
/// content it removed (plus who, why and what was asked, which verification does not need).
#[derive(Deserialize, Default)]
pub struct RemovalDetail {
    #[serde(default)]
    pub digests: Vec<String>,
}

/// Content to remove, committed in the same transaction as the record `by` that says so.
#[derive(Clone, Debug)]
pub struct Removal {
    pub why: Gone,
    /// The id of the `content_expired` / `content_erased` record listing `digests`.
    pub by: String,
    pub at_us: i64,
    pub digests: Vec<String>,
}

/// The most commitments one removal record lists (its leaf stays far below 64 KiB).
pub const DIGESTS_PER_RECORD: usize = 256;

/// The kind and commitments of a removal record (a `content_expired` or `content_erased`
/// event), from its leaf bytes.
pub fn removal_of(leaf: &[u8]) -> Option<(Gone, std::collections::HashSet<String>)> {
    #[derive(Deserialize)]
    struct Head {
        kind: Option<String>,
        event: Option<String>,
        detail: Option<RemovalDetail>,
    }
    let h: Head = serde_json::from_slice(leaf).ok()?;
    if h.kind.as_deref() != Some("event") {
        return None;
    }
    let why = [Gone::Expired, Gone::Erased]
        .into_iter()
        .find(|g| Some(g.event()) == h.event.as_deref())?;
    Some((why, h.detail?.digests.into_iter().collect()))
}

/// A content row that was removed, as verification found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tombstone {
    pub log_id: String,
    pub seq: u64,
    pub record_id: Option<String>,
    pub digest: String,
    pub why: Gone,
    /// The record the tombstone says removed it.
    pub by: String,
}

/// Removals seen while verifying: every tombstone must be backed by the record it names,
/// which must be a removal of the same kind that lists its commitment.
#[derive(Debug, Default)]
pub struct Removals {
    pub tombstones: Vec<Tombstone>,
    /// Removal records by id: what they removed and which commitments.
    pub records: std::collections::HashMap<String, (Gone, std::collections::HashSet<String>)>,
    /// Some records were archived and not read: a tombstone naming a record not seen may
    /// name an archived one, and is then left unchecked (checked with the archive).
    pub unmatched_allowed: bool,
}

impl Removals {
    pub fn extend(&mut self, other: Removals) {
        self.tombstones.extend(other.tombstones);
        self.records.extend(other.records);
        self.unmatched_allowed |= other.unmatched_allowed;
    }

    /// The first tombstone no verified removal record accounts for.
    pub fn check(&self) -> Option<crate::verify::Problem> {
        let t = self
            .tombstones
            .iter()
            .find(|t| match self.records.get(&t.by) {
                Some((why, digests)) => !(*why == t.why && digests.contains(&t.digest)),
                None => !self.unmatched_allowed,
            })?;
        let detail = match self.records.get(&t.by) {
            None => format!(
                "its content is marked {} by record {}, which is not a verified record of removal",
                t.why.as_str(),
                t.by
            ),
            Some(_) => format!(
                "its content is marked {} by record {}, which does not list it",
                t.why.as_str(),
                t.by
            ),
        };
        Some(crate::verify::Problem {
            log_id: t.log_id.clone(),
            kind: crate::verify::ProblemKind::ContentDeleted,
            seq: Some(t.seq),
            record_id: t.record_id.clone(),
            column: None,
            detail,
        })
    }
}

/// The members of a v2 leaf that describe its content.
#[derive(Deserialize, Default)]
pub struct LeafContent {
    pub content: Option<String>,
    pub content_len: Option<u64>,
    pub content_type: Option<String>,
    pub payload_truncated: Option<bool>,
}

/// Removes the content of each removal's commitments that is still stored, leaving
/// tombstones that name the removal record; returns how many rows changed.
pub(crate) fn remove(
    tx: &rusqlite::Transaction<'_>,
    removals: &[Removal],
) -> rusqlite::Result<u64> {
    let mut st = tx.prepare_cached(
        "UPDATE content SET nonce = NULL, body = NULL, gone = ?1, gone_us = ?2, gone_ref = ?3 \
         WHERE digest = ?4 AND gone IS NULL",
    )?;
    let mut n = 0;
    for r in removals {
        for d in &r.digests {
            n += st.execute(params![r.why.as_str(), r.at_us, r.by, d])? as u64;
        }
    }
    Ok(n)
}

impl Store {
    /// The content row of commitment `digest`, if any.
    pub fn content(&self, digest: &str) -> Result<Option<ContentRow>, StoreError> {
        let mut st = self
            .conn()
            .prepare_cached(
                "SELECT nonce, body, gone, gone_us, gone_ref FROM content WHERE digest = ?1",
            )
            .map_err(|e| self.sql_error(e))?;
        st.query_row(params![digest], |r| {
            Ok(ContentRow {
                nonce: r.get(0)?,
                body: r.get(1)?,
                gone: r.get(2)?,
                gone_us: r.get(3)?,
                gone_ref: r.get(4)?,
            })
        })
        .optional()
        .map_err(|e| self.sql_error(e))
    }
}

/// A record's content as a file beside its proof (`warden audit prove --content-out`): the
/// nonce (hex) and the body (standard base64), which an auditor checks against the leaf's
/// commitment with the leaf alone.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct ContentFile {
    pub nonce: String,
    pub body: String,
}

impl ContentFile {
    pub fn new(nonce: &[u8], body: &[u8]) -> ContentFile {
        use base64::Engine;
        ContentFile {
            nonce: hex(nonce),
            body: base64::prelude::BASE64_STANDARD.encode(body),
        }
    }

    /// Checks this content against the commitment in `leaf` (a v2 leaf's `content`); on
    /// success returns the body and the leaf's `content_type`.
    pub fn check(&self, leaf: &[u8]) -> Result<(Vec<u8>, String), String> {
        use base64::Engine;
        let c: LeafContent =
            serde_json::from_slice(leaf).map_err(|e| format!("the leaf is not a record: {e}"))?;
        let digest = c.content.ok_or(
            "the leaf commits to no content (payload level minimal, an event, or leaf v1)",
        )?;
        let nonce = crate::keyed::unhex(&self.nonce).ok_or("the nonce is not hex")?;
        let body = base64::prelude::BASE64_STANDARD
            .decode(&self.body)
            .map_err(|e| format!("the body is not base64: {e}"))?;
        if commit(&nonce, &body) != digest {
            return Err("the content does not match the record's commitment".into());
        }
        Ok((body, c.content_type.unwrap_or_default()))
    }
}

/// A record's stored payload as readers show it, from a v1 leaf or the content store.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Payload {
    /// Present: `text` is the stored bytes (JSON text when `json`; bytes that are not UTF-8
    /// are shown with U+FFFD). `truncated`: cut at the log's `max_payload`.
    Present {
        json: bool,
        text: String,
        truncated: bool,
    },
    /// Removed by retention.
    Expired,
    /// Removed on request.
    Erased,
    /// The store holds no readable content for the commitment (`audit verify` says why).
    Unavailable,
}

impl Payload {
    /// The payload as JSON when it is JSON, else as a JSON string; `None` when not present.
    pub fn value(&self) -> Option<serde_json::Value> {
        match self {
            Payload::Present {
                json: true, text, ..
            } => serde_json::from_str(text).ok(),
            Payload::Present { text, .. } => Some(serde_json::Value::String(text.clone())),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct V1Payload<'a> {
    #[serde(borrow)]
    payload: Option<&'a serde_json::value::RawValue>,
    payload_truncated: Option<bool>,
}

impl Store {
    /// The payload of the record whose leaf is `leaf`: inside a v1 leaf, or in the content
    /// store for v2. `None` when nothing was stored (payload level `minimal`, events).
    pub fn payload(&self, leaf: &[u8]) -> Result<Option<Payload>, StoreError> {
        let Ok(c) = serde_json::from_slice::<LeafContent>(leaf) else {
            return Ok(None);
        };
        let Some(digest) = c.content else {
            let Ok(v1) = serde_json::from_slice::<V1Payload<'_>>(leaf) else {
                return Ok(None);
            };
            return Ok(v1.payload.map(|p| {
                let truncated = v1.payload_truncated == Some(true);
                match serde_json::from_str::<String>(p.get()) {
                    Ok(text) if truncated => Payload::Present {
                        json: false,
                        text,
                        truncated,
                    },
                    _ => Payload::Present {
                        json: true,
                        text: p.get().to_owned(),
                        truncated,
                    },
                }
            }));
        };
        let truncated = c.payload_truncated == Some(true);
        Ok(Some(
            match self.content(&digest)?.map(|r| (r.status(&digest), r)) {
                Some((Status::Present, row)) => Payload::Present {
                    json: c.content_type.as_deref() == Some("json"),
                    text: String::from_utf8_lossy(row.body.as_deref().unwrap_or_default())
                        .into_owned(),
                    truncated,
                },
                Some((
                    Status::Removed {
                        why: Gone::Expired, ..
                    },
                    _,
                )) => Payload::Expired,
                Some((
                    Status::Removed {
                        why: Gone::Erased, ..
                    },
                    _,
                )) => Payload::Erased,
                _ => Payload::Unavailable,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitment_checks_body_and_nonce_and_tombstones() {
        let c = Content::seal(&[7; 32], uuid::Uuid::nil(), 3, b"{\"a\":1}", "json");
        let other = Content::seal(&[7; 32], uuid::Uuid::nil(), 4, b"{\"a\":1}", "json");
        assert_ne!(
            c.digest, other.digest,
            "equal bodies, unrelated commitments"
        );
        let row = ContentRow {
            nonce: Some(c.nonce.to_vec()),
            body: Some(c.body.clone()),
            ..ContentRow::default()
        };
        assert_eq!(row.status(&c.digest), Status::Present);
        let edited = ContentRow {
            body: Some(b"{\"a\":2}".to_vec()),
            ..row.clone()
        };
        assert!(matches!(edited.status(&c.digest), Status::Edited(_)));
        let gone = ContentRow {
            gone: Some("erased".into()),
            gone_ref: Some("r".into()),
            ..ContentRow::default()
        };
        assert_eq!(
            gone.status(&c.digest),
            Status::Removed {
                why: Gone::Erased,
                by: "r".into()
            }
        );
        let half = ContentRow { body: None, ..row };
        assert!(matches!(half.status(&c.digest), Status::Edited(_)));
        let odd = ContentRow {
            gone: Some("vanished".into()),
            gone_ref: Some("r".into()),
            ..ContentRow::default()
        };
        assert!(matches!(odd.status(&c.digest), Status::Edited(_)));
    }
}
