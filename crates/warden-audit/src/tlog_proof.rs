//! `c2sp.org/tlog-proof@v1`: the text form of an inclusion proof (<https://c2sp.org/tlog-proof>).
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64>]
//! index <decimal>
//! <base64 hash, leaf's sibling first, up to the root's child>…
//!
//! <the checkpoint, verbatim: body, blank line, every signature line>
//! ```
//!
//! The entry itself is not in the file: the auditor holds it (`warden audit prove
//! --leaf-out`) and hashes it. [`check`] opens the checkpoint with trusted keys and, given
//! the entry, checks the proof against the signed root.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use tlog_tiles::{Hash, check_record, record_hash};

use crate::checkpoint;
use crate::proof::{ProofError, prove_inclusion};
use crate::store::Store;

/// The first line of every tlog-proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// The longest proof file [`TlogProof::parse`] reads.
pub const MAX_LEN: usize = 1 << 20;

/// A parsed `c2sp.org/tlog-proof@v1`.
#[derive(Debug, Clone, PartialEq)]
pub struct TlogProof {
    /// Opaque, unauthenticated data (`extra` line); warden writes none.
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    /// The RFC 6962 audit path, leaf's sibling first.
    pub path: Vec<Hash>,
    /// The checkpoint as signed, with all its signature lines (and any cosignatures).
    pub checkpoint: String,
}

