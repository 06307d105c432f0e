//! Configuration parsing and validation.

use super::*;

#[test]
fn config_parsing_and_validation() {
    let cfg: RedactConfig = serde_json::from_value(json!({
        "keys": ["pin", "session-id"],
        "detectors": ["email", "jwt"],
        "custom": [{"id": "internal_ticket", "pattern": "TICKET-[0-9]{6}"},
                   {"id": "kv", "pattern": "pin=(?P<secret>[0-9]+)"}],
        "disabled": ["jwt"],
    }))
    .unwrap();
    let r = Redactor::new(&cfg).unwrap();
    assert_eq!(
        r.detector_ids().collect::<Vec<_>>(),
        ["email", "internal_ticket", "kv"]
    );
    let mut v = json!({
        "PIN": 1234, "sessionId": "abc", "token": "kept: not a key rule here",
        "t": format!("see TICKET-123456, pin=9876, {JWT}, a@b.io, {AWS}"),
    });
    let reps = r.redact(&mut v);
    assert_eq!(v["PIN"], KEY_MARKER);
    assert_eq!(v["sessionId"], KEY_MARKER);
    assert_eq!(v["token"], "kept: not a key rule here");
    assert_eq!(
        v["t"],
        json!(format!(
            "see [REDACTED:internal_ticket], pin=[REDACTED:kv], {JWT}, [REDACTED:email], {AWS}"
        ))
    );
    assert_eq!(reps.len(), 5);

    // Defaults and partial configs.
    let partial: RedactConfig =
        serde_json::from_value(json!({"disabled": ["email", "cookie"]})).unwrap();
    assert_eq!(partial.keys, RedactConfig::default().keys);
    let r = Redactor::new(&partial).unwrap();
    assert!(!r.detector_ids().any(|d| d == "email"));
    assert!(!r.keys.matches("Cookie"));
    assert!(r.keys.matches("Set-Cookie"));
    assert_eq!(
        Redactor::default().detector_ids().count(),
        BUILTIN_DETECTORS.len()
    );

    // Errors.
    let bad = |v: Value| -> RedactError {
        Redactor::new(&serde_json::from_value::<RedactConfig>(v).unwrap()).unwrap_err()
    };
    assert!(serde_json::from_value::<RedactConfig>(json!({"kyes": []})).is_err());
    assert!(matches!(
        bad(json!({"detectors": ["emial"]})),
        RedactError::UnknownDetector(_)
    ));
    assert!(matches!(
        bad(json!({"disabled": ["nope"]})),
        RedactError::UnknownDisabled(_)
    ));
    assert!(matches!(
        bad(json!({"keys": ["--"]})),
        RedactError::EmptyKey(_)
    ));
    for id in ["", "Upper", "9lives", "has space", "key"] {
        let e = bad(json!({"custom": [{"id": id, "pattern": "x"}]}));
        assert!(
            matches!(
                e,
                RedactError::InvalidRuleId(_) | RedactError::DuplicateRule(_)
            ),
            "{id}: {e}"
        );
    }
    assert!(matches!(
        bad(json!({"custom": [{"id": "email", "pattern": "x"}]})),
        RedactError::DuplicateRule(_)
    ));
    assert!(matches!(
        bad(json!({"custom": [{"id": "a", "pattern": "x"}, {"id": "a", "pattern": "y"}]})),
        RedactError::DuplicateRule(_)
    ));
    // Two spellings of one key rule; a custom rule and a key rule with one name.
    let r = Redactor::new(&RedactConfig {
        keys: vec!["api_key".into(), "pin".into()],
        custom: vec![CustomRule {
            id: "pin".into(),
            pattern: "PIN-[0-9]{4}".into(),
        }],
        disabled: vec!["apikey".into(), "api-key".into(), "pin".into()],
        ..RedactConfig::default()
    })
    .unwrap();
    assert!(!r.keys.matches("api_key") && !r.keys.matches("pin"));
    assert!(!r.detector_ids().any(|d| d == "pin"));
    let e = bad(json!({"custom": [{"id": "broken", "pattern": "("}]}));
    assert!(matches!(e, RedactError::InvalidPattern { .. }));
    assert!(e.to_string().contains("broken"));
}

#[test]
fn custom_rule_matching_the_marker_stays_idempotent() {
    let cfg = RedactConfig {
        custom: vec![
            CustomRule {
                id: "redacted_word".into(),
                pattern: "REDACTED".into(),
            },
            CustomRule {
                id: "empty".into(),
                pattern: "x*".into(),
            },
            CustomRule {
                id: "brackets".into(),
                pattern: r"\][^\]]*\[".into(),
            },
        ],
        ..RedactConfig::default()
    };
    let r = Redactor::new(&cfg).unwrap();
    let mut v = json!([
        "REDACTED here",
        "[REDACTED:email] and [REDACTED:jwt]",
        "plain"
    ]);
    let first = r.redact(&mut v);
    assert!(!first.is_empty());
    let once = v.clone();
    assert!(r.redact(&mut v).is_empty(), "{v}");
    assert_eq!(v, once);
    assert_eq!(v[2], "plain");
}
