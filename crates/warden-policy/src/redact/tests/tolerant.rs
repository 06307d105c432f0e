//! Fail closed: text that is not one JSON tree (lone surrogates, invalid UTF-8, deep nesting,
//! duplicate members, cut short, not JSON) is still redacted, never called clean, and its
//! findings still block.

use super::*;
use proptest::prelude::*;

fn copy_text(c: &AuditCopy) -> String {
    String::from_utf8_lossy(c.text().expect("the copy changed")).into_owned()
}

fn has(found: &[Redaction], rule: &str, pointer: &str) -> bool {
    found.iter().any(|r| r.rule == rule && r.pointer == pointer)
}

#[test]
fn a_result_with_half_an_emoji_is_still_redacted() {
    let r = Redactor::default();
    // A server cut an emoji in half: serde_json refuses the lone surrogate, the walk never runs.
    let raw = format!(
        r#"{{"jsonrpc":"2.0","id":3,"result":{{"content":[{{"type":"text","text":"cut \ud83d here"}},{{"type":"text","text":"key {AWS} mail {EMAIL}"}}],"db_password":"{PASSWORD}","n":4111111111111111,"esc":"\u0041KIAIOSFODNN7EXAMPLE"}}}}"#
    );
    assert!(serde_json::from_str::<Value>(&raw).is_err());
    let c = r.audit_copy(raw.as_bytes());
    let out = copy_text(&c);
    for secret in [AWS, EMAIL, PASSWORD, "4111111111111111"] {
        assert!(!out.contains(secret), "{secret} in {out}");
    }
    assert_eq!(c.label(), "redacted");
    let found = c.found();
    assert!(
        has(found, "aws_access_key", "/result/content/1/text"),
        "{found:?}"
    );
    assert!(has(found, "email", "/result/content/1/text"));
    assert!(has(found, "key", "/result/db_password"));
    assert!(has(found, "card_number", "/result/n"));
    assert!(
        has(found, "aws_access_key", "/result/esc"),
        "escapes do not hide"
    );
    // The untouched string keeps its bytes; the rest still reads as JSON-RPC.
    assert!(out.contains(r#""cut \ud83d here""#), "{out}");
    assert!(out.contains(r#""db_password":"[REDACTED:key]""#), "{out}");
    // Redacting the copy again finds nothing more.
    assert!(r.audit_copy(out.as_bytes()).found().is_empty());
}

#[test]
fn what_cannot_be_parsed_is_never_clean() {
    let r = Redactor::default();
    let lone = br#"{"jsonrpc":"2.0","id":1,"result":{"text":"\ud800"}}"#;
    let c = r.audit_copy(lone);
    assert_eq!(
        c,
        AuditCopy::Scanned {
            text: None,
            found: vec![]
        }
    );
    assert_eq!(c.label(), "scanned");
    for text in [&b"hello"[..], b"", b"{\"a\":", b"\xff\xfe"] {
        assert_eq!(r.audit_copy_unparsed(text, false).label(), "scanned");
    }
    let clean = br#"{"jsonrpc":"2.0","id":1,"result":{"text":"fine"}}"#;
    assert_eq!(r.audit_copy(clean), AuditCopy::Clean);
}

#[test]
fn invalid_utf8_gets_key_rules_and_detectors() {
    let r = Redactor::default();
    let mut raw = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"note":"bad "#.to_vec();
    raw.extend_from_slice(b"\xff\xfe byte");
    raw.extend_from_slice(format!(r#"","api_key":"{X_API_KEY}","to":"{EMAIL}"}}}}}}"#).as_bytes());
    let c = r.audit_copy(&raw);
    let out = copy_text(&c);
    assert!(!out.contains(X_API_KEY) && !out.contains(EMAIL), "{out}");
    assert!(
        has(c.found(), "key", "/params/arguments/api_key"),
        "{:?}",
        c.found()
    );
    assert!(out.contains("bad \u{FFFD}\u{FFFD} byte"), "{out}");
}

#[test]
fn deep_nesting_is_scanned_with_a_bounded_pointer() {
    let r = Redactor::default();
    let depth = 300;
    let raw = format!(
        r#"{}{{"token":"t0ps3cret","note":"{EMAIL}","list":[{{"password":{{"deep":[1,2]}}}}]}}{}"#,
        r#"{"a":"#.repeat(depth),
        "}".repeat(depth)
    );
    assert!(
        serde_json::from_str::<Value>(&raw).is_err(),
        "deeper than serde_json allows"
    );
    let c = r.audit_copy(raw.as_bytes());
    let out = copy_text(&c);
    assert!(!out.contains("t0ps3cret") && !out.contains(EMAIL), "{out}");
    assert!(out.contains(r#""password":"[REDACTED:key]"}]"#), "{out}");
    assert_eq!(c.found().len(), 3, "{:?}", c.found());
    let p = &c.found()[0].pointer;
    assert_eq!(p, &"/a".repeat(64), "the first 64 levels");
}

#[test]
fn every_copy_of_a_duplicated_member_is_redacted_and_blocks() {
    let cfg = RedactConfig {
        block_on_detect: vec!["key".into(), "aws_access_key".into()],
        ..RedactConfig::default()
    };
    let r = Redactor::new(&cfg).unwrap();
    let raw = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x","arguments":{{"password":"first-copy","password":"second-copy","note":"{AWS}","note":"fine"}}}}}}"#
    );
    // serde_json keeps the last copy: a walk of the tree would never see the first ones.
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["params"]["arguments"]["note"], "fine");
    let c = r.audit_copy(raw.as_bytes());
    let out = copy_text(&c);
    for secret in ["first-copy", "second-copy", AWS] {
        assert!(!out.contains(secret), "{secret} in {out}");
    }
    let found = c.found();
    assert_eq!(
        found
            .iter()
            .filter(|f| f.pointer == "/params/arguments/password")
            .count(),
        2,
        "{found:?}"
    );
    assert_eq!(r.blocking(found, "/params"), ["key", "aws_access_key"]);
    // In a batch too.
    let batch = format!("[{raw},{raw}]");
    let c = r.audit_copy(batch.as_bytes());
    assert!(!r.blocking(c.found(), "/1/params").is_empty());
}

#[test]
fn findings_of_unknown_place_block_in_every_scope() {
    let cfg = RedactConfig {
        block_on_detect: vec!["aws_access_key".into()],
        ..RedactConfig::default()
    };
    let r = Redactor::new(&cfg).unwrap();
    let line = format!("not json at all, but it carries {AWS}");
    let c = r.audit_copy_unparsed(line.as_bytes(), false);
    assert!(!copy_text(&c).contains(AWS));
    assert!(has(c.found(), "aws_access_key", ""));
    assert_eq!(r.blocking(c.found(), "/params"), ["aws_access_key"]);
    // A truncated request: the pointer is still followed.
    let cut = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"arguments":{{"k":"{AWS}","more":"tex"#
    );
    let c = r.audit_copy_unparsed(cut.as_bytes(), false);
    assert!(
        has(c.found(), "aws_access_key", "/params/arguments/k"),
        "{:?}",
        c.found()
    );
    assert_eq!(r.blocking(c.found(), "/params"), ["aws_access_key"]);
}

#[test]
fn text_cut_short_keeps_no_part_of_its_last_word() {
    let r = Redactor::default();
    for (cut, gone) in [
        (r#"{"id":1,"result":{"text":"card 4111 1111 1111"#, "1111"),
        (
            r#"{"id":1,"result":{"text":"Authorization: Bearer abcdef12"#,
            "abcdef12",
        ),
        (r#"{"id":1,"result":{"text":"id AKIAIOSFOD"#, "AKIAIOSFOD"),
        ("plain words then ghp_wWPw5k4a", "ghp_"),
    ] {
        let c = r.audit_copy_unparsed(cut.as_bytes(), true);
        let out = copy_text(&c);
        assert!(!out.contains(gone), "{gone} in {out}");
        assert!(out.ends_with("[REDACTED:truncated]"), "{out}");
        assert!(has(c.found(), "truncated", ""));
    }
    // Not cut: nothing extra.
    let c = r.audit_copy_unparsed(b"{\"text\":\"plain words\"", false);
    assert_eq!(c.text(), None);
}

#[test]
fn key_rules_mask_any_value_shape_in_text() {
    let r = Redactor::default();
    let raw = r#"{"x":"\udead","pin": 1234, "auth": {"user": "u", "pass": ["p", {"q": "}"}]}, "ok": "kept", "secret": null, "token": "[REDACTED:key]"}"#;
    let c = r.audit_copy(raw.as_bytes());
    let out = copy_text(&c);
    assert_eq!(
        out,
        r#"{"x":"\udead","pin": "[REDACTED:key]", "auth": "[REDACTED:key]", "ok": "kept", "secret": "[REDACTED:key]", "token": "[REDACTED:key]"}"#
    );
    assert_eq!(c.found().len(), 3, "{:?}", c.found());
    // An object that never closes goes to the end.
    let c = r.audit_copy_unparsed(br#"{"password": {"a": "b", "c": "#, false);
    assert_eq!(copy_text(&c), r#"{"password": "[REDACTED:key]""#);
}

#[test]
fn single_fields_are_redacted() {
    let r = Redactor::default();
    let (s, f) = r.redact_str("tools/call");
    assert!(matches!(s, std::borrow::Cow::Borrowed("tools/call")) && f.is_empty());
    let (s, f) = r.redact_str("postgres://app:s3cret@db/prod");
    assert_eq!(s, "postgres://app:[REDACTED:uri_password]@db/prod");
    assert_eq!(f[0].rule, "uri_password");
    let (s, f) = r.redact_str("https://api.example.com/v1?page=2&api_key=abc123&q=x;token=t");
    assert_eq!(
        s,
        "https://api.example.com/v1?page=2&api_key=[REDACTED:key]&q=x;token=[REDACTED:key]"
    );
    assert_eq!((f[0].rule.as_str(), f[0].count), ("key", 2));
    let agent = format!("agent {AWS}");
    assert_eq!(r.redact_str(&agent).0, "agent [REDACTED:aws_access_key]");
    assert_eq!(r.redact_str("file:///home/me/notes.txt?rev=2").1, vec![]);
    assert_eq!(
        r.redact_json_text(&format!("\"{AWS}\"")),
        "\"[REDACTED:aws_access_key]\""
    );
    assert_eq!(
        r.redact_json_text("\"\\u0041KIAIOSFODNN7EXAMPLE\""),
        "\"[REDACTED:aws_access_key]\""
    );
    assert_eq!(r.redact_json_text("7"), "7");
    assert_eq!(
        r.redact_json_text("4111111111111111"),
        "\"[REDACTED:card_number]\""
    );
}

#[test]
fn lenient_decoding() {
    use super::super::tolerant::decode;
    assert_eq!(
        decode(r"a\nb\u00e9\ud83d\ude00\ud800x\q\"),
        "a\nbé😀\u{FFFD}x\\q\\"
    );
    assert_eq!(decode(r"\u12"), "\\u12");
    assert_eq!(decode("plain"), "plain");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// The text scan finds everything the tree walk finds, at the same pointers.
    #[test]
    fn the_text_scan_finds_what_the_walk_finds(doc in super::props::json_doc()) {
        let r = Redactor::default();
        let mut walked = doc.clone();
        let mut want: Vec<(String, String, u32)> = r
            .redact(&mut walked)
            .into_iter()
            .map(|f| (f.rule, format!("/0{}", f.pointer), f.count))
            .collect();
        // The lone surrogate makes serde_json refuse the whole text.
        let raw = format!("[{},\"\\udc00\"]", serde_json::to_string(&doc).unwrap());
        let c = r.audit_copy(raw.as_bytes());
        let mut got: Vec<(String, String, u32)> = c
            .found()
            .iter()
            .map(|f| (f.rule.clone(), f.pointer.clone(), f.count))
            .collect();
        want.sort();
        got.sort();
        prop_assert_eq!(&got, &want, "{}", raw);
        let out = c.text().map(|t| String::from_utf8_lossy(t).into_owned()).unwrap_or(raw.clone());
        let walked = serde_json::to_string(&walked).unwrap();
        for secret in ["AKIAIOSFODNN7EXAMPLE", "jane.doe@example.com", "DE89370400440532013000", "4111 1111 1111 1111", "abcdef0123456789abcdef0123456789"] {
            if !walked.contains(secret) {
                prop_assert!(!out.contains(secret), "{} in {}", secret, out);
            }
        }
    }

    #[test]
    fn the_text_scan_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200), s in "\\PC{0,80}", cut: bool) {
        let r = Redactor::default();
        let _ = r.audit_copy_unparsed(&bytes, cut);
        let _ = r.audit_copy(&bytes);
        let c = r.audit_copy_unparsed(s.as_bytes(), cut);
        if let Some(t) = c.text() {
            let again = r.audit_copy_unparsed(t, false);
            prop_assert!(again.found().is_empty(), "idempotent: {:?}", again);
        }
    }
}
