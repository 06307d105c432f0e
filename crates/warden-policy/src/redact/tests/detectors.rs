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
        "not_phone": "2024-01-15 12:30:00 from 10.0.0.1 running 1.2.3 (build 4567)",
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

const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const ANTHROPIC: &str = "sk-ant-api03-R2D2C3POr2d2c3poR2D2C3POr2d2c3poR2D2C3POr2d2c3poR2D2C3POr2d2c3po-AbCdEfGhIjKlMnOpQrStUvWxYz012345AA";
const GOOGLE: &str = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY";

fn redacted(r: &Redactor, s: &str) -> String {
    let mut v = json!(s);
    r.redact(&mut v);
    v.as_str().unwrap().to_owned()
}

#[test]
fn new_detectors_find_cloud_keys_uri_passwords_and_basic_credentials() {
    assert_eq!(GOOGLE.len(), 39);
    let r = Redactor::default();
    // Short strings take the byte-loop prefilter, long ones the literal set: both are tried.
    let pad = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. ";
    for prefix in ["", pad] {
        let cases = [
            (
                format!("aws_secret_access_key = {AWS_SECRET}"),
                "aws_secret_access_key = [REDACTED:aws_secret_key]",
            ),
            (
                format!("AWS_SECRET_ACCESS_KEY={AWS_SECRET}\n"),
                "AWS_SECRET_ACCESS_KEY=[REDACTED:aws_secret_key]\n",
            ),
            (
                format!(r#"{{"SecretAccessKey": "{AWS_SECRET}"}}"#),
                r#"{"SecretAccessKey": "[REDACTED:aws_secret_key]"}"#,
            ),
            (
                format!("AKIAIOSFODNN7EXAMPLE,{AWS_SECRET}"),
                "[REDACTED:aws_access_key],[REDACTED:aws_secret_key]",
            ),
            (
                "DATABASE_URL=postgres://app:s3cr3t-P4ss@db:5432/prod".to_owned(),
                "DATABASE_URL=postgres://app:[REDACTED:uri_password]@db:5432/prod",
            ),
            (
                "https://u:p@host/x".to_owned(),
                "https://u:[REDACTED:uri_password]@host/x",
            ),
            (
                "mongodb+srv://admin:pa:ss?#w0rd@cluster0".to_owned(),
                "mongodb+srv://admin:[REDACTED:uri_password]@cluster0",
            ),
            (
                "Authorization: Basic dXNlcjpwYXNzd29yZA==".to_owned(),
                "Authorization: Basic [REDACTED:basic_auth]",
            ),
            (
                "curl -H 'authorization: basic YTpi' x".to_owned(),
                "curl -H 'authorization: basic [REDACTED:basic_auth]' x",
            ),
            (format!("key {ANTHROPIC}."), "key [REDACTED:anthropic_key]."),
            (
                format!("maps?key={GOOGLE}&q=1"),
                "maps?key=[REDACTED:google_api_key]&q=1",
            ),
        ];
        for (input, want) in cases {
            let input = format!("{prefix}{input}");
            assert_eq!(redacted(&r, &input), format!("{prefix}{want}"), "{input}");
            assert!(r.may_redact(serde_json::to_string(&input).unwrap().as_bytes()));
        }
    }
}

#[test]
fn new_detectors_leave_look_alikes_alone() {
    let r = Redactor::default();
    for clean in [
        // 40 base64-ish characters with no AWS context, and a git hash.
        "commit da39a3ee5e6b4b0d3255bfef95601890afd80709 by jane",
        "secret: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYX",
        "http://localhost:8080/path@v2",
        "ssh://build-host:22/org/repo.git",
        "see https://example.com:443/a?b=c",
        "Basic usage of the API is described below.",
        "basic information",
        "BASIC programming, Basic auth is supported",
        "sk-ant-short",
        "AIza is not a key",
    ] {
        let mut v = json!(clean);
        assert!(r.redact(&mut v).is_empty(), "{clean} -> {v}");
    }
}

#[test]
fn every_prefilter_literal_reports_its_detector() {
    use super::super::detect::patterns::{BUILTINS, quick_anchor};
    let r = Redactor::default();
    for (i, b) in BUILTINS.iter().enumerate() {
        assert_eq!(b.bit, 1 << i, "{}", b.id);
        assert!(BUILTIN_DETECTORS.contains(&b.id), "{}", b.id);
        for a in b.anchors {
            assert_ne!(quick_anchor(a.as_bytes()) & b.bit, 0, "{} {a}", b.id);
            let long = format!("{}{a}", "x".repeat(80));
            assert_ne!(r.literal_bits(&long) & b.bit, 0, "{} {a}", b.id);
        }
    }
    assert_eq!(BUILTINS.len(), BUILTIN_DETECTORS.len());
}
