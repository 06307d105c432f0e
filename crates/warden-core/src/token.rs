//! Bearer tokens: reading `Authorization: Bearer <token>` (the scheme in any case, RFC 9110
//! §11.1), checking a presented token against the configured one in constant time (the one
//! comparison every admin and metrics listener uses), and the minimum strength of a token
//! warden is configured with.

use subtle::ConstantTimeEq;

/// The token of an `Authorization` header value whose scheme is `Bearer` (any case), with the
/// spaces around it removed; `None` for another scheme or an empty token.
pub fn bearer_token(authorization: &[u8]) -> Option<&[u8]> {
    let space = authorization.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = authorization.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Whether `authorization` (an `Authorization` header value) is `Bearer <token>`.
pub fn bearer_matches(authorization: Option<&[u8]>, token: &str) -> bool {
    let Some(given) = authorization.and_then(bearer_token) else {
        return false;
    };
    // Lengths differ only when the token is wrong; the bytes are compared in constant time.
    given.len() == token.len() && bool::from(given.ct_eq(token.as_bytes()))
}

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 32;
/// The least entropy a token must show, in bits: its length times the Shannon entropy of its
/// own characters' frequencies (a random hex token of 32 characters shows about 115).
pub const MIN_TOKEN_BITS: f64 = 96.0;

/// Why a configured token is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WeakToken {
    #[error("it is shorter than {MIN_TOKEN_LEN} characters")]
    Short,
    #[error("it holds a space, a control character or a non-ASCII character")]
    Unprintable,
    #[error("it repeats too few characters to be random")]
    LowEntropy,
}

/// Checks a token warden is configured with (the admin and metrics tokens): at least
/// [`MIN_TOKEN_LEN`] printable ASCII characters, no spaces, and [`MIN_TOKEN_BITS`] of
/// entropy by its own character counts, and not one piece repeated, so `aaaa…`,
/// `passwordpassword…` or `hunter2hunter2…` are refused.
/// `openssl rand -hex 32` makes one that passes.
pub fn check_strength(token: &str) -> Result<(), WeakToken> {
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(WeakToken::Unprintable);
    }
    if token.len() < MIN_TOKEN_LEN {
        return Err(WeakToken::Short);
    }
    let mut counts = [0u32; 128];
    for b in token.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = token.len() as f64;
    let per_char: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum();
    if per_char * n < MIN_TOKEN_BITS || repeats(token.as_bytes()) {
        return Err(WeakToken::LowEntropy);
    }
    Ok(())
}

/// Whether `t` is a shorter piece repeated (`hunter2hunter2…`, its last copy possibly cut).
fn repeats(t: &[u8]) -> bool {
    (1..=t.len() / 2).any(|p| t.iter().skip(p).zip(t).all(|(a, b)| a == b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_passes() {
        assert!(bearer_matches(Some(b"Bearer s3cret"), "s3cret"));
        for scheme in ["bearer", "BEARER", "bEaReR"] {
            let v = format!("{scheme} s3cret");
            assert!(bearer_matches(Some(v.as_bytes()), "s3cret"), "{v}");
        }
        assert!(bearer_matches(Some(b"Bearer   s3cret "), "s3cret"));
        for bad in [
            None,
            Some(&b"s3cret"[..]),
            Some(b"Bearer s3cre"),
            Some(b"Bearer s3cret2"),
            Some(b"Bearers3cret"),
            Some(b"Basic s3cret"),
            Some(b"Bearer "),
            Some(b"Bearer"),
            Some(b" Bearer s3cret"),
            Some(b"Bearer s3 cret"),
        ] {
            assert!(!bearer_matches(bad, "s3cret"), "{bad:?}");
        }
    }

    #[test]
    fn weak_tokens_are_refused() {
        assert_eq!(check_strength("s3cret"), Err(WeakToken::Short));
        assert_eq!(
            check_strength(&"0123456789abcdef".repeat(2)[..31]),
            Err(WeakToken::Short)
        );
        assert_eq!(check_strength(&"a".repeat(64)), Err(WeakToken::LowEntropy));
        assert_eq!(check_strength(&"ab".repeat(32)), Err(WeakToken::LowEntropy));
        assert_eq!(
            check_strength(&"password".repeat(4)),
            Err(WeakToken::LowEntropy)
        );
        // Enough distinct characters, but one piece over and over.
        assert_eq!(
            check_strength(&"hunter2".repeat(5)),
            Err(WeakToken::LowEntropy)
        );
        assert_eq!(
            check_strength(&"0123456789abcdef".repeat(3)[..40]),
            Err(WeakToken::LowEntropy)
        );
        assert_eq!(
            check_strength(&format!("{} x", "k".repeat(40))),
            Err(WeakToken::Unprintable)
        );
        assert_eq!(
            check_strength(&format!("{}é", "0123456789abcdef".repeat(2))),
            Err(WeakToken::Unprintable)
        );
        // What `openssl rand -hex 16`, `-hex 32` and `-base64 32` print.
        for good in [
            "9f86d081884c7d659a2feaa0c55ad015",
            "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
            "q1Yl3bV0mN8kP2xZ7cR4tW9sE6hJ5gA0fD1uI3oL8yM=",
        ] {
            assert_eq!(check_strength(good), Ok(()), "{good}");
        }
    }
}
