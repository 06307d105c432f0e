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
}
