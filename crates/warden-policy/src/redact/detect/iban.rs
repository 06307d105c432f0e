//! IBANs: the registry's country lengths and the ISO 7064 mod-97 check.

/// IBAN lengths by country (SWIFT IBAN registry), sorted by country.
#[rustfmt::skip]
pub(in crate::redact) const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24), ("AE", 23), ("AL", 28), ("AT", 20), ("AZ", 28), ("BA", 20), ("BE", 16),
    ("BG", 22), ("BH", 22), ("BI", 27), ("BR", 29), ("BY", 28), ("CH", 21), ("CR", 22),
    ("CY", 28), ("CZ", 24), ("DE", 22), ("DJ", 27), ("DK", 18), ("DO", 28), ("EE", 20),
    ("EG", 29), ("ES", 24), ("FI", 18), ("FK", 18), ("FO", 18), ("FR", 27), ("GB", 22),
    ("GE", 22), ("GI", 23), ("GL", 18), ("GR", 27), ("GT", 28), ("HR", 21), ("HU", 28),
    ("IE", 22), ("IL", 23), ("IQ", 23), ("IS", 26), ("IT", 27), ("JO", 30), ("KW", 30),
    ("KZ", 20), ("LB", 28), ("LC", 32), ("LI", 21), ("LT", 20), ("LU", 20), ("LV", 21),
    ("LY", 25), ("MC", 27), ("MD", 24), ("ME", 22), ("MK", 19), ("MN", 20), ("MR", 27),
    ("MT", 31), ("MU", 30), ("NI", 28), ("NL", 18), ("NO", 15), ("OM", 23), ("PK", 24),
    ("PL", 28), ("PS", 29), ("PT", 25), ("QA", 29), ("RO", 24), ("RS", 22), ("RU", 33),
    ("SA", 24), ("SC", 31), ("SD", 18), ("SE", 24), ("SI", 19), ("SK", 24), ("SM", 27),
    ("SO", 23), ("ST", 25), ("SV", 28), ("TL", 23), ("TN", 24), ("TR", 26), ("UA", 29),
    ("VA", 22), ("VG", 24), ("XK", 20), ("YE", 30),
];

/// Parses an IBAN starting at `start` (two capitals and two digits already seen): known
/// country, exact registry length (BBAN of capitals and digits, a single space allowed after
/// every fourth character), check digits 02–98, mod-97. Returns the end of the IBAN.
pub(in crate::redact) fn parse_iban(b: &[u8], start: usize) -> Option<usize> {
    let country = b.get(start..start + 2)?;
    let want = IBAN_LENGTHS
        .binary_search_by(|(c, _)| c.as_bytes().cmp(country))
        .ok()
        .map(|i| IBAN_LENGTHS[i].1)?;
    let check = (b[start + 2] - b'0') * 10 + (b[start + 3] - b'0');
    if !(2..=98).contains(&check) {
        return None;
    }
    let alnum = |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    let mut compact = [0u8; 34];
    compact[..4].copy_from_slice(&b[start..start + 4]);
    let mut len = 4;
    let mut i = start + 4;
    while len < want {
        if len % 4 == 0 && b.get(i) == Some(&b' ') && b.get(i + 1).is_some_and(|&c| alnum(c)) {
            i += 1;
        }
        match b.get(i) {
            Some(&c) if alnum(c) => {
                compact[len] = c;
                len += 1;
                i += 1;
            }
            _ => return None,
        }
    }
    // Rearranged: BBAN, then country and check digits; letters count as 10..35.
    let mut rem = 0u32;
    for &c in compact[4..want].iter().chain(&compact[..4]) {
        rem = if c.is_ascii_digit() {
            (rem * 10 + u32::from(c - b'0')) % 97
        } else {
            (rem * 100 + u32::from(c - b'A') + 10) % 97
        };
    }
    (rem == 1).then_some(i)
}
