//! `warden audit prove` and `warden audit verify-proof`: inclusion proofs written as
//! `c2sp.org/tlog-proof@v1` (the record's leaf beside them with `--leaf-out`), consistency
//! proofs as JSON; the check reads both, and the JSON inclusion proofs written before.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use warden_audit::Store;
use warden_audit::proof::{self, Checked, Proof};
use warden_audit::tlog_proof::{self, TlogChecked, TlogProof};

use super::audit::trust_note;
use super::dashboard::trusted_keys;

pub(crate) fn prove(
    db: &Path,
    record: Option<&str>,
    leaf_out: Option<&Path>,
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
