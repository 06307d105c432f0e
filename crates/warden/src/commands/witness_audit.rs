//! Witnessing as `run`/`serve` and `audit verify` use it: starting the checkpoint submitter
//! (`--witness-policy`, `--anchor`), and the checks `audit verify --policy/--online/--anchor`
//! add to a store's verification, with what each found in words.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use warden_audit::anchor::{self, Anchor};
use warden_audit::witness::policy::Policy;
use warden_audit::witness::submit::{SubmitConfig, Submitter};
use warden_audit::writer::CheckpointSink;

use crate::cli::WitnessingArgs;

/// Reads a policy file.
pub(crate) fn load_policy(path: &Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading witness policy {}", path.display()))?;
    Policy::parse(&text).map_err(|e| anyhow::anyhow!("witness policy {}: {e}", path.display()))
}

/// Starts the submitter when witnesses or an anchor are configured.
pub(crate) fn start_submitter(
    args: &WitnessingArgs,
    db: &Path,
) -> anyhow::Result<Option<(Submitter, CheckpointSink)>> {
    if args.witness_policy.is_none() && args.anchor.is_none() {
        return Ok(None);
    }
    let witnesses = match &args.witness_policy {
        Some(p) => {
            let policy = load_policy(p)?;
            anyhow::ensure!(
                policy.witnesses.iter().any(|w| w.url.is_some()),
                "witness policy {}: no witness has a URL to submit to",
                p.display()
            );
            policy.witnesses
        }
        None => Vec::new(),
    };
    let anchor = match &args.anchor {
        Some(p) => Some(Anchor::new(p).with_context(|| format!("--anchor {}", p.display()))?),
        None => None,
    };
    let started = Submitter::start(SubmitConfig {
        store: db.to_owned(),
        witnesses,
        anchor,
        post: super::witness_http::client()?,
        retry: Duration::from_secs(5),
    })?;
    Ok(Some(started))
}

/// The submitter's counters, for metrics (read when scraped).
pub(crate) fn counts(s: &Submitter) -> warden_observe::witness::WitnessSource {
    use std::sync::atomic::Ordering::Relaxed;
    let stats = s.stats.clone();
    std::sync::Arc::new(move || warden_observe::witness::WitnessCounts {
        cosigned: stats.cosigned.load(Relaxed),
        failures: stats.failures.load(Relaxed),
        anchored: stats.anchored.load(Relaxed),
        dropped: stats.dropped.load(Relaxed),
    })
}

/// What the witnessing checks found.
pub(crate) struct Findings {
    pub(crate) ok: bool,
    pub(crate) lines: Vec<String>,
    pub(crate) json: serde_json::Value,
}

/// Runs the checks asked for on a store whose records verified.
pub(crate) fn check(
    db: &Path,
    policy: Option<&Policy>,
    online: bool,
    anchor_path: Option<&Path>,
    trusted: Option<&[String]>,
) -> anyhow::Result<Option<Findings>> {
    if policy.is_none() && anchor_path.is_none() {
        return Ok(None);
    }
    let store = warden_audit::Store::open_read(db)?;
    let mut ok = true;
    let mut lines = Vec::new();
    let mut json = serde_json::Map::new();
    if let Some(policy) = policy {
        let found = warden_audit::witness::audit::check(&store, policy)?;
        for w in &found {
            let signed = if w.cosigned_by.is_empty() {
                "no witness".to_owned()
            } else {
                w.cosigned_by.join(", ")
            };
            if w.ok() {
                lines.push(format!(
                    "witnessed: log {} at size {}: cosigned by {signed} (quorum {} met)",
                    w.log_id,
                    w.size,
                    policy.quorum()
                ));
                continue;
            }
            ok = false;
            if let Some(p) = &w.log_key_problem {
                lines.push(format!("FAILED: log {}: {p}", w.log_id));
            }
            if !w.invalid.is_empty() {
                lines.push(format!(
                    "FAILED: log {}: the stored cosignature of {} on its newest checkpoint (size {}) does not verify: \
                     the checkpoint or the cosignature was altered",
                    w.log_id,
                    w.invalid.join(", "),
                    w.size
                ));
            }
            if !w.quorum {
                lines.push(format!(
                    "FAILED: log {}: its newest checkpoint (size {}) lacks the witness quorum {} (cosigned by {signed}): \
                     it was never accepted by enough witnesses (a truncated or rewritten log re-signed with the log's key \
                     is refused by them), or it is still being submitted",
                    w.log_id,
                    w.size,
                    policy.quorum()
                ));
            }
        }
        json.insert("witnessed".into(), serde_json::to_value(&found)?);
        if online {
            let post = super::witness_http::client()?;
            let asked = warden_audit::witness::audit::ask(&store, policy, &post)?;
            for a in &asked {
                match (&a.error, a.witness_size) {
                    (Some(e), _) => lines.push(format!(
                        "note: witness {} could not be asked about {}: {e}",
                        a.witness, a.origin
                    )),
                    (None, Some(s)) if a.truncated() => {
                        ok = false;
                        lines.push(format!(
                            "FAILED: truncated: witness {} has cosigned {} at size {s}, but the store's newest checkpoint is at size {}",
                            a.witness, a.origin, a.store_size
                        ));
                    }
                    (None, s) => lines.push(format!(
                        "online: witness {} has {} at size {} (store: {})",
                        a.witness,
                        a.origin,
                        s.unwrap_or(0),
                        a.store_size
                    )),
                }
            }
            json.insert("online".into(), serde_json::to_value(&asked)?);
        }
    }
    if let Some(path) = anchor_path {
        let anchors =
            anchor::read(path).with_context(|| format!("reading anchors {}", path.display()))?;
        anyhow::ensure!(
            !anchors.is_empty(),
            "{} holds no anchored checkpoint",
            path.display()
        );
        let found = anchor::check(&store, &anchors, trusted)?;
        let mut out = Vec::new();
        for f in &found {
            if f.ok() {
                lines.push(format!("anchored: {f}"));
            } else {
                ok = false;
                lines.push(format!("FAILED: {f}"));
            }
            out.push(serde_json::json!({ "ok": f.ok(), "finding": f.to_string() }));
        }
        json.insert("anchors".into(), out.into());
    }
    Ok(Some(Findings {
        ok,
        lines,
        json: json.into(),
    }))
}
