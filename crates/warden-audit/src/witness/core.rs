//! The witness itself, without HTTP: which logs it trusts, and the `add-checkpoint` decision
//! of C2SP `tlog-witness` with the spec's status codes and bodies: 404 unknown origin, 403 no
//! valid signature of a trusted key, 400 malformed or `old` above the size, 409 `old` is not
//! the size it last cosigned (body: that size, `text/x.tlog.size`), 422 a bad consistency
//! proof (a fork) or a non-empty proof from 0, 200 with the cosignature line. A checkpoint
//! that does not extend the last one cosigned is never cosigned; one refused with 422 is
//! kept (the log's signature on an inconsistent checkpoint is evidence of misbehaviour).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use signed_note::{Note, NoteError, StandardVerifier, VerifierList};
use std::sync::{Mutex, MutexGuard, PoisonError};
use tlog_tiles::{Checkpoint, EMPTY_HASH, check_tree};

use super::cosign::Cosigner;
use super::request;
use super::state::{Latest, State, StateError};

/// A log the witness cosigns for: its origin (or every origin under a prefix) and the
/// verifier keys (signed-note Ed25519) whose signatures it accepts.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedLog {
    /// The exact origin line.
    #[serde(default)]
    pub origin: Option<String>,
    /// Or: every origin starting with this (a warden instance opens a log per process, with
    /// origins `<instance>/warden/<log id>`, so `<instance>/warden/` trusts them all).
    #[serde(default)]
    pub origin_prefix: Option<String>,
    /// Verifier keys (`name+id+base64`), at least one.
    pub keys: Vec<String>,
}

/// An HTTP answer: status, content type, body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

fn text(status: u16, body: impl Into<String>) -> Answer {
    let mut body = body.into();
    body.push('\n');
    Answer {
        status,
        content_type: "text/plain; charset=utf-8",
        body,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("trusted log {0}: give exactly one of origin and origin_prefix")]
    Origin(usize),
    #[error("trusted log {index}: key {key:?}: {reason}")]
    Key {
        index: usize,
        key: String,
        reason: String,
    },
    #[error(transparent)]
    State(#[from] StateError),
}

/// A running witness.
pub struct Witness {
    logs: Vec<TrustedLog>,
    cosigner: Cosigner,
    /// One submission at a time (per process); the state's transaction serializes processes.
    state: Mutex<State>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1)
        .max(1)
}

