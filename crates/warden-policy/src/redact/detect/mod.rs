//! The built-in value detectors, by family: token and key patterns found by regex behind a
//! literal prefilter ([`patterns`]), and the hand-written digit scanners for card numbers
//! ([`digits`]) and IBANs ([`iban`]).

pub(super) mod digits;
pub(super) mod iban;
pub(super) mod patterns;
