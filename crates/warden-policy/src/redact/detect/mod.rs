//! The built-in value detectors, by family: token and key patterns found by regex behind a
//! literal prefilter ([`patterns`]), and the hand-written digit scanners for card numbers
//! ([`digits`]), IBANs ([`iban`]) and phone numbers ([`phone`]).

pub(super) mod digits;
pub(super) mod iban;
pub(super) mod patterns;
pub(super) mod phone;
