//! The one-pass reading against the three passes it replaces: the same verdict, the same
//! envelope and the same classification on every frame, and the walk itself (not its
//! fallback) admits every frame they admit.

use super::*;
use crate::classify;
use crate::strict::{check, check_envelope};

/// The verdict and envelope of the three separate passes (as the proxy's admission runs them).
fn old(frame: &[u8]) -> Result<Envelope<'_>, Violation> {
    check(frame)?;
    let env = parse_frame(frame).map_err(|e| Violation::Syntax(e.to_string()))?;
    check_envelope(&env)?;
    Ok(env)
}

fn same_raw(a: Option<&RawValue>, b: Option<&RawValue>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => std::ptr::eq(a.get(), b.get()),
        _ => false,
    }
}

/// Asserts that [`read`] and the old passes agree on `frame`, and that the walk decides every
/// admitted frame itself. Returns whether the frame was admitted.
fn agree(frame: &[u8]) -> bool {
    let new = read(frame);
    let old = old(frame);
    let shown = String::from_utf8_lossy(frame);
    match (&new, &old) {
        (Err(a), Err(b)) => assert_eq!(a, b, "{shown}"),
        (Ok(r), Ok(env)) => {
            let e = &r.envelope;
            assert_eq!(e.kind, env.kind, "{shown}");
            assert_eq!(e.body, env.body, "{shown}");
            assert_eq!(e.messages.len(), env.messages.len(), "{shown}");
            for (i, (m, o)) in e.messages.iter().zip(&env.messages).enumerate() {
                assert_eq!(m.kind, o.kind, "{shown}");
                assert_eq!(m.method, o.method, "{shown}");
                for (a, b) in [
                    (m.jsonrpc, o.jsonrpc),
                    (m.id, o.id),
                    (m.params, o.params),
                    (m.result, o.result),
                    (m.error, o.error),
                ] {
                    assert!(same_raw(a, b), "{shown}: {a:?} vs {b:?}");
                }
                for answered in [None, Some("initialize"), Some("server/discover")] {
                    assert_eq!(
                        r.classify(i, answered),
                        Some(classify(frame, o, answered)),
                        "{shown}"
                    );
                }
            }
            assert!(fast(frame).is_some(), "the walk admits {shown}");
        }
        _ => panic!(
            "{shown}: one pass {:?}, three passes {:?}",
            new.err(),
            old.err()
        ),
    }
    assert_eq!(fast(frame).is_some(), old.is_ok(), "{shown}");
    old.is_ok()
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/a"}}}"#;

/// Frames of every class the strict tests name, the fuzz seeds, and the members
/// classification reads.
fn corpus() -> Vec<Vec<u8>> {
    let mut c: Vec<Vec<u8>> = [
        CALL.to_owned() + "\n",
        CALL.to_owned() + "\r\n",
        CALL.to_owned(),
        format!(" \t{CALL} \n"),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":"x","result":{}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":7,"result":null}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"m"}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":9007199254740991,"method":"ping"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":-3,"method":"ping","params":{}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":null}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}"#.to_owned(),
        "{\r\n \"jsonrpc\": \"2.0\",\r\n \"id\": 2,\r\n \"method\": \"ping\"\r\n}".to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"s":"\ud83d\ude00 é ✓ \u00e9\n\"\\\/\b\f\r\t"}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"name":{"name":1}}}}"#.to_owned(),
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"}]"#.to_owned(),
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"k":[1,2.5,-0.5e3,true,false,null]}}},{"jsonrpc":"2.0","id":"r","result":{"protocolVersion":"2025-03-26","serverInfo":{"name":"s","version":"1"}}}]"#.to_owned(),
        // Members with escaped names, nulls, and every member classification reads.
        r#"{"jsonr\u0070c":"2.0","id":"\u0031","m\u0065thod":"tools/call","params":{"n\u0061me":"t\u00e9","arguments":{}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a","_meta":{"progressToken":7}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"claude","version":"1.2"}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5,"reason":null}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":0.5}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"m","version":"2"}}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"result":{"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"x","version":"3"}}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":null}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1,{"a":2}]}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":null,"result":{}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"nope"},"result":null}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":null,"arguments":{}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"n":123456789012345,"m":1234567890123456,"f":1e15,"g":1.0e-400}}}"#.to_owned(),
        // Refused: every class.
        format!("\u{feff}{CALL}\n"),
        format!("{CALL}\r\r\n"),
        format!("{CALL}\r"),
        format!("{CALL} {CALL}"),
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","m\u0065thod":"tools/call"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":[{"k":1,"k":2}]}}}"#.to_owned(),
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"id":3,"method":"ping"}]"#.to_owned(),
        r#"{"id":1,"method":"ping"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1.0,"method":"ping"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":-0,"method":"ping"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":5}"#.to_owned(),
        "[]".to_owned(),
        "42".to_owned(),
        "[42]".to_owned(),
        "\n".to_owned(),
        String::new(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["read_file"]}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":"{}"}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":{"x":1}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{}}"#.to_owned(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    let arg = |a: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t","arguments":{{"x":{a},"path":"/etc/shadow"}}}}}}"#
        )
        .into_bytes()
    };
    for a in [
        r#""\ud800""#,
        r#""\udc00x""#,
        r#""\ud83d\u0041""#,
        r#""\ud83d""#,
        r#""\u12""#,
        r#""\x""#,
        "NaN",
        "Infinity",
        "1e400",
        "-1e400",
        "9007199254740992",
        "9007199254740991",
        "-9007199254740992",
        "123456789012345678901234567890",
        "1e300",
        "9007199254740991.5",
        "0.1e16",
        "\"tab\there\"",
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "[1,]",
        "{\"a\":1,}",
        "{,}",
        "tru",
        "nul",
        "\"unterminated",
    ] {
        c.push(arg(a));
    }
    let deep = |n: usize| arg(&format!("{}{}", "[".repeat(n), "]".repeat(n)));
    c.extend([deep(MAX_DEPTH - 3), deep(MAX_DEPTH - 2), deep(5000)]);
    let deep_obj = |n: usize| arg(&format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n)));
    c.extend([deep_obj(MAX_DEPTH - 3), deep_obj(MAX_DEPTH - 2)]);
    let mut big = String::from(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"#,
    );
    for i in 0..40 {
        big.push_str(&format!("\"k{i}\":{i},"));
    }
    c.push(format!("{big}\"k40\":0}}}}}}").into_bytes());
    c.push(format!("{big}\"k7\":0}}}}}}").into_bytes());
    c.push(format!("{big}\"k\\u0037\":0}}}}}}").into_bytes());
    let mut bad = CALL.as_bytes().to_vec();
    bad.insert(60, 0xff);
    c.push(bad);
    c.push(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\xed\xa0\x80\"}".to_vec());
    c.push(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xc0\xaf\"}".to_vec());
    c.push(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\x01\"}".to_vec());
    for seed in [
        &include_bytes!("../../../fuzz/seeds/bare_cr")[..],
        include_bytes!("../../../fuzz/seeds/batch"),
        include_bytes!("../../../fuzz/seeds/dup_path"),
        include_bytes!("../../../fuzz/seeds/escaped_name_big_number"),
        include_bytes!("../../../fuzz/seeds/lone_surrogate"),
    ] {
        c.push(seed.to_vec());
    }
    c
}

