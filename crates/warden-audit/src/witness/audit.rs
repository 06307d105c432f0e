//! The check of a store against a witness policy (`warden audit verify --policy`): each log's
//! newest checkpoint must carry valid cosignatures that satisfy the quorum; with `online`, each
//! witness is also asked which size of the log it last cosigned, and a store shorter than that
//! is truncated.

use std::collections::HashSet;

use super::cosigned;
use super::policy::Policy;
use super::request;
use super::submit::Post;
use crate::store::{Store, StoreError};

/// What the policy check found for one log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Witnessed {
    pub log_id: String,
    pub origin: String,
    /// Size of the newest checkpoint (0: none).
    pub size: u64,
    /// Witnesses (policy names) whose cosignature on it verifies.
    pub cosigned_by: Vec<String>,
    /// Witnesses with a stored line on it that does not verify (tampering).
    pub invalid: Vec<String>,
    /// The valid cosignatures satisfy the policy's quorum.
    pub quorum: bool,
    /// The checkpoint is not signed by a `log` key of the policy (when it lists any).
    pub log_key_problem: Option<String>,
}

impl Witnessed {
    pub fn ok(&self) -> bool {
        self.quorum && self.invalid.is_empty() && self.log_key_problem.is_none()
    }
}

/// Checks each log's newest checkpoint against the policy.
pub fn check(store: &Store, policy: &Policy) -> Result<Vec<Witnessed>, StoreError> {
    let _snapshot = store.snapshot()?;
    let mut out = Vec::new();
    for log in store.logs()? {
        let newest = store.checkpoints(&log.log_id)?.into_iter().next_back();
        let cosigs = cosigned::of_log(store, &log.log_id)?;
        let (size, note) = newest.map_or((0, String::new()), |(s, _, n)| (s, n));
        let body = signed_note::Note::from_bytes(note.as_bytes())
            .map(|n| n.text().to_vec())
            .unwrap_or_default();
        let mut cosigned_by = Vec::new();
        let mut invalid = Vec::new();
        for w in &policy.witnesses {
            let mut good = false;
            for (_, _, line) in cosigs.iter().filter(|c| c.0 == size) {
                match w.key.verify_line(&body, line) {
                    Ok(_) => good = true,
                    Err(super::cosign::CosignError::OtherKey) => {}
                    Err(_) => invalid.push(w.name.clone()),
                }
            }
            if good {
                cosigned_by.push(w.name.clone());
            }
        }
        let names: HashSet<&str> = cosigned_by.iter().map(String::as_str).collect();
        let log_key_problem = if policy.logs.is_empty() || size == 0 {
            None
        } else {
            let keys: Vec<&str> = policy.logs.iter().map(String::as_str).collect();
            crate::checkpoint::open(&note, &keys).err().map(|e| {
                format!("the newest checkpoint is not signed by a log key of the policy: {e}")
            })
        };
        out.push(Witnessed {
            log_id: log.log_id,
            origin: log.origin,
            size,
            quorum: size > 0 && policy.satisfied(&names) || policy.quorum() == "none",
            cosigned_by,
            invalid,
            log_key_problem,
        });
    }
    Ok(out)
}

/// What a witness said of a log when asked online.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Asked {
    pub origin: String,
    pub witness: String,
    /// The size it last cosigned, when it said.
    pub witness_size: Option<u64>,
    pub store_size: u64,
    /// Why it could not say.
    pub error: Option<String>,
}

impl Asked {
    /// The witness cosigned more of the log than the store holds.
    pub fn truncated(&self) -> bool {
        self.witness_size.is_some_and(|w| w > self.store_size)
    }
}

/// Asks each witness with a URL for the size of each log it last cosigned, by submitting the
/// store's newest checkpoint with `old 0`: a witness that has seen the log answers 409 with its
/// size. (One that never saw it cosigns it, which records it from now on.)
pub fn ask(store: &Store, policy: &Policy, post: &Post) -> Result<Vec<Asked>, StoreError> {
    let mut out = Vec::new();
    for log in store.logs()? {
        let Some((size, _, note)) = store.checkpoints(&log.log_id)?.into_iter().next_back() else {
            continue;
        };
        for w in policy.witnesses.iter().filter(|w| w.url.is_some()) {
            let url = format!("{}/add-checkpoint", w.url.as_deref().unwrap_or_default());
            let body = request::format(0, &[], &note);
            let (witness_size, error) = match post(&url, body.as_bytes()) {
                Ok((409, text)) => match request::parse_size(text.trim_end_matches('\n')) {
                    Some(s) => (Some(s), None),
                    None => (None, Some(format!("409 without a size: {:?}", text.trim()))),
                },
                // It had never seen the log: it has now cosigned our newest checkpoint.
                Ok((200, _)) => (Some(size), None),
                Ok((s, text)) => (None, Some(format!("HTTP {s}: {}", text.trim()))),
                Err(e) => (None, Some(e)),
            };
            out.push(Asked {
                origin: log.origin.clone(),
                witness: w.name.clone(),
                witness_size,
                store_size: size,
                error,
            });
        }
    }
    Ok(out)
}