impl TlogProof {
    pub fn to_text(&self) -> String {
        let mut s = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            s.push_str(&format!("extra {}\n", BASE64_STANDARD.encode(extra)));
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.path {
            s.push_str(&BASE64_STANDARD.encode(h.0));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    /// Reads a proof strictly by the spec. Never panics.
    pub fn parse(text: &str) -> Result<TlogProof, String> {
        if text.len() > MAX_LEN {
            return Err(format!("longer than {MAX_LEN} bytes"));
        }
        let mut rest = text;
        let mut line = || -> Result<&str, String> {
            let (l, r) = rest
                .split_once('\n')
                .ok_or("the proof ends before its checkpoint")?;
            rest = r;
            Ok(l)
        };
        if line()? != HEADER {
            return Err(format!("the first line is not {HEADER}"));
        }
        let mut next = line()?;
        let mut extra = None;
        if let Some(b64) = next.strip_prefix("extra ") {
            extra = Some(
                BASE64_STANDARD
                    .decode(b64)
                    .map_err(|_| "the extra line is not base64")?,
            );
            next = line()?;
        }
        let index = next
            .strip_prefix("index ")
            .filter(|d| {
                !d.is_empty()
                    && d.len() <= 20
                    && d.bytes().all(|b| b.is_ascii_digit())
                    && (d.len() == 1 || !d.starts_with('0'))
            })
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or("no index line (\"index\", a space, a decimal without leading zeros)")?;
        let mut path = Vec::new();
        loop {
            let l = line()?;
            if l.is_empty() {
                break;
            }
            if path.len() >= 64 {
                return Err("more than 64 proof hashes".into());
            }
            let h = BASE64_STANDARD
                .decode(l)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| format!("{l:?} is not a base64 SHA-256 hash"))?;
            path.push(Hash(h));
        }
        if rest.is_empty() {
            return Err("no checkpoint after the blank line".into());
        }
        Ok(TlogProof {
            extra,
            index,
            path,
            checkpoint: rest.to_owned(),
        })
    }
}

/// An inclusion proof of the record `record_id` against its log's latest checkpoint, and the
/// record's leaf (the entry the proof is for). The proof is checked against the checkpoint's
/// root with the stored leaf before it is handed out.
pub fn prove(store: &Store, record_id: &str) -> Result<(TlogProof, Vec<u8>), ProofError> {
    let crate::proof::Proof::Inclusion {
        index,
        checkpoint,
        proof,
        ..
    } = prove_inclusion(store, record_id)?
    else {
        return Err(ProofError::Tree("not an inclusion proof".into()));
    };
    let (_, _, leaf) = store
        .find_record(record_id)?
        .ok_or_else(|| ProofError::NoRecord(record_id.into()))?;
    let path: Vec<Hash> = proof
        .iter()
        .map(|s| {
            BASE64_STANDARD
                .decode(s)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .map(Hash)
                .ok_or_else(|| ProofError::Tree("a proof hash is not 32 bytes".into()))
        })
        .collect::<Result<_, _>>()?;
    let cp = checkpoint::peek(&checkpoint)?;
    check_record(&path, cp.size, cp.root, index, record_hash(&leaf)).map_err(|e| {
        ProofError::Tree(format!(
            "the stored record does not match its checkpoint ({e}); run `warden audit verify`"
        ))
    })?;
    Ok((
        TlogProof {
            extra: None,
            index,
            path,
            checkpoint,
        },
        leaf,
    ))
}

/// What [`check`] established.
#[derive(Debug, PartialEq, Eq)]
pub struct TlogChecked {
    pub origin: String,
    pub index: u64,
    pub size: u64,
    /// The entry was given and is included; `false`: only the checkpoint and the shape of
    /// the proof were checked.
    pub entry_checked: bool,
    /// The record id, when the entry is a warden leaf.
    pub record_id: Option<String>,
}

/// The number of hashes in an RFC 6962 audit path for entry `index` of a tree of `size`.
fn path_len(index: u64, size: u64) -> usize {
    let (mut m, mut n, mut len) = (index, size, 0);
    while n > 1 {
        let k = 1u64 << (63 - (n - 1).leading_zeros());
        if m < k {
            n = k;
        } else {
            m -= k;
            n -= k;
        }
        len += 1;
    }
    len
}

/// Checks a tlog-proof against trusted verifier keys and, when given, the entry's bytes.
pub fn check(
    proof: &TlogProof,
    keys: &[String],
    entry: Option<&[u8]>,
) -> Result<TlogChecked, ProofError> {
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let cp = checkpoint::open(&proof.checkpoint, &keys)?;
    if proof.index >= cp.size {
        return Err(ProofError::Invalid(format!(
            "index {} is not below the checkpoint's size {}",
            proof.index, cp.size
        )));
    }
    let want = path_len(proof.index, cp.size);
    if proof.path.len() != want {
        return Err(ProofError::Invalid(format!(
            "an inclusion proof of entry {} in a tree of {} has {want} hashes, this one {}",
            proof.index,
            cp.size,
            proof.path.len()
        )));
    }
    let Some(entry) = entry else {
        return Ok(TlogChecked {
            origin: cp.origin,
            index: proof.index,
            size: cp.size,
            entry_checked: false,
            record_id: None,
        });
    };
    // A warden leaf names its log and position: they must be this proof's.
    #[derive(serde::Deserialize)]
    struct Head {
        id: Option<String>,
        log: Option<String>,
        seq: Option<u64>,
    }
    let head = serde_json::from_slice::<Head>(entry).ok();
    if let Some(h) = &head {
        if h.seq.is_some_and(|s| s != proof.index) {
            return Err(ProofError::Invalid(format!(
                "the record's seq is {}, the proof is for index {}",
                h.seq.unwrap_or_default(),
                proof.index
            )));
        }
        if let Some(log) = &h.log
            && !cp.origin.ends_with(&format!("/{log}"))
        {
            return Err(ProofError::Invalid(format!(
                "the record is of log {log}, the checkpoint of {}",
                cp.origin
            )));
        }
    }
    check_record(
        &proof.path,
        cp.size,
        cp.root,
        proof.index,
        record_hash(entry),
    )
    .map_err(|e| ProofError::Invalid(format!("the entry is not in the checkpoint's tree: {e}")))?;
    Ok(TlogChecked {
        origin: cp.origin,
        index: proof.index,
        size: cp.size,
        entry_checked: true,
        record_id: head.and_then(|h| h.id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::AllHashes;
    use signed_note::StandardSigner;
    use tlog_tiles::{prove_record, stored_hashes, tree_hash};

    fn fixture(size: u64, index: u64) -> (TlogProof, Vec<u8>, String) {
        let (skey, vkey) = signed_note::generate_key(&mut rand::rngs::OsRng, "w");
        let signer = StandardSigner::new(&skey).unwrap();
        let mut all = AllHashes::default();
        let leaf = |n: u64| format!(r#"{{"v":1,"id":"r{n}","log":"L","seq":{n}}}"#).into_bytes();
        for n in 0..size {
            all.0.extend(stored_hashes(n, &leaf(n), &all).unwrap());
        }
        let root = tree_hash(size, &all).unwrap();
        let note = checkpoint::sign("warden/warden/L", size, root, &signer).unwrap();
        let path = prove_record(size, index, &all).unwrap();
        (
            TlogProof {
                extra: None,
                index,
                path,
                checkpoint: note,
            },
            leaf(index),
            vkey,
        )
    }

    #[test]
    fn text_round_trips_in_the_spec_layout() {
        let (p, _, _) = fixture(21, 11);
        let text = p.to_text();
        assert!(
            text.starts_with("c2sp.org/tlog-proof@v1\nindex 11\n"),
            "{text}"
        );
        assert_eq!(text.lines().filter(|l| l.len() == 44).count(), 5 + 1);
        assert!(text.contains("=\n\nwarden/warden/L\n21\n"), "{text}");
        assert!(text.ends_with('\n') && text.contains("\n\n— w "));
        assert_eq!(TlogProof::parse(&text).unwrap(), p);
        let with_extra = TlogProof {
            extra: Some(b"ctx".to_vec()),
            ..p.clone()
        };
        let text = with_extra.to_text();
        assert!(text.contains("\nextra Y3R4\nindex 11\n"));
        assert_eq!(TlogProof::parse(&text).unwrap(), with_extra);
        // Index 0 of a one-entry tree: no hashes, then the blank line.
        let (one, _, _) = fixture(1, 0);
        assert!(
            one.to_text()
                .starts_with("c2sp.org/tlog-proof@v1\nindex 0\n\nwarden/")
        );
        assert_eq!(TlogProof::parse(&one.to_text()).unwrap(), one);
    }

    #[test]
    fn parse_refuses_what_the_spec_does_not_allow() {
        let (p, _, _) = fixture(21, 11);
        let good = p.to_text();
        for bad in [
            String::new(),
            good.replacen("tlog-proof@v1", "tlog-proof@v2", 1),
            good.replacen("index 11", "index 011", 1),
            good.replacen("index 11", "index -1", 1),
            good.replacen("index 11", "index  11", 1),
            good.replacen("index 11\n", "", 1),
            good.replacen("index 11", "extra !!\nindex 11", 1),
            good.replacen("=\n\nwarden", "=\nwarden", 1),
            good.replacen("index 11\n", "index 11\nAAAA\n", 1),
            "c2sp.org/tlog-proof@v1\nindex 1\n".into(),
            "c2sp.org/tlog-proof@v1\nindex 1\n\n".into(),
            "c2sp.org/tlog-proof@v1\r\nindex 1\n\nx".into(),
        ] {
            assert!(TlogProof::parse(&bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_is_refused_without_panicking(
            s in "(c2sp.org/tlog-proof@v1\n)?(extra [A-Za-z0-9+/=]{0,8}\n)?(index [0-9]{0,22}\n)?([A-Za-z0-9+/=]{0,46}\n){0,3}\n?.{0,20}"
        ) {
            let _parsed = TlogProof::parse(&s);
        }
    }

    #[test]
    fn check_binds_entry_index_checkpoint_and_key() {
        for (size, index) in [(1, 0), (2, 1), (21, 11), (21, 20), (256, 255), (257, 256)] {
            let (p, leaf, vkey) = fixture(size, index);
            let keys = [vkey.clone()];
            let ok = check(&p, &keys, Some(&leaf)).unwrap();
            assert!(ok.entry_checked);
            assert_eq!((ok.index, ok.size), (index, size));
            assert_eq!(ok.record_id.as_deref(), Some(format!("r{index}").as_str()));
            let shape = check(&p, &keys, None).unwrap();
            assert!(!shape.entry_checked);
            let mut other = leaf.clone();
            other.push(b' ');
            assert!(check(&p, &keys, Some(&other)).is_err(), "{size}/{index}");
            if size > 1 {
                let mut short = p.clone();
                short.path.pop();
                assert!(check(&short, &keys, None).is_err());
                let mut flipped = p.clone();
                flipped.path[0].0[0] ^= 1;
                assert!(check(&flipped, &keys, Some(&leaf)).is_err());
            }
        }
        let (p, leaf, _) = fixture(21, 11);
        let (_, _, stranger) = fixture(1, 0);
        assert!(matches!(
            check(&p, &[stranger], Some(&leaf)),
            Err(ProofError::Checkpoint(_))
        ));
        // Another record's leaf, even one whose hash would fit, is named by its seq.
        let (p, _, vkey) = fixture(21, 11);
        let (_, leaf12, _) = fixture(21, 12);
        let e = check(&p, &[vkey], Some(&leaf12)).unwrap_err().to_string();
        assert!(e.contains("seq is 12"), "{e}");
    }

    #[test]
    fn path_len_matches_the_reference() {
        let mut all = AllHashes::default();
        for n in 0..300u64 {
            all.0
                .extend(stored_hashes(n, &n.to_be_bytes(), &all).unwrap());
        }
        for size in 1..=300u64 {
            for index in [0, size / 2, size - 1] {
                assert_eq!(
                    path_len(index, size),
                    prove_record(size, index, &all).unwrap().len(),
                    "{index} of {size}"
                );
            }
        }
    }
}