impl Witness {
    /// Checks the trusted logs and opens the state file.
    pub fn new(
        logs: Vec<TrustedLog>,
        cosigner: Cosigner,
        state: &Path,
    ) -> Result<Witness, WitnessError> {
        for (i, l) in logs.iter().enumerate() {
            if l.origin.is_some() == l.origin_prefix.is_some()
                || l.origin.as_deref() == Some("")
                || l.origin_prefix.as_deref() == Some("")
            {
                return Err(WitnessError::Origin(i));
            }
            if l.keys.is_empty() {
                return Err(WitnessError::Key {
                    index: i,
                    key: String::new(),
                    reason: "no key".into(),
                });
            }
            for k in &l.keys {
                StandardVerifier::new(k).map_err(|e| WitnessError::Key {
                    index: i,
                    key: k.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        Ok(Witness {
            logs,
            cosigner,
            state: Mutex::new(State::open(state)?),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn vkey(&self) -> String {
        self.cosigner.vkey()
    }

    fn trusted(&self, origin: &str) -> Vec<&str> {
        self.logs
            .iter()
            .filter(|l| {
                l.origin.as_deref() == Some(origin)
                    || l.origin_prefix
                        .as_deref()
                        .is_some_and(|p| origin.starts_with(p))
            })
            .flat_map(|l| l.keys.iter().map(String::as_str))
            .collect()
    }

    /// The latest checkpoint cosigned for `origin`, with the cosignature (the monitoring
    /// endpoint), if any.
    pub fn latest(&self, origin: &str) -> Result<Option<Latest>, StateError> {
        self.state().latest(origin)
    }

    /// Checkpoints of `origin` refused as inconsistent, kept as evidence: `(size, note, reason)`.
    pub fn refusals(&self, origin: &str) -> Result<Vec<(u64, String, String)>, StateError> {
        self.state().refusals(origin)
    }

    /// The latest cosigned checkpoint of the log whose origin hashes (SHA-256, lowercase hex)
    /// to `origin_hash`, among the trusted exact origins and the origins seen.
    pub fn latest_by_hash(&self, origin_hash: &str) -> Result<Option<Latest>, StateError> {
        self.state().latest_by_hash(origin_hash)
    }

    /// Answers one `add-checkpoint` request body.
    pub fn add_checkpoint(&self, body: &[u8]) -> Answer {
        let req = match request::parse(body) {
            Ok(r) => r,
            Err(e) => return text(400, e),
        };
        let Ok(note) = Note::from_bytes(req.note) else {
            return text(400, "the checkpoint is not a well-formed signed note");
        };
        let Ok(cp) = Checkpoint::from_bytes(note.text()) else {
            return text(400, "the note is not a checkpoint");
        };
        let keys = self.trusted(cp.origin());
        if keys.is_empty() {
            return text(404, "unknown log origin");
        }
        let mut verifiers: Vec<Box<dyn signed_note::Verifier>> = Vec::new();
        for k in keys {
            if let Ok(v) = StandardVerifier::new(k) {
                verifiers.push(Box::new(v));
            }
        }
        match note.verify(&VerifierList::new(verifiers)) {
            Ok(_) => {}
            Err(NoteError::UnverifiedNote) => {
                return text(403, "no signature of a key trusted for this log");
            }
            Err(_) => return text(403, "a signature of a trusted key does not verify"),
        }
        if req.old > cp.size() {
            return text(400, "old size is larger than the checkpoint size");
        }
        let body_text = note.text().to_vec();
        let timestamp = now_secs();
        let line = self.cosigner.cosign(&body_text, timestamp);
        let submitted = String::from_utf8_lossy(req.note).into_owned();
        let mut stored = submitted.clone();
        stored.push_str(&line);
        let mut state = self.state();
        let decided = state.update(cp.origin(), |latest| {
            let (last_size, last_root) = latest.map_or((0, EMPTY_HASH), |l| (l.size, l.root));
            if req.old != last_size {
                let a = Answer {
                    status: 409,
                    content_type: "text/x.tlog.size",
                    body: format!("{last_size}\n"),
                };
                return (None, a);
            }
            if cp.size() == 0 && *cp.hash() != EMPTY_HASH {
                return (None, text(422, "a checkpoint of size 0 must have the empty tree's root"));
            }
            let consistent = if req.old == 0 {
                req.proof.is_empty()
            } else {
                check_tree(&req.proof, cp.size(), *cp.hash(), req.old, last_root).is_ok()
            };
            if !consistent {
                let why = if req.old == 0 {
                    "a consistency proof from size 0 must be empty"
                } else if req.old == cp.size() {
                    "the root differs from the checkpoint of this size already cosigned"
                } else {
                    "the consistency proof does not verify: this checkpoint does not extend the last one cosigned"
                };
                tracing::warn!(origin = cp.origin(), size = cp.size(), old = req.old, "refused: {why}");
                return (None, text(422, why));
            }
            let new = Latest {
                size: cp.size(),
                root: *cp.hash(),
                note: stored,
            };
            let ok = Answer {
                status: 200,
                content_type: "text/plain; charset=utf-8",
                body: line,
            };
            (Some(new), ok)
        });
        if let Ok(a) = &decided
            && a.status == 422
            && let Err(e) = state.refused(cp.origin(), cp.size(), &submitted, a.body.trim_end())
        {
            tracing::error!("witness state: cannot keep the refused checkpoint: {e}");
        }
        drop(state);
        match decided {
            Ok(a) => a,
            Err(e) => {
                tracing::error!("witness state: {e}");
                text(500, "the witness cannot record its state")
            }
        }
    }
}
