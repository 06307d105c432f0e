//! C2SP `tlog-cosignature` v1 with Ed25519: a witness's key (name, key id with the cosignature
//! type byte 0x04), its verifier key (`name+id+base64(0x04||pub)`), and cosignature lines
//! (`— name base64(key id || u64 timestamp || Ed25519 signature)`) over
//! `cosignature/v1\ntime <T>\n` followed by the checkpoint body.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};

/// The signature type byte of an Ed25519 cosignature key (C2SP `tlog-cosignature`).
pub const COSIGNATURE_TYPE: u8 = 0x04;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CosignError {
    #[error("not a cosignature key: {0}")]
    BadKey(&'static str),
    #[error("not a cosignature line of this witness")]
    OtherKey,
    #[error("cosignature does not verify")]
    BadSignature,
    #[error("malformed cosignature line")]
    Malformed,
}

/// The key id: SHA-256(name || "\n" || 0x04 || public key)[:4].
pub fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut k = vec![COSIGNATURE_TYPE];
    k.extend_from_slice(public);
    signed_note::key_id(name, &k)
}

/// The message a cosignature signs: two header lines and the checkpoint body (with its
/// final newline, without signature lines).
pub fn signed_message(timestamp: u64, body: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(body);
    m
}

/// A witness's signing key.
pub struct Cosigner {
    name: String,
    id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cosigner({}+{:08x})", self.name, self.id)
    }
}

fn split_key(s: &str) -> Option<(&str, &str, Vec<u8>)> {
    let (name, rest) = s.split_once('+')?;
    let (id, b64) = rest.split_once('+')?;
    let bytes = BASE64_STANDARD.decode(b64).ok()?;
    Some((name, id, bytes))
}

