//! `warden audit prove` and `warden audit verify-proof`: inclusion proofs written as
//! `c2sp.org/tlog-proof@v1` (the record's leaf beside them with `--leaf-out`), consistency
//! proofs as JSON; the check reads both, and the JSON inclusion proofs written before.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use warden_audit::Store;
use warden_audit::content::{ContentFile, LeafContent};
use warden_audit::proof::{self, Checked, Proof};
use warden_audit::tlog_proof::{self, TlogChecked, TlogProof};

use super::audit::trust_note;
use super::dashboard::trusted_keys;

pub(crate) fn prove(
    db: &Path,
    record: Option<&str>,
    (leaf_out, content_out): (Option<&Path>, Option<&Path>),
    from_checkpoint: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let s = Store::open_read(db)?;
    match (record, from_checkpoint) {
        (Some(id), _) => {
            let (p, leaf) = tlog_proof::prove(&s, id)?;
            if let Some(path) = leaf_out {
                std::fs::write(path, &leaf)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = content_out {
                let file = content_of(&s, &leaf)?;
                std::fs::write(path, serde_json::to_vec_pretty(&file)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            print!("{}", p.to_text());
        }
        (None, Some(path)) => {
            let note = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let p = proof::prove_consistency(&s, &note)?;
            println!("{}", serde_json::to_string_pretty(&p)?);
        }
        (None, None) => anyhow::bail!("give --record ID or --from-checkpoint FILE"),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn verify_proof(
    file: &Path,
    pubkey: Option<&Path>,
    leaf: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let keys = trusted_keys(pubkey)?;
    let leaf = leaf
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    if text.starts_with(&format!("{}\n", tlog_proof::HEADER)) {
        let Some(keys) = keys else {
            anyhow::bail!(
                "a c2sp.org/tlog-proof names no key: pass --pubkey FILE (the log's verifier key, \
                 from `warden keys export`)"
            );
        };
        let p = match TlogProof::parse(&text) {
            Ok(p) => p,
            Err(e) => {
                println!(
                    "FAILED: {} is not a valid c2sp.org/tlog-proof: {e}",
                    file.display()
                );
                return Ok(ExitCode::from(1));
            }
        };
        return Ok(match tlog_proof::check(&p, &keys, leaf.as_deref()) {
            Ok(TlogChecked {
                origin,
                index,
                size,
                entry_checked: true,
                record_id,
            }) => {
                let id = record_id.map(|i| format!(" (id {i})")).unwrap_or_default();
                println!(
                    "OK: record {index}{id} is included in {origin} at size {size} ({})",
                    trust_note(true)
                );
                ExitCode::SUCCESS
            }
            Ok(TlogChecked {
                origin,
                index,
                size,
                entry_checked: false,
                ..
            }) => {
                println!(
                    "OK (checkpoint only): the checkpoint of {origin} at size {size} is signed by the \
                     given key and the proof is shaped for entry {index}; the entry itself was NOT \
                     checked: pass --leaf FILE (`warden audit prove --leaf-out`)"
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("FAILED: {e}");
                ExitCode::from(1)
            }
        });
    }
    let p: Proof = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a warden proof", file.display()))?;
    if let Some(given) = &leaf {
        match &p {
            Proof::Inclusion { leaf: inside, .. }
                if inside.get().as_bytes() != given.as_slice() =>
            {
                println!("FAILED: the --leaf file is not the record this proof includes");
                return Ok(ExitCode::from(1));
            }
            Proof::Inclusion { .. } => {}
            Proof::Consistency { .. } => {
                anyhow::bail!("--leaf is for inclusion proofs; this is a consistency proof")
            }
        }
    }
    match proof::check(&p, keys.as_deref()) {
        Ok(Checked::Inclusion {
            origin,
            index,
            size,
        }) => {
            println!(
                "OK: record {index} is included in {origin} at size {size} ({})",
                trust_note(keys.is_some())
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(Checked::Consistency {
            origin,
            old_size,
            new_size,
        }) => {
            println!(
                "OK: {origin} at size {new_size} extends its checkpoint at size {old_size} ({})",
                trust_note(keys.is_some())
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FAILED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// The content file of the record whose leaf is `leaf`, while its content is stored.
fn content_of(s: &Store, leaf: &[u8]) -> anyhow::Result<ContentFile> {
    let c: LeafContent = serde_json::from_slice(leaf)?;
    let Some(digest) = c.content else {
        anyhow::bail!(
            "this record commits to no content (payload level minimal, an event, or a log written before leaf v2)"
        );
    };
    let row = s.content(&digest)?.unwrap_or_default();
    match (row.gone.as_deref(), row.nonce, row.body) {
        (None, Some(nonce), Some(body)) => Ok(ContentFile::new(&nonce, &body)),
        (Some(g), _, _) => {
            anyhow::bail!("this record's content was {g}; its leaf and proof remain")
        }
        _ => anyhow::bail!("this record's content is not in the store; run `warden audit verify`"),
    }
}

/// Checks a content file against the commitment in the leaf file, and shows the content.
pub(crate) fn verify_content(content: &Path, leaf: &Path) -> anyhow::Result<ExitCode> {
    let file: ContentFile = serde_json::from_slice(
        &std::fs::read(content).with_context(|| format!("reading {}", content.display()))?,
    )
    .with_context(|| {
        format!(
            "{} is not a content file (`prove --content-out`)",
            content.display()
        )
    })?;
    let leaf = std::fs::read(leaf).with_context(|| format!("reading {}", leaf.display()))?;
    match file.check(&leaf) {
        Ok((body, kind)) => {
            println!(
                "OK: the content matches the record's commitment ({kind}, {} bytes):",
                body.len()
            );
            println!("{}", String::from_utf8_lossy(&body));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FAILED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
