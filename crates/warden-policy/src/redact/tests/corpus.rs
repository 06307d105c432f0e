//! The corpus: every planted secret in a tools/call and a tool result is gone, with the right pointers and counts; idempotence; escapes.

use super::*;

#[test]
fn every_secret_in_a_tools_call_is_gone() {
    let r = Redactor::default();
    let mut v = tools_call();
    let reps = r.redact(&mut v);
    let out = serde_json::to_string(&v).unwrap();
    for secret in all_secrets() {
        assert!(!out.contains(secret), "{secret} survived in {out}");
    }
    // Surrounding text and unrelated fields survive.
    let args = "/params/arguments";
    assert_eq!(
        text_at(&v, &format!("{args}/note")),
        "clone with [REDACTED:github_token] then ping [REDACTED:email] when done"
    );
    assert_eq!(text_at(&v, &format!("{args}/aws/region")), "eu-west-1");
    assert_eq!(
        text_at(&v, &format!("{args}/env/0")),
        "OPENAI_API_KEY=[REDACTED:openai_key]"
    );
    assert_eq!(
        text_at(&v, &format!("{args}/a~1b~0c")),
        "sts [REDACTED:aws_access_key]"
    );
    assert_eq!(
        v.pointer(&format!("{args}/tokens_used")),
        Some(&json!(1234))
    );
    assert_eq!(text_at(&v, &format!("{args}/model")), "tokenizer");
    assert_eq!(text_at(&v, &format!("{args}/payment/currency")), "EUR");
    assert_eq!(
        text_at(&v, "/params/_meta/headers/Authorization"),
        KEY_MARKER,
        "Authorization is a key rule: the whole value goes"
    );
    assert_eq!(
        text_at(&v, "/params/_meta/headers/User-Agent"),
        "warden-test/1.0"
    );
    assert_eq!(
        text_at(&v, &format!("{args}/payment/backup")),
        "[REDACTED:card_number]"
    );

    // Pointers and counts.
    let expect: &[(&str, &str, u32)] = &[
        ("/params/arguments/a~1b~0c", "aws_access_key", 1),
        ("/params/arguments/aws/access_key_id", "aws_access_key", 1),
        ("/params/arguments/db_password", "key", 1),
        ("/params/arguments/env/0", "openai_key", 1),
        ("/params/arguments/env/1", "openai_key", 1),
        ("/params/arguments/fine_grained", "github_token", 1),
        ("/params/arguments/note", "github_token", 1),
        ("/params/arguments/note", "email", 1),
        ("/params/arguments/payment/backup", "card_number", 1),
        ("/params/arguments/payment/card", "card_number", 1),
        ("/params/arguments/slack", "slack_token", 1),
        ("/params/_meta/headers/Authorization", "key", 1),
        ("/params/_meta/headers/Cookie", "key", 1),
        ("/params/_meta/headers/X-Api-Key", "key", 1),
    ];
    for &(pointer, rule, n) in expect {
        assert_eq!(count(&reps, pointer, rule), n, "{pointer} {rule}: {reps:?}");
    }
    assert_eq!(reps.len(), expect.len(), "{reps:?}");
}

#[test]
fn every_secret_in_a_tool_result_is_gone() {
    let r = Redactor::default();
    let mut v = tool_result();
    let reps = r.redact(&mut v);
    let out = serde_json::to_string(&v).unwrap();
    for secret in all_secrets() {
        assert!(!out.contains(secret), "{secret} survived in {out}");
    }
    assert_eq!(
        text_at(&v, "/result/content/0/text"),
        "Deployed.\nKey:\n[REDACTED:pem_private_key]\nDone with the key."
    );
    assert_eq!(
        text_at(&v, "/result/content/1/text"),
        "Charge [REDACTED:card_number] and [REDACTED:card_number]; refund to \
         [REDACTED:iban] or [REDACTED:iban].\n\
         log: GET /v1 Authorization: Bearer [REDACTED:bearer] 200 OK\n\
         wire [REDACTED:iban] (ref 2024-06-01)"
    );
    assert_eq!(count(&reps, "/result/content/0/text", "pem_private_key"), 1);
    assert_eq!(count(&reps, "/result/content/1/text", "card_number"), 2);
    assert_eq!(count(&reps, "/result/content/1/text", "iban"), 3);
    assert_eq!(count(&reps, "/result/content/1/text", "bearer"), 1);
    assert_eq!(reps.len(), 4, "{reps:?}");
}

