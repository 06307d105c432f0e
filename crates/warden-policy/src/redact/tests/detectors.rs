//! Detector false positives and the card and IBAN checks.

use super::*;

#[test]
fn false_positives_are_left_alone() {
    let r = Redactor::default();
    let clean = json!({
        "order_id": "ORD-2024-000123456789",
        "order_number": 1234567812345678u64,       // fails Luhn
        "uuid": "123e4567-e89b-12d3-a456-426614174000",
        "trace": "550e8400e29b41d4a716446655440000",
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "ts_ms": 1718000000000u64,
        "ts_ns": 1718000000123456789u64,
        "ts_ms_text": "1718000000000",
        "ts_ns_text": "created 1718000000123456789",
        "float": "0.30000000000000004",
        "coords": "37.774929483212345,-122.419415",
        "phone": "+1 415 555 2671",
        "dates": "2024-01-15 2024-02-15 2024-03-15",
        "version": "installed lodash@4.17.21 and @types/node",
        "model": "tokenizer",
        "tokens_used": 4096,
        "prose": "The bearer of this letter is a friend. Risk-free task-management-dashboard-for-everyone.",
        "kebab": "sk-learn-pipeline-configuration-file-for-the-model",
        "bad_iban": "DE88 3704 0044 0532 0130 00",
        "not_iban": "AB12 3456 7890 1234 5678",
        "aws_like": "AKIA-not-a-key",
        "github_like": "ghp_short",
        "jwt_like": "eyJ alone",
        "long_digits": "12345678901234567890123",
        "spaced_digits": "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
        "glued": "id4111111111111111x",
    });
    let reps = r.scan(&clean);
    assert!(reps.is_empty(), "{reps:?}");
    let mut v = clean.clone();
    assert!(r.redact(&mut v).is_empty());
    assert_eq!(v, clean);
}

#[test]
fn luhn_failing_sixteen_digit_numbers_are_not_cards() {
    let r = Redactor::default();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut checked = 0;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = 4_000_000_000_000_000 + x % 1_000_000_000_000_000;
        let digits: Vec<u8> = n.to_string().bytes().map(|b| b - b'0').collect();
        if luhn(&digits) {
            assert_eq!(r.scan(&json!(n)).len(), 1, "{n}");
            assert_eq!(r.scan(&json!(format!("card {n}"))).len(), 1, "{n}");
            continue;
        }
        checked += 1;
        assert!(r.scan(&json!(n)).is_empty(), "{n}");
        assert!(r.scan(&json!(format!("card {n}"))).is_empty(), "{n}");
    }
    assert!(checked > 1500);
}

#[test]
fn card_runs_and_groups() {
    let r = Redactor::default();
    let cases = [
        ("4111111111111111 2027", "[REDACTED:card_number] 2027"),
        (
            "exp 12/27 card 4111-1111-1111-1111.",
            "exp 12/27 card [REDACTED:card_number].",
        ),
        ("3782 822463 10005", "[REDACTED:card_number]"),
        (
            "visa13 4222222222222 ok",
            "visa13 [REDACTED:card_number] ok",
        ),
        ("2223003122003222", "[REDACTED:card_number]"),
        ("card_4111111111111111", "card_[REDACTED:card_number]"),
        (
            "a@b.co4111111111111111",
            "[REDACTED:email][REDACTED:card_number]",
        ),
        (
            "4111111111111111,5555555555554444",
            "[REDACTED:card_number],[REDACTED:card_number]",
        ),
    ];
    for (input, want) in cases {
        let mut v = json!(input);
        r.redact(&mut v);
        assert_eq!(v, json!(want), "{input}");
    }
}

#[test]
fn iban_validation() {
    assert!(
        IBAN_LENGTHS.windows(2).all(|w| w[0].0 < w[1].0),
        "sorted for binary search"
    );
    assert!(parse_iban(IBAN_DE.as_bytes(), 0).is_some());
    assert!(parse_iban("NO9386011117947".as_bytes(), 0).is_some());
    assert!(parse_iban("CH9300762011623852957".as_bytes(), 0).is_some());
    assert!(parse_iban("NL91ABNA0417164300".as_bytes(), 0).is_some());
    assert!(parse_iban("NL91ABNA0417164301".as_bytes(), 0).is_none());
    assert!(
        parse_iban("ZZ91ABNA0417164300".as_bytes(), 0).is_none(),
        "unknown country"
    );
    assert!(
        parse_iban("NL91ABNA041716430".as_bytes(), 0).is_none(),
        "too short"
    );
    let r = Redactor::default();
    let mut v = json!(format!("IBAN:{IBAN_GB}XYZ, BIC NWBKGB2L"));
    r.redact(&mut v);
    assert_eq!(v, json!("IBAN:[REDACTED:iban]XYZ, BIC NWBKGB2L"));
}
