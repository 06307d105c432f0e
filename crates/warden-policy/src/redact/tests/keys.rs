//! Key rules: whole-word matching, any value type, protocol keys.

use super::*;

#[test]
fn key_rules_match_whole_words() {
    let r = Redactor::default();
    let redacted = [
        "password",
        "PASSWORD",
        "db_password",
        "dbPassword",
        "password2",
        "user.password",
        "passwd",
        "token",
        "auth_token",
        "authToken",
        "access_token",
        "AccessToken",
        "refresh-token",
        "tokenCount",
        "token_type",
        "nextPageToken",
        "secret",
        "client_secret",
        "clientSecret",
        "aws_secret_access_key",
        "api_key",
        "apiKey",
        "APIKey",
        "x-api-key",
        "X-Api-Key",
        "apikey",
        "APIKEY",
        "Authorization",
        "proxy-authorization",
        "cookie",
        "Cookie",
        "set-cookie",
        "Set-Cookie",
        "private_key",
        "privateKey",
        "ssn",
        "SSN",
        "ssn_last4",
        "credit_card",
        "creditCardNumber",
        "session token",
    ];
    for key in redacted {
        assert!(r.keys.matches(key), "{key} should be redacted");
    }
    let kept = [
        "tokens_used",
        "max_tokens",
        "input_tokens",
        "tokenizer",
        "tokens",
        "passwords",
        "cookies",
        "secretary",
        "keys",
        "key",
        "api",
        "authorized",
        "credit",
        "card",
        "lessn",
        "monkey",
        "private",
        "access",
        "refresh",
        "client",
        "passport",
        "",
        "_",
        "apiKeys",
    ];
    for key in kept {
        assert!(!r.keys.matches(key), "{key} should not be redacted");
    }
    // Long keys take the heap path.
    let long = format!("{}_password", "x".repeat(100));
    assert!(r.keys.matches(&long));
    assert!(!r.keys.matches(&"tokens_".repeat(30)));
}

#[test]
fn key_rule_replaces_any_type() {
    let r = Redactor::default();
    let mut v = json!({
        "secret": {"nested": {"deep": [1, 2, 3]}},
        "set-cookie": ["a=1", "b=2"],
        "ssn": 123456789,
        "password": null,
        "token_count": 5,
        "tokens_used": 5,
    });
    let reps = r.redact(&mut v);
    assert_eq!(
        v,
        json!({
            "secret": KEY_MARKER, "set-cookie": KEY_MARKER, "ssn": KEY_MARKER,
            "password": KEY_MARKER, "token_count": KEY_MARKER, "tokens_used": 5,
        })
    );
    assert_eq!(reps.len(), 5);
    assert!(reps.iter().all(|r| r.rule == "key" && r.count == 1));
}

#[test]
fn protocol_keys_are_not_secrets() {
    let r = Redactor::default();
    let mut v =
        json!({"params": {"_meta": {"progressToken": "p-1"}, "arguments": {"auth_token": "x"}}});
    let found = r.redact(&mut v);
    assert_eq!(v["params"]["_meta"]["progressToken"], "p-1");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].pointer, "/params/arguments/auth_token");
    assert!(!r.may_redact(br#"{"params":{"_meta":{"progressToken":7}}}"#));
}

#[test]
fn new_key_rules_match_whole_words_and_spare_innocent_keys() {
    let r = Redactor::default();
    for key in [
        "pwd",
        "PWD",
        "db_pwd",
        "pass",
        "db_pass",
        "smtpPass",
        "passphrase",
        "keyPassphrase",
        "credential",
        "credentials",
        "aws_credentials",
        "Credentials",
        "auth",
        "AUTH",
        "basic_auth",
        "authHeader",
        "x-auth",
        "pin",
        "PIN",
        "card_pin",
        "pinCode",
        "session_key",
        "sessionKey",
        "Session-Key",
    ] {
        assert!(r.keys.matches(key), "{key} should be redacted");
    }
    for key in [
        "author",
        "authors",
        "authority",
        "authorName",
        "oauth",
        "spinner",
        "pinned",
        "isPinned",
        "opinion",
        "passage",
        "passenger",
        "passes",
        "bypass",
        "compass",
        "session",
        "session_id_hint",
        "sessions_key",
        "keystore",
    ] {
        assert!(!r.keys.matches(key), "{key} should not be redacted");
    }
    let mut v = json!({"author": "Jane", "spinner": true, "passage": "Call me Ishmael.",
        "auth": {"user": "u", "pass": "p"}, "pin": 1234, "session_key": "s"});
    let found = r.redact(&mut v);
    assert_eq!(
        v,
        json!({"author": "Jane", "spinner": true, "passage": "Call me Ishmael.",
            "auth": KEY_MARKER, "pin": KEY_MARKER, "session_key": KEY_MARKER})
    );
    assert_eq!(found.len(), 3, "{found:?}");
}

#[test]
fn key_rules_apply_to_query_parameters_inside_strings() {
    let r = Redactor::default();
    let cases = [
        (
            "https://h/x?page=2&access_token=abc.def&q=1",
            "https://h/x?page=2&access_token=[REDACTED:key]&q=1",
        ),
        (r#"curl "u?pin=1234""#, r#"curl "u?pin=[REDACTED:key]""#),
        ("?pin=9", "?pin=[REDACTED:key]"),
        (
            "file:///x?a=1;session_key=k1,then",
            "file:///x?a=1;session_key=[REDACTED:key],then",
        ),
    ];
    for (input, want) in cases {
        let mut v = json!(input);
        let found = r.redact(&mut v);
        assert_eq!(v, json!(want), "{input}");
        assert_eq!(found[0].rule, "key");
        assert!(r.may_redact(serde_json::to_string(input).unwrap().as_bytes()));
    }
    // Names that are not key rules, or not at the start of a pair; empty values; a marker.
    for clean in [
        "?max_tokens=100&author=jane&spinner=on",
        // Only query parameters: env and keyword lines are left to the detectors.
        "DB_PASSWORD=hunter2 PORT=5432",
        "request_id=7 user=jane token=abc",
        "a==b",
        "x_password_hint=",
        "?mytoken=abc",
        "?password=[REDACTED:key]",
        "?progressToken=7",
    ] {
        let mut v = json!(clean);
        assert!(r.redact(&mut v).is_empty(), "{clean} -> {v}");
    }
    // Not listed among the detectors, but blockable as `key`.
    assert!(!r.detector_ids().any(|d| d == "key"));
}