#[test]
fn json_escapes_do_not_hide_secrets() {
    let r = Redactor::default();
    // `\u0041KIA…`, an escaped `@` and an escaped newline inside a PEM block.
    let text = r#"{"a":"\u0041KIAIOSFODNN7EXAMPLE","b":"jane\u0040example.com","c":"-----BEGIN PRIVATE KEY-----\nMIIE\u000aabc\n-----END PRIVATE KEY-----"}"#;
    let mut v: Value = serde_json::from_str(text).unwrap();
    let reps = r.redact(&mut v);
    assert_eq!(
        v,
        json!({"a": "[REDACTED:aws_access_key]", "b": "[REDACTED:email]", "c": "[REDACTED:pem_private_key]"})
    );
    assert_eq!(reps.len(), 3);
}

#[test]
fn jwt_inside_bearer_is_named_jwt_and_scheme_survives() {
    let r = Redactor::default();
    let mut v = json!({ "line": format!("curl -H 'authorization: Bearer {JWT}' https://x") });
    let reps = r.redact(&mut v);
    assert_eq!(
        v["line"],
        "curl -H 'authorization: Bearer [REDACTED:jwt]' https://x"
    );
    assert_eq!(
        reps,
        vec![Redaction {
            rule: "jwt".into(),
            pointer: "/line".into(),
            count: 1
        }]
    );
}

#[test]
fn truncated_pem_is_redacted_to_the_end() {
    let r = Redactor::default();
    let mut v = json!("head -c 60 id_rsa:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7");
    r.redact(&mut v);
    assert_eq!(v, json!("head -c 60 id_rsa:\n[REDACTED:pem_private_key]"));
}

#[test]
fn scan_reports_what_redact_does_and_redact_is_idempotent() {
    let r = Redactor::default();
    for original in [
        tools_call(),
        tool_result(),
        json!({"u": {"bob@example.org": 1}}),
    ] {
        let scanned = r.scan(&original);
        let mut v = original.clone();
        let reps = r.redact(&mut v);
        assert!(!reps.is_empty());
        assert_eq!(scanned, reps);
        // Twice: nothing more changes, nothing more is reported.
        let once = v.clone();
        assert!(r.redact(&mut v).is_empty());
        assert_eq!(v, once);
        assert!(r.scan(&v).is_empty());
    }
}

#[test]
fn keys_with_secrets_are_renamed() {
    let r = Redactor::default();
    let mut v = json!({"users": {
        "alice@example.com": {"role": "admin"},
        "[REDACTED:email]": "already there",
        "carol": {"mail": "carol@example.net"},
    }});
    let reps = r.redact(&mut v);
    let out = serde_json::to_string(&v).unwrap();
    assert!(!out.contains("alice") && !out.contains("carol@"), "{out}");
    assert_eq!(v["users"]["[REDACTED:email] #2"], json!({"role": "admin"}));
    assert_eq!(v["users"]["[REDACTED:email]"], "already there");
    assert_eq!(v["users"]["carol"]["mail"], "[REDACTED:email]");
    assert_eq!(count(&reps, "/users/[REDACTED:email] #2", "email"), 1);
    assert_eq!(count(&reps, "/users/carol/mail", "email"), 1);
    assert_eq!(reps.len(), 2);
}

#[test]
fn many_matches_in_one_string() {
    // Each card is exposed only once the e-mail glued to it is replaced (second pass).
    let r = Redactor::default();
    let mut v = json!("a@b.co4111111111111111 ".repeat(5_000));
    let reps = r.redact(&mut v);
    assert_eq!(
        v,
        json!("[REDACTED:email][REDACTED:card_number] ".repeat(5_000))
    );
    assert_eq!(count(&reps, "", "email"), 5_000);
    assert_eq!(count(&reps, "", "card_number"), 5_000);
}

#[test]
fn redactor_is_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Redactor>();
}

#[test]
fn redaction_output_never_contains_secrets() {
    let r = Redactor::default();
    let mut v = tools_call();
    let reps = r.redact(&mut v);
    let debug = format!("{reps:?}");
    let json = serde_json::to_string(&reps).unwrap();
    for secret in all_secrets() {
        assert!(!debug.contains(secret) && !json.contains(secret));
    }
}