impl Cosigner {
    /// A new random key named `name` (a schema-less URL, e.g. `witness.example/w1`).
    pub fn generate(name: &str) -> Result<Cosigner, CosignError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(CosignError::BadKey("the name has a space or '+'"));
        }
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        Ok(Cosigner {
            name: name.to_owned(),
            id: key_id(name, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// Reads `PRIVATE+KEY+<name>+<id>+base64(0x04 || 32-byte seed)`.
    pub fn from_skey(skey: &str) -> Result<Cosigner, CosignError> {
        let rest = skey
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(CosignError::BadKey("expected PRIVATE+KEY+"))?;
        let (name, id, bytes) = split_key(rest).ok_or(CosignError::BadKey("malformed"))?;
        let seed: [u8; 32] = match bytes.split_first() {
            Some((&COSIGNATURE_TYPE, seed)) => seed
                .try_into()
                .map_err(|_| CosignError::BadKey("wrong key length"))?,
            _ => return Err(CosignError::BadKey("not an Ed25519 cosignature key (0x04)")),
        };
        if !signed_note::is_key_name_valid(name) {
            return Err(CosignError::BadKey("bad name"));
        }
        let key = SigningKey::from_bytes(&seed);
        let c = Cosigner {
            name: name.to_owned(),
            id: key_id(name, key.verifying_key().as_bytes()),
            key,
        };
        if format!("{:08x}", c.id) != id {
            return Err(CosignError::BadKey("key id does not match the key"));
        }
        Ok(c)
    }

    /// The private key in the form `from_skey` reads (keep it secret).
    pub fn skey(&self) -> String {
        let mut b = vec![COSIGNATURE_TYPE];
        b.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            BASE64_STANDARD.encode(b)
        )
    }

    /// The verifier key to give logs and auditors.
    pub fn vkey(&self) -> String {
        let mut b = vec![COSIGNATURE_TYPE];
        b.extend_from_slice(self.key.verifying_key().as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.id,
            BASE64_STANDARD.encode(b)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cosignature line (ending in a newline) over a checkpoint `body` at `timestamp`.
    pub fn cosign(&self, body: &[u8], timestamp: u64) -> String {
        let sig = self.key.sign(&signed_message(timestamp, body));
        let mut b = self.id.to_be_bytes().to_vec();
        b.extend_from_slice(&timestamp.to_be_bytes());
        b.extend_from_slice(&sig.to_bytes());
        format!("— {} {}\n", self.name, BASE64_STANDARD.encode(b))
    }
}

/// A witness's verifier key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignatureKey {
    pub name: String,
    pub id: u32,
    key: VerifyingKey,
}

impl CosignatureKey {
    /// Parses `name+id+base64(0x04 || 32-byte public key)`.
    pub fn parse(vkey: &str) -> Result<CosignatureKey, CosignError> {
        let (name, id, bytes) = split_key(vkey.trim()).ok_or(CosignError::BadKey("malformed"))?;
        let public: [u8; 32] = match bytes.split_first() {
            Some((&COSIGNATURE_TYPE, k)) => k
                .try_into()
                .map_err(|_| CosignError::BadKey("wrong key length"))?,
            _ => return Err(CosignError::BadKey("not an Ed25519 cosignature key (0x04)")),
        };
        if !signed_note::is_key_name_valid(name) {
            return Err(CosignError::BadKey("bad name"));
        }
        let key = VerifyingKey::from_bytes(&public).map_err(|_| CosignError::BadKey("bad key"))?;
        let kid = key_id(name, &public);
        if format!("{kid:08x}") != id {
            return Err(CosignError::BadKey("key id does not match the key"));
        }
        Ok(CosignatureKey {
            name: name.to_owned(),
            id: kid,
            key,
        })
    }

    /// Checks one signature line against a checkpoint `body` and returns its timestamp.
    /// `OtherKey` for a line of another key (to be ignored), `BadSignature` for a line that
    /// names this key but does not verify.
    pub fn verify_line(&self, body: &[u8], line: &str) -> Result<u64, CosignError> {
        let rest = line
            .trim_end_matches('\n')
            .strip_prefix("— ")
            .ok_or(CosignError::Malformed)?;
        let (name, b64) = rest.split_once(' ').ok_or(CosignError::Malformed)?;
        let raw = BASE64_STANDARD
            .decode(b64)
            .map_err(|_| CosignError::Malformed)?;
        if raw.len() < 4 {
            return Err(CosignError::Malformed);
        }
        let id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        if name != self.name || id != self.id {
            return Err(CosignError::OtherKey);
        }
        if raw.len() != 4 + 8 + 64 {
            return Err(CosignError::BadSignature);
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&raw[4..12]);
        let timestamp = u64::from_be_bytes(ts);
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&raw[12..]);
        if timestamp == 0 || timestamp > i64::MAX as u64 {
            return Err(CosignError::BadSignature);
        }
        self.key
            .verify(
                &signed_message(timestamp, body),
                &ed25519_dalek::Signature::from_bytes(&sig),
            )
            .map_err(|_| CosignError::BadSignature)?;
        Ok(timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_lines_verify() {
        let c = Cosigner::generate("witness.example/w1").unwrap();
        let again = Cosigner::from_skey(&c.skey()).unwrap();
        assert_eq!(again.vkey(), c.vkey());
        let k = CosignatureKey::parse(&c.vkey()).unwrap();
        let body = b"example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let line = c.cosign(body, 1_679_315_147);
        assert_eq!(k.verify_line(body, &line), Ok(1_679_315_147));
        let other = b"example.com/log\n6\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        assert_eq!(k.verify_line(other, &line), Err(CosignError::BadSignature));
        let stranger = Cosigner::generate("witness.example/w2").unwrap();
        assert_eq!(
            k.verify_line(body, &stranger.cosign(body, 1)),
            Err(CosignError::OtherKey)
        );
        // A log's (type 0x01) key is not a cosignature key.
        let (_, log_vkey) = signed_note::generate_key(&mut rand::rngs::OsRng, "log");
        assert!(CosignatureKey::parse(&log_vkey).is_err());
        for junk in ["", "—", "— a", "— a !!!", "— a AAAA", "x y z"] {
            assert!(k.verify_line(body, junk).is_err());
        }
    }

    #[test]
    fn the_signed_message_is_the_spec_s() {
        assert_eq!(
            signed_message(
                1679315147,
                b"example.com/behind-the-sofa\n20852163\nCsUY=\n"
            ),
            b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUY=\n"
        );
    }
}