#[test]
fn agrees_with_the_three_passes_on_the_corpus() {
    let corpus = corpus();
    let admitted = corpus.iter().filter(|f| agree(f)).count();
    // The corpus holds both kinds, so neither direction is vacuous.
    assert!(admitted >= 30, "{admitted}");
    assert!(corpus.len() - admitted >= 40, "{}", corpus.len() - admitted);
}

#[test]
fn every_prefix_and_byte_flip_agrees() {
    for f in corpus().iter().take(31) {
        for cut in 0..f.len() {
            agree(&f[..cut]);
        }
        for at in (0..f.len()).step_by(3) {
            for b in [b'"', b'\\', b'{', b'}', b',', b'\r', b'1', b'n', 0x80] {
                let mut g = f.clone();
                g[at] = b;
                agree(&g);
            }
        }
    }
}

#[test]
fn a_large_argument_is_borrowed_not_copied() {
    let text = "lorem ipsum \u{e9}t\u{e9} ".repeat(100_000);
    let frame = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"w","arguments":{{"content":"{text}"}}}}}}"#
    );
    let r = read(frame.as_bytes()).unwrap();
    let m = &r.envelope.messages[0];
    let params = m.params.unwrap();
    // Borrowed from the frame: the same bytes in place.
    assert_eq!(
        crate::envelope::span_in(frame.as_bytes(), params),
        Some(frame.find(r#"{"name""#).unwrap()..frame.len() - 1)
    );
    let c = r.classify(0, None).unwrap();
    assert_eq!(c.target.as_deref(), Some("w"));
    assert_eq!(
        &frame[c.args.unwrap()],
        format!(r#"{{"content":"{text}"}}"#)
    );
    assert!(fast(frame.as_bytes()).is_some());
}

#[test]
fn the_raw_value_is_the_slice_itself() {
    let s = r#"{"a": [1, "x"]}"#;
    let r = raw(s).unwrap();
    assert!(std::ptr::eq(r.get(), s));
}

fn message_strategy() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        (any::<f64>()).prop_map(|f| format!("{f:e}")),
        r#"[a-z\\"/ \u{e9}]{0,6}"#.prop_map(|s| format!("\"{s}\"")),
        r#"(\\u[dD][89aAbBcCdDeEfF][0-9a-f]{2}){1,2}"#.prop_map(|s| format!("\"{s}\"")),
    ];
    let value = leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec(
                ("(name|uri|arguments|_meta|k|id|n\\\\u0061me)", inner),
                0..4
            )
            .prop_map(|v| format!(
                "{{{}}}",
                v.iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ]
    });
    let member = (
        "(jsonrpc|id|method|params|result|error|m\\\\u0065thod|x)",
        prop_oneof![
            Just("\"2.0\"".to_owned()),
            Just("\"tools/call\"".to_owned()),
            Just("\"resources/read\"".to_owned()),
            Just("\"initialize\"".to_owned()),
            Just("1".to_owned()),
            value,
        ],
    );
    proptest::collection::vec(member, 0..7).prop_map(|v| {
        format!(
            "{{{}}}",
            v.iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect::<Vec<_>>()
                .join(",")
        )
    })
}

proptest::proptest! {
    #[test]
    fn agrees_on_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
        agree(&bytes);
    }

    #[test]
    fn agrees_on_jsonish(s in r#"[\[\]{}":,0-9a-z \\\r\n.eE+-]{0,64}"#) {
        agree(s.as_bytes());
        agree(format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t","arguments":{{"a":{s}}}}}}}"#).as_bytes());
    }

    #[test]
    fn agrees_on_messages(m in message_strategy(), batch in proptest::bool::ANY, ending in "(|\n|\r\n)") {
        let frame = if batch { format!("[{m},{m}]{ending}") } else { format!("{m}{ending}") };
        agree(frame.as_bytes());
        agree(format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t","arguments":{{"a":{m}}}}}}}"#).as_bytes());
    }
}
