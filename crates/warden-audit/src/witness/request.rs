//! The `add-checkpoint` request body of C2SP `tlog-witness`: an `old <size>` line, at most 63
//! base64 consistency-proof lines, an empty line, then the checkpoint as a signed note. Read
//! strictly (every line ends in `\n`, sizes in canonical decimal); any other input is an
//! error, never a panic.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use tlog_tiles::Hash;

/// Most consistency-proof lines a request may carry (the spec's limit).
pub const MAX_PROOF_LINES: usize = 63;

/// Largest request body a witness reads (a checkpoint note is far smaller).
pub const MAX_BODY: usize = 64 * 1024;

/// A parsed `add-checkpoint` request.
#[derive(Debug, PartialEq)]
pub struct AddCheckpoint<'a> {
    pub old: u64,
    pub proof: Vec<Hash>,
    /// The signed note, as sent.
    pub note: &'a [u8],
}

/// A canonical ASCII decimal: no sign, no leading zero (except `0` itself).
pub fn parse_size(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

/// Reads a request body; the error says what is wrong (a 400).
pub fn parse(body: &[u8]) -> Result<AddCheckpoint<'_>, String> {
    if body.len() > MAX_BODY {
        return Err("request body too large".into());
    }
    let mut rest = body;
    let mut line = || -> Result<&[u8], String> {
        let end = memchr::memchr(b'\n', rest).ok_or("a line does not end in a newline")?;
        let (l, r) = rest.split_at(end);
        rest = &r[1..];
        Ok(l)
    };
    let first = line()?;
    let old = std::str::from_utf8(first)
        .ok()
        .and_then(|l| l.strip_prefix("old "))
        .and_then(parse_size)
        .ok_or("the first line is not `old <size>`")?;
    let mut proof = Vec::new();
    loop {
        let l = line()?;
        if l.is_empty() {
            break;
        }
        if proof.len() == MAX_PROOF_LINES {
            return Err(format!(
                "more than {MAX_PROOF_LINES} consistency proof lines"
            ));
        }
        let h = std::str::from_utf8(l)
            .ok()
            .and_then(|s| BASE64_STANDARD.decode(s).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or("a consistency proof line is not a base64 SHA-256 hash")?;
        proof.push(Hash(h));
    }
    if rest.is_empty() {
        return Err("no checkpoint after the empty line".into());
    }
    Ok(AddCheckpoint {
        old,
        proof,
        note: rest,
    })
}

/// Writes a request body.
pub fn format(old: u64, proof: &[Hash], note: &str) -> String {
    let mut s = format!("old {old}\n");
    for h in proof {
        s.push_str(&BASE64_STANDARD.encode(h.0));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(note);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let body = format(3, &[Hash([1; 32]), Hash([2; 32])], "o\n5\nx=\n\n— k AAAA\n");
        let r = parse(body.as_bytes()).unwrap();
        assert_eq!(r.old, 3);
        assert_eq!(r.proof, vec![Hash([1; 32]), Hash([2; 32])]);
        assert_eq!(r.note, b"o\n5\nx=\n\n\xe2\x80\x94 k AAAA\n");
    }

    #[test]
    fn refuses_odd_input_without_panicking() {
        let h = BASE64_STANDARD.encode([0u8; 32]);
        for bad in [
            "".to_owned(),
            "old 1".into(),
            "old 01\n\nx\n".into(),
            "old -1\n\nx\n".into(),
            "old +1\n\nx\n".into(),
            "old  1\n\nx\n".into(),
            "Old 1\n\nx\n".into(),
            "old 1\n".into(),
            "old 1\n\n".into(),
            "old 99999999999999999999999\n\nx\n".into(),
            format!("old 1\n{h}x\n\nx\n"),
            format!("old 1\n{}\n\nx\n", &h[..20]),
            format!(
                "old 1\n{}\nx\n",
                (0..64).map(|_| h.as_str()).collect::<Vec<_>>().join("\n")
            ),
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?} accepted");
        }
        assert!(parse(&[0xff, b'\n', b'\n', b'x']).is_err());
        assert!(parse(&vec![b'\n'; MAX_BODY + 1]).is_err());
        // Fuzz-like: every prefix and byte flip of a good body is answered, never a panic.
        let good = format(1, &[Hash([7; 32])], "o\n2\nAAAA\n\n— k AAAA\n");
        for i in 0..good.len() {
            let _answer = parse(&good.as_bytes()[..i]);
            let mut b = good.clone().into_bytes();
            b[i] ^= 0x55;
            let _answer = parse(&b);
        }
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("00"), None);
    }
}
