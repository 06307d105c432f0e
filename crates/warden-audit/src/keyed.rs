//! Keyed hashes of arguments and results (HMAC-SHA-256 with the deployment's hash key), so a
//! low-entropy value (a yes/no, a small number, a known path) cannot be confirmed by guessing.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Computes `hmac-sha256:<hex>` tags with one deployment key.
#[derive(Clone)]
pub struct KeyedHasher {
    mac: Hmac<Sha256>,
    key_id: String,
}

/// Shows the key's public id, never the key.
impl std::fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedHasher")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl KeyedHasher {
    pub fn new(key: &[u8; 32]) -> KeyedHasher {
        // HMAC accepts keys of any length; 32 bytes cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        KeyedHasher {
            mac,
            key_id: key_id(key),
        }
    }

    /// The tag of `data`: `hmac-sha256:` and 64 lowercase hex digits.
    pub fn tag(&self, data: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(data);
        format!("hmac-sha256:{}", hex(&mac.finalize().into_bytes()))
    }

    /// A short tag of `data` for `domain` (the first 16 hex digits of HMAC-SHA-256 over
    /// `domain`, a zero byte, then `data`): for correlating equal values outside the audit
    /// log (e.g. the security events' `params_hash`) without letting anyone confirm a guess.
    pub fn short_tag(&self, domain: &[u8], data: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(domain);
        mac.update(&[0]);
        mac.update(data);
        hex(&mac.finalize().into_bytes()[..8])
    }

    /// A public name for the key (first 8 bytes of SHA-256 of it), recorded with each log.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

fn key_id(key: &[u8]) -> String {
    hex(&Sha256::digest(key)[..8])
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Parses lowercase or uppercase hex; `None` on odd length or a non-hex digit.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2_shape_and_key_dependence() {
        let a = KeyedHasher::new(&[1; 32]);
        let b = KeyedHasher::new(&[2; 32]);
        assert_eq!(a.tag(b"yes").len(), "hmac-sha256:".len() + 64);
        assert_ne!(a.tag(b"yes"), b.tag(b"yes"));
        assert_eq!(a.tag(b"yes"), a.tag(b"yes"));
        assert_eq!(unhex(&hex(&[0, 255, 16])).unwrap(), vec![0, 255, 16]);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn short_tags_correlate_without_revealing() {
        let a = KeyedHasher::new(&[1; 32]);
        let b = KeyedHasher::new(&[2; 32]);
        let args = br#"{"id":"E001"}"#;
        let t = a.short_tag(b"params", args);
        assert_eq!(t.len(), 16);
        assert!(t.bytes().all(|c| c.is_ascii_hexdigit()));
        // Equal arguments share a tag; another key or another domain gives another.
        assert_eq!(t, a.short_tag(b"params", args));
        assert_ne!(t, b.short_tag(b"params", args));
        assert_ne!(t, a.short_tag(b"other", args));
        // Not the unkeyed SHA-256 anyone could compute from a guess.
        assert_ne!(t, hex(&Sha256::digest(args)[..8]));
        // The key never shows in debug output.
        assert!(!format!("{a:?}").contains("mac"));
    }
}
