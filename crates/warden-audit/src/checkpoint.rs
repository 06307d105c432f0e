//! Signed checkpoints: C2SP `tlog-checkpoint` bodies (origin, size, root hash) in C2SP
//! signed notes with an Ed25519 signature, checkable by any tool that reads those formats.

use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles::{Checkpoint, Hash};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("checkpoint is not a well-formed signed note")]
    Malformed,
    #[error("checkpoint signature does not verify with the given key")]
    BadSignature,
    #[error("checkpoint is not signed by the given key")]
    Unsigned,
    #[error("verifier key is not valid: {0}")]
    BadKey(String),
}

/// A checkpoint whose signature verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// Signs a checkpoint of the tree `root` at `size` for the log named `origin`.
pub fn sign(
    origin: &str,
    size: u64,
    root: Hash,
    signer: &StandardSigner,
) -> Result<String, CheckpointError> {
    let body = Checkpoint::new(origin, size, root, "").map_err(|_| CheckpointError::Malformed)?;
    let mut note = Note::new(&body.to_bytes(), &[]).map_err(|_| CheckpointError::Malformed)?;
    note.add_sigs(&[signer])
        .map_err(|_| CheckpointError::Malformed)?;
    String::from_utf8(note.to_bytes()).map_err(|_| CheckpointError::Malformed)
}

/// A note as kept in a file may have gained trailing blank lines; a note ends with one `\n`.
fn normalized(note: &str) -> String {
    format!("{}\n", note.trim_end_matches(['\n', '\r', ' ']))
}

/// Checks a signed checkpoint against verifier keys (note format) and returns what it states.
pub fn open(note: &str, vkeys: &[&str]) -> Result<Verified, CheckpointError> {
    let parsed =
        Note::from_bytes(normalized(note).as_bytes()).map_err(|_| CheckpointError::Malformed)?;
    let mut verifiers: Vec<Box<dyn signed_note::Verifier>> = Vec::new();
    for k in vkeys {
        verifiers.push(Box::new(
            StandardVerifier::new(k).map_err(|e| CheckpointError::BadKey(e.to_string()))?,
        ));
    }
    match parsed.verify(&VerifierList::new(verifiers)) {
        Ok(_) => {}
        Err(signed_note::NoteError::UnverifiedNote) => return Err(CheckpointError::Unsigned),
        Err(_) => return Err(CheckpointError::BadSignature),
    }
    let body = Checkpoint::from_bytes(parsed.text()).map_err(|_| CheckpointError::Malformed)?;
    Ok(Verified {
        origin: body.origin().to_owned(),
        size: body.size(),
        root: *body.hash(),
    })
}

/// Reads what a checkpoint states without checking its signature (to find its log).
pub fn peek(note: &str) -> Result<Verified, CheckpointError> {
    let parsed =
        Note::from_bytes(normalized(note).as_bytes()).map_err(|_| CheckpointError::Malformed)?;
    let body = Checkpoint::from_bytes(parsed.text()).map_err(|_| CheckpointError::Malformed)?;
    Ok(Verified {
        origin: body.origin().to_owned(),
        size: body.size(),
        root: *body.hash(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_open_and_reject_forgeries() {
        let (skey, vkey) = signed_note::generate_key(&mut rand::rngs::OsRng, "w");
        let (_, other) = signed_note::generate_key(&mut rand::rngs::OsRng, "w");
        let signer = StandardSigner::new(&skey).unwrap();
        let note = sign("warden/log1", 7, Hash([9; 32]), &signer).unwrap();
        let v = open(&note, &[&vkey]).unwrap();
        assert_eq!(
            (v.origin.as_str(), v.size, v.root),
            ("warden/log1", 7, Hash([9; 32]))
        );
        assert_eq!(open(&note, &[&other]), Err(CheckpointError::Unsigned));
        let forged = note.replacen("\n7\n", "\n8\n", 1);
        assert_eq!(open(&forged, &[&vkey]), Err(CheckpointError::BadSignature));
        assert_eq!(peek(&forged).unwrap().size, 8);
    }
}
