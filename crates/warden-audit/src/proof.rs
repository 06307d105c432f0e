//! Proofs an auditor checks offline: that one record is in the log (inclusion, against a
//! signed checkpoint), and that the log only grew since a checkpoint the auditor kept
//! (consistency). RFC 6962 / 9162 proofs over the same tree as every checkpoint.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tlog_tiles::{Hash, check_record, check_tree, prove_record, prove_tree, record_hash};

use crate::checkpoint::{self, CheckpointError};
use crate::store::{Store, StoreError};

/// A proof file (JSON).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", try_from = "ProofFile")]
pub enum Proof {
    /// Record `index` (whose leaf bytes are `leaf`) is in the tree of `checkpoint`.
    Inclusion {
        origin: String,
        index: u64,
        record_id: String,
        leaf: Box<RawValue>,
        checkpoint: String,
        /// The key that signed the checkpoint, for convenience; `--pubkey` is what to trust.
        vkey: String,
        proof: Vec<String>,
    },
    /// The tree of `new_checkpoint` extends the tree of `old_checkpoint`.
    Consistency {
        origin: String,
        old_checkpoint: String,
        new_checkpoint: String,
        vkey: String,
        proof: Vec<String>,
    },
}

/// The flat shape a proof file is read through (`RawValue` cannot sit in a tagged enum).
#[derive(Deserialize)]
struct ProofFile {
    #[serde(rename = "type")]
    kind: String,
    origin: String,
    index: Option<u64>,
    record_id: Option<String>,
    leaf: Option<Box<RawValue>>,
    checkpoint: Option<String>,
    old_checkpoint: Option<String>,
    new_checkpoint: Option<String>,
    vkey: String,
    proof: Vec<String>,
}

impl TryFrom<ProofFile> for Proof {
    type Error = String;

    fn try_from(f: ProofFile) -> Result<Proof, String> {
        let missing = |what: &str| format!("{} proof without {what}", f.kind);
        match f.kind.as_str() {
            "inclusion" => Ok(Proof::Inclusion {
                index: f.index.ok_or_else(|| missing("index"))?,
                record_id: f.record_id.clone().unwrap_or_default(),
                leaf: f.leaf.ok_or_else(|| missing("leaf"))?,
                checkpoint: f.checkpoint.ok_or_else(|| missing("checkpoint"))?,
                origin: f.origin,
                vkey: f.vkey,
                proof: f.proof,
            }),
            "consistency" => Ok(Proof::Consistency {
                old_checkpoint: f
                    .old_checkpoint
                    .clone()
                    .ok_or_else(|| missing("old_checkpoint"))?,
                new_checkpoint: f
                    .new_checkpoint
                    .clone()
                    .ok_or_else(|| missing("new_checkpoint"))?,
                origin: f.origin,
                vkey: f.vkey,
                proof: f.proof,
            }),
            other => Err(format!("unknown proof type {other:?}")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no record with id {0}")]
    NoRecord(String),
    #[error("record {0} is not yet covered by a signed checkpoint; try again after the next one")]
    NotCheckpointed(String),
    #[error("no log in this store has origin {0}")]
    UnknownLog(String),
    #[error("the log has no checkpoint newer than size {0}")]
    NothingNewer(u64),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("the stored tree cannot produce this proof: {0}")]
    Tree(String),
    #[error("proof does not verify: {0}")]
    Invalid(String),
}

fn encode(p: &[Hash]) -> Vec<String> {
    p.iter().map(|h| BASE64_STANDARD.encode(h.0)).collect()
}

fn decode(p: &[String]) -> Result<Vec<Hash>, ProofError> {
    p.iter()
        .map(|s| {
            BASE64_STANDARD
                .decode(s)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .map(Hash)
                .ok_or_else(|| ProofError::Invalid(format!("{s:?} is not a base64 SHA-256 hash")))
        })
        .collect()
}

/// An inclusion proof of the record with id `record_id` against its log's latest checkpoint.
pub fn prove_inclusion(store: &Store, record_id: &str) -> Result<Proof, ProofError> {
    let _snapshot = store.snapshot()?;
    let (log_id, index, leaf) = store
        .find_record(record_id)?
        .ok_or_else(|| ProofError::NoRecord(record_id.into()))?;
    let log = store
        .logs()?
        .into_iter()
        .find(|l| l.log_id == log_id)
        .ok_or_else(|| ProofError::UnknownLog(log_id.clone()))?;
    let (size, _, note) = store
        .checkpoints(&log_id)?
        .into_iter()
        .next_back()
        .filter(|c| c.0 > index)
        .ok_or_else(|| ProofError::NotCheckpointed(record_id.into()))?;
    let proof = prove_record(size, index, &store.hash_reader(&log_id))
        .map_err(|e| ProofError::Tree(e.to_string()))?;
    let leaf = String::from_utf8(leaf)
        .ok()
        .and_then(|s| RawValue::from_string(s).ok())
        .ok_or_else(|| ProofError::Tree("the stored record is not valid JSON".into()))?;
    Ok(Proof::Inclusion {
        origin: log.origin,
        index,
        record_id: record_id.into(),
        leaf,
        checkpoint: note,
        vkey: log.vkey,
        proof: encode(&proof),
    })
}

/// A consistency proof from a checkpoint an auditor kept to the log's latest checkpoint.
pub fn prove_consistency(store: &Store, old_note: &str) -> Result<Proof, ProofError> {
    let _snapshot = store.snapshot()?;
    let old = checkpoint::peek(old_note)?;
    let log = store
        .logs()?
        .into_iter()
        .find(|l| l.origin == old.origin)
        .ok_or_else(|| ProofError::UnknownLog(old.origin.clone()))?;
    let (size, _, note) = store
        .checkpoints(&log.log_id)?
        .into_iter()
        .next_back()
        .filter(|c| c.0 >= old.size)
        .ok_or(ProofError::NothingNewer(old.size))?;
    let proof = prove_tree(size, old.size, &store.hash_reader(&log.log_id))
        .map_err(|e| ProofError::Tree(e.to_string()))?;
    Ok(Proof::Consistency {
        origin: log.origin,
        old_checkpoint: old_note.to_owned(),
        new_checkpoint: note,
        vkey: log.vkey,
        proof: encode(&proof),
    })
}

/// What a proof established.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    Inclusion {
        origin: String,
        index: u64,
        size: u64,
    },
    Consistency {
        origin: String,
        old_size: u64,
        new_size: u64,
    },
}

