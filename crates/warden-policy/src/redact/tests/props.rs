//! Properties: redaction is total and idempotent, and the fast path never misses what the walk finds.

use super::*;
use proptest::prelude::*;

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(AWS.to_owned()),
        Just(GH_CLASSIC.to_owned()),
        Just(SLACK.to_owned()),
        Just(OPENAI_LEGACY.to_owned()),
        Just(JWT.to_owned()),
        Just("-----BEGIN PRIVATE KEY-----".to_owned()),
        Just("-----END PRIVATE KEY-----".to_owned()),
        Just("Bearer ".to_owned()),
        Just(CARD_SPACED.to_owned()),
        Just("4111111111111111".to_owned()),
        Just(EMAIL.to_owned()),
        Just(IBAN_DE.to_owned()),
        Just(IBAN_GB.to_owned()),
        Just("+1 415 555 2671".to_owned()),
        Just("(555) 010-0199".to_owned()),
        Just("[REDACTED:".to_owned()),
        Just("]".to_owned()),
        Just("eyJ".to_owned()),
        Just("@".to_owned()),
        "[0-9 -]{0,24}",
        "[A-Z0-9 ]{0,12}",
        "[a-z0-9._@+-]{0,12}",
        "[A-Za-z0-9_-]{0,40}",
        "\\PC{0,8}",
        any::<String>(),
    ]
}

fn jsonish() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..10).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn redaction_is_total_and_never_adds_matches(s in jsonish(), k in jsonish()) {
        let r = Redactor::default();
        let before = raw_matches(&r, &s);
        let mut obj = Map::new();
        obj.insert(k.clone(), json!(s.clone()));
        obj.insert("text".to_owned(), json!(s.clone()));
        let mut v = json!([s.clone(), Value::Object(obj), {"nested": [s.clone()]}]);
        let scanned = r.scan(&v);
        let reps = r.redact(&mut v);
        prop_assert_eq!(&scanned, &reps);
        let redacted = v[0].as_str().unwrap().to_owned();
        let after = raw_matches(&r, &redacted);
        prop_assert!(after <= before);
        prop_assert_eq!(after, 0);
        // Idempotent.
        let once = v.clone();
        prop_assert!(r.redact(&mut v).is_empty());
        prop_assert_eq!(&v, &once);
        // A string with no matches is untouched.
        if before == 0 {
            prop_assert_eq!(redacted, s.as_str());
        }
    }

    #[test]
    fn card_scanner_never_panics_on_digit_soup(s in "[0-9 .a-]{0,80}") {
        let r = Redactor::default();
        let mut v = json!(s);
        r.redact(&mut v);
        prop_assert!(r.scan(&v).is_empty());
    }
}

#[test]
fn may_redact_agrees_with_redact_on_the_corpus_and_clean_messages() {
    let r = Redactor::default();
    let clean = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/app/data/q3.csv","max_tokens":12,"encoding":"utf-8"}}}"#;
    assert!(!r.may_redact(clean));
    let mut v: Value = serde_json::from_slice(clean).unwrap();
    assert!(r.redact(&mut v).is_empty());
    for doc in [tools_call(), tool_result()] {
        let raw = serde_json::to_vec(&doc).unwrap();
        let mut v = doc.clone();
        if !r.redact(&mut v).is_empty() {
            assert!(r.may_redact(&raw), "{}", String::from_utf8_lossy(&raw));
        }
    }
    assert!(r.may_redact(br#"{"auth_token":"x"}"#), "a sensitive key");
    assert!(
        r.may_redact(br#"{"X-Api-Key" : 1}"#),
        "a sensitive key, any separators"
    );
    assert!(!r.may_redact(br#"{"tokens_used": 3}"#));
    assert!(
        r.may_redact(br#"{"n": 4111111111111111}"#),
        "a card as a bare number"
    );
    assert!(
        r.may_redact(br#"{"s":"line\nBearer abcdefghijklmnopqrstuvwxyz"}"#),
        "escapes: build the tree"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]
    #[test]
    fn may_redact_never_misses_what_redact_finds(doc in json_doc()) {
        let r = Redactor::default();
        let raw = serde_json::to_vec(&doc).unwrap();
        let mut v = doc.clone();
        let found = r.redact(&mut v);
        if !found.is_empty() {
            prop_assert!(r.may_redact(&raw), "missed {found:?} in {}", String::from_utf8_lossy(&raw));
        }
    }
}

pub(super) fn json_doc() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "path",
        "query",
        "password",
        "apiKey",
        "X-Auth-Token",
        "tokens_used",
        "note",
        "email",
        "n",
        "headers",
    ]);
    let secrets = prop::sample::select(vec![
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_1234567890abcdefghijABCDEFGHIJklmnop",
        "jane.doe@example.com",
        "4111 1111 1111 1111",
        "DE89370400440532013000",
        "Bearer abcdef0123456789abcdef0123456789",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijklmnop",
        "plain words",
        "call (555) 010-0199",
        "+44 20 7946 0958",
        "1234",
    ]);
    let leaf = prop_oneof![
        (secrets.clone(), "[a-z \\-]{0,12}")
            .prop_map(|(s, pad)| Value::String(format!("{pad}{s}{pad}"))),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(4_111_111_111_111_111_u64)),
        Just(Value::Null),
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..4).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
    /// The block-wise digit search finds exactly the first digit a byte loop finds, wherever it
    /// sits: before, inside or after a 32-byte block, in the remainder, or nowhere.
    #[test]
    fn first_digit_agrees_with_a_byte_loop(
        text in proptest::collection::vec(prop_oneof![8 => b'a'..=b'z', 1 => b'/'..=b':', 1 => any::<u8>()], 0..200),
        skip in 0usize..200,
    ) {
        let from = skip.min(text.len());
        let b = &text[from..];
        prop_assert_eq!(
            crate::redact::detect::digits::first_digit(b),
            b.iter().position(u8::is_ascii_digit)
        );
    }
}

#[test]
fn first_digit_on_block_edges() {
    use crate::redact::detect::digits::first_digit;
    for len in [0usize, 1, 31, 32, 33, 63, 64, 65, 100] {
        let none = vec![b'x'; len];
        assert_eq!(first_digit(&none), None, "len {len}");
        for at in 0..len {
            let mut one = none.clone();
            one[at] = b'7';
            assert_eq!(first_digit(&one), Some(at), "len {len} at {at}");
            // `/` and `:` sit on either side of the digits.
            one[at] = if at % 2 == 0 { b'/' } else { b':' };
            assert_eq!(first_digit(&one), None, "len {len} at {at}");
        }
    }
}
