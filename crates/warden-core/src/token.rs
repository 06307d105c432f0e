//! Checking a presented bearer token against the configured one, in constant time: the one
//! comparison every admin and metrics listener uses.

use subtle::ConstantTimeEq;

/// Whether `authorization` (an `Authorization` header value) is `Bearer <token>`.
pub fn bearer_matches(authorization: Option<&[u8]>, token: &str) -> bool {
    let Some(given) = authorization.and_then(|h| h.strip_prefix(b"Bearer ")) else {
        return false;
    };
    // Lengths differ only when the token is wrong; the bytes are compared in constant time.
    given.len() == token.len() && bool::from(given.ct_eq(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_passes() {
        assert!(bearer_matches(Some(b"Bearer s3cret"), "s3cret"));
        for bad in [
            None,
            Some(&b"s3cret"[..]),
            Some(b"Bearer s3cre"),
            Some(b"Bearer s3cret2"),
            Some(b"bearer s3cret"),
            Some(b"Basic s3cret"),
            Some(b"Bearer "),
        ] {
            assert!(!bearer_matches(bad, "s3cret"), "{bad:?}");
        }
    }
}
