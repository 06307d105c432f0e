//! The spans returned with the audit copy are the ones `parse_frame` + `classify` find in the
//! stored bytes, the copy is `audit_copy`'s, and `strict` is `strict::check`'s verdict.

use super::*;

/// The spans the proxy used to get: the stored bytes parsed and classified again.
fn reparsed(stored: &[u8]) -> Vec<CopySpans> {
    let Ok(env) = warden_core::parse_frame(stored) else {
        return Vec::new();
    };
    env.messages
        .iter()
        .map(|m| {
            let c = warden_core::classify(stored, m, None);
            CopySpans {
                args: c.args,
                body: c.body,
            }
        })
        .collect()
}

const SECRET: &str = "alice@example.com";

fn corpus() -> Vec<String> {
    let call = |args: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"send","arguments":{args}}}}}"#
        )
    };
    let mut c = vec![
        call(&format!(r#"{{"to":"{SECRET}","body":"hi"}}"#)),
        call(r#"{"password":"hunter2","n":[1,2,{"k":"v"}]}"#),
        call(r#"{"s":"\u0061lice@example.com \u00e9\ud83d\ude00"}"#),
        call(r#"null"#).replace("\"name\":\"send\"", &format!("\"name\":\"{SECRET}\"")),
        call(r#"[1,2]"#).replace("\"send\"", &format!("\"{SECRET}\"")),
        format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{{"name":"p","arguments":{{"a":"{SECRET}"}}}}}}"#
        ),
        format!(
            r#"{{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{{"uri":"mailto:{SECRET}"}}}}"#
        ),
        format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"data":"{SECRET}"}}}}"#
        ),
        format!(
            r#"{{"jsonrpc":"2.0","id":"r","result":{{"content":[{{"type":"text","text":"{SECRET}"}}]}}}}"#
        ),
        format!(
            r#"{{"jsonrpc":"2.0","id":4,"error":{{"code":-1,"message":"{SECRET}"}},"result":null}}"#
        ),
        format!(r#"{{"jsonrpc":"2.0","id":null,"result":"{SECRET}"}}"#),
        format!(r#"{{"jsonrpc":"2.0","id":5,"method":7,"params":{{"a":"{SECRET}"}}}}"#),
        format!(r#"{{"jsonrpc":"2.0","id":5,"method":"x","params":null,"note":"{SECRET}"}}"#),
        format!(
            r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"t","arguments":null,"x":"{SECRET}"}}}}"#
        ),
        format!(
            r#"["{SECRET}",{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"a","arguments":{{"e":"{SECRET}"}}}}}},[1],{{"jsonrpc":"2.0","id":2,"result":{{"x":"{SECRET}"}}}}]"#
        ),
        format!(
            r#"[{{"jsonrpc":"2.0","id":1,"method":"ping"}},{{"jsonrpc":"2.0","method":"n","params":{{"{SECRET}":1}}}}]"#
        ),
        format!(r#""{SECRET}""#),
        // Beyond the strict limits: redacted as a tree, but not strict.
        call(&format!(r#"{{"big":9007199254740993,"to":"{SECRET}"}}"#)),
        call(&format!(r#"{{"f":1.5e300,"to":"{SECRET}"}}"#)),
        call(&format!(
            r#"{{"deep":{}{}"to":"{SECRET}"}}"#,
            "[".repeat(70),
            "]".repeat(70) + ","
        )),
        call(&format!(
            r#"{{"deep":{}{}"to":"{SECRET}"}}"#,
            "[".repeat(58),
            "]".repeat(58) + ","
        )),
        // Not one tree: scanned as text.
        call(&format!(r#"{{"to":"{SECRET}","to":"x"}}"#)),
        call(&format!(r#"{{"to":"{SECRET}","s":"\ud800"}}"#)),
        // Clean.
        call(r#"{"path":"/tmp/a"}"#),
        call(r#"{"s":"caf\u00e9"}"#),
    ];
    c.push(format!("{}\n", c[0]));
    c
}

#[test]
fn spans_are_those_of_the_stored_copy() {
    let r = Redactor::default();
    let mut kinds = [0usize; 3];
    for f in corpus() {
        let raw = f.as_bytes();
        let got = r.audit_copy_spanned(raw);
        assert_eq!(got.copy, r.audit_copy(raw), "{f}");
        match &got.copy {
            AuditCopy::Clean => {
                kinds[0] += 1;
                assert!(got.spans.is_empty() && !got.strict, "{f}");
            }
            copy => {
                let stored = copy.text().unwrap_or(raw);
                assert_eq!(got.spans, reparsed(stored), "{f}");
                for (i, s) in got.spans.iter().enumerate() {
                    assert_eq!(got.spans_of(i), *s);
                }
                let strict = warden_core::strict::check(stored).is_ok();
                if matches!(copy, AuditCopy::Redacted { .. }) {
                    kinds[1] += 1;
                    assert_eq!(got.strict, strict, "{f}");
                    let tree: Value = serde_json::from_slice(stored).unwrap_or_default();
                    assert_eq!(
                        serde_json::to_vec(&tree).ok().as_deref(),
                        Some(stored),
                        "{f}"
                    );
                } else {
                    kinds[2] += 1;
                    assert!(!got.strict, "{f}");
                }
            }
        }
    }
    assert!(kinds.iter().all(|&k| k >= 2), "{kinds:?}");
}

#[test]
fn a_clean_copy_is_not_made() {
    let r = Redactor::default();
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"w","arguments":{{"content":"{}"}}}}}}"#,
        "lorem ipsum dolor sit amet ".repeat(40_000)
    );
    let got = r.audit_copy_spanned(big.as_bytes());
    assert_eq!(got.copy, AuditCopy::Clean);
    assert!(got.spans.is_empty());
}

proptest::proptest! {
    #[test]
    fn spans_agree_on_generated_messages(
        keys in proptest::collection::vec("(name|arguments|params|result|error|id|method|password|to|x)", 1..6),
        vals in proptest::collection::vec(r#"("alice@example.com"|"tools/call"|1|null|\{"a":"b@c.io"\}|\[1,"x"\]|"\\u00e9")"#, 1..6),
        batch in proptest::bool::ANY,
    ) {
        let r = Redactor::default();
        let members: Vec<String> = keys.iter().zip(&vals).map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let params = format!("{{{}}}", members.join(","));
        let msg = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{params},"result":{params}}}"#);
        let bare = format!("{{{}}}", members.join(","));
        let f = if batch { format!("[{msg},{bare}]") } else { msg };
        let got = r.audit_copy_spanned(f.as_bytes());
        if got.copy != AuditCopy::Clean {
            let stored = got.copy.text().unwrap_or(f.as_bytes());
            proptest::prop_assert_eq!(&got.spans, &reparsed(stored));
        }
    }
}