/// Checks a proof offline against trusted verifier keys (`None`: the key inside the proof).
pub fn check(proof: &Proof, trusted: Option<&[String]>) -> Result<Checked, ProofError> {
    let keys = |embedded: &str| -> Vec<String> {
        trusted
            .map(<[String]>::to_vec)
            .unwrap_or_else(|| vec![embedded.to_owned()])
    };
    match proof {
        Proof::Inclusion {
            origin,
            index,
            record_id,
            leaf,
            checkpoint: note,
            vkey,
            proof,
        } => {
            let k = keys(vkey);
            let cp = checkpoint::open(note, &k.iter().map(String::as_str).collect::<Vec<_>>())?;
            if &cp.origin != origin {
                return Err(ProofError::Invalid(format!(
                    "checkpoint is for {}, not {origin}",
                    cp.origin
                )));
            }
            let head: serde_json::Value =
                serde_json::from_str(leaf.get()).map_err(|e| ProofError::Invalid(e.to_string()))?;
            if head.get("seq").and_then(|s| s.as_u64()) != Some(*index) {
                return Err(ProofError::Invalid(
                    "the record's seq is not the proven index".into(),
                ));
            }
            if head.get("id").and_then(|s| s.as_str()) != Some(record_id.as_str()) {
                return Err(ProofError::Invalid(
                    "the record's id is not the proven record id".into(),
                ));
            }
            check_record(
                &decode(proof)?,
                cp.size,
                cp.root,
                *index,
                record_hash(leaf.get().as_bytes()),
            )
            .map_err(|e| ProofError::Invalid(e.to_string()))?;
            Ok(Checked::Inclusion {
                origin: cp.origin,
                index: *index,
                size: cp.size,
            })
        }
        Proof::Consistency {
            origin,
            old_checkpoint,
            new_checkpoint,
            vkey,
            proof,
        } => {
            let k = keys(vkey);
            let k: Vec<&str> = k.iter().map(String::as_str).collect();
            let old = checkpoint::open(old_checkpoint, &k)?;
            let new = checkpoint::open(new_checkpoint, &k)?;
            if old.origin != new.origin || &new.origin != origin {
                return Err(ProofError::Invalid(
                    "the checkpoints are of different logs".into(),
                ));
            }
            check_tree(&decode(proof)?, new.size, new.root, old.size, old.root)
                .map_err(|e| ProofError::Invalid(e.to_string()))?;
            Ok(Checked::Consistency {
                origin: new.origin,
                old_size: old.size,
                new_size: new.size,
            })
        }
    }
}
