//! Tests of the strict reading: every class of frame readers disagree on is refused, and
//! ordinary frames pass.

use super::*;
use crate::parse_frame;

fn verdict(frame: &[u8]) -> Result<(), Violation> {
    check(frame)?;
    let env = parse_frame(frame).map_err(|e| Violation::Syntax(e.to_string()))?;
    check_envelope(&env)
}

fn reason(frame: &[u8]) -> &'static str {
    match verdict(frame) {
        Ok(()) => "ok",
        Err(v) => v.reason(),
    }
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/a"}}}"#;

#[test]
fn ordinary_frames_pass() {
    for f in [
        CALL.to_owned() + "\n",
        CALL.to_owned() + "\r\n",
        CALL.to_owned(),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":"x","result":{}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"m"}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":9007199254740991,"method":"ping"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":-3,"method":"ping","params":{}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":null}}"#
            .to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}"#.to_owned(),
        // Pretty-printed over HTTP, with CRLF line breaks.
        "{\r\n \"jsonrpc\": \"2.0\",\r\n \"id\": 2,\r\n \"method\": \"ping\"\r\n}".to_owned(),
        // A surrogate pair, escaped, and raw non-ASCII text.
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"s":"\ud83d\ude00 é ✓"}}}"#.to_owned(),
        // The same name in different objects is not a duplicate.
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"name":{"name":1}}}}"#.to_owned(),
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"}]"#.to_owned(),
    ] {
        assert_eq!(verdict(f.as_bytes()), Ok(()), "{f}");
    }
}

#[test]
fn duplicate_members_are_refused_at_every_depth() {
    for f in [
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}"#,
        r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"},"params":{"name":"b"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"path":"/ok","path":"/etc/shadow"}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":[{"k":1,"k":2}]}}}"#,
        // The same name once escaped: every reader unescapes before comparing.
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","m\u0065thod":"tools/call"}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"id":3,"method":"ping"}]"#,
    ] {
        assert_eq!(reason(f.as_bytes()), "duplicate_member", "{f}");
    }
    // Many members: the set path finds duplicates too.
    let mut big = String::from(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"#,
    );
    for i in 0..40 {
        big.push_str(&format!("\"k{i}\":{i},"));
    }
    big.push_str("\"k7\":0}}}");
    assert_eq!(reason(big.as_bytes()), "duplicate_member");
}

#[test]
fn bytes_readers_disagree_on_are_refused() {
    assert_eq!(
        reason(format!("\u{feff}{CALL}\n").as_bytes()),
        "byte_order_mark"
    );
    let mut bad = CALL.as_bytes().to_vec();
    bad.insert(60, 0xff);
    assert_eq!(reason(&bad), "invalid_utf8");
    // A CESU-style surrogate in UTF-8 bytes, and an overlong encoding.
    assert_eq!(
        reason(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\xed\xa0\x80\"}"),
        "invalid_utf8"
    );
    assert_eq!(
        reason(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xc0\xaf\"}"),
        "invalid_utf8"
    );
    // A bare CR: whitespace to serde_json and Node, a line break to Python's reader.
    let two = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_owned()
        + "\r"
        + r#"{"jsonrpc":"2.0","id":2,"method":"tools/call"}"#;
    assert_eq!(reason(two.as_bytes()), "bare_carriage_return");
    assert_eq!(
        reason(b"{\"jsonrpc\":\"2.0\",\r\"id\":1,\"method\":\"ping\"}\n"),
        "bare_carriage_return"
    );
    assert_eq!(
        reason(format!("{CALL}\r\r\n").as_bytes()),
        "bare_carriage_return"
    );
}

#[test]
fn values_only_some_readers_accept_are_refused() {
    let arg = |a: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t","arguments":{{"x":{a},"path":"/etc/shadow"}}}}}}"#
        )
    };
    for (a, why) in [
        (r#""\ud800""#, "not_json"),
        (r#""\udc00x""#, "not_json"),
        (r#""\ud83d\u0041""#, "not_json"),
        ("NaN", "not_json"),
        ("Infinity", "not_json"),
        ("1e400", "not_json"),
        ("9007199254740992", "unsafe_number"),
        ("-9007199254740992", "unsafe_number"),
        ("123456789012345678901234567890", "unsafe_number"),
        ("1e300", "unsafe_number"),
        ("\"tab\there\"", "not_json"),
        ("01", "not_json"),
        ("[1,]", "not_json"),
    ] {
        assert_eq!(reason(arg(a).as_bytes()), why, "{a}");
    }
    let deep = |n: usize| arg(&format!("{}{}", "[".repeat(n), "]".repeat(n)));
    // The message is depth 1, params 2, arguments 3: arrays fill the rest up to MAX_DEPTH.
    assert_eq!(reason(deep(MAX_DEPTH - 3).as_bytes()), "ok");
    assert_eq!(reason(deep(MAX_DEPTH - 2).as_bytes()), "too_deep");
    assert_eq!(reason(deep(5000).as_bytes()), "too_deep");
    // Trailing data after the message.
    assert_eq!(reason(format!("{CALL} {CALL}").as_bytes()), "not_json");
}

#[test]
fn messages_the_sdks_reject_are_refused() {
    for (f, why) in [
        (r#"{"id":1,"method":"ping"}"#, "not_json_rpc"),
        (
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            "not_json_rpc",
        ),
        (r#"{"jsonrpc":"2.0","id":1}"#, "not_json_rpc"),
        (r#"{"jsonrpc":"2.0","id":1,"method":5}"#, "not_json_rpc"),
        (
            r#"{"jsonrpc":"2.0","id":1.0,"method":"ping"}"#,
            "not_json_rpc",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1e2,"method":"ping"}"#,
            "not_json_rpc",
        ),
        (
            r#"{"jsonrpc":"2.0","id":-0,"method":"ping"}"#,
            "not_json_rpc",
        ),
        (
            r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#,
            "not_json_rpc",
        ),
        (
            r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
            "not_json_rpc",
        ),
        (
            r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#,
            "not_json_rpc",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}"#,
            "not_json_rpc",
        ),
        (r#"[]"#, "not_json_rpc"),
        (r#"42"#, "not_json_rpc"),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
            "invalid_params",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#,
            "invalid_params",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["read_file"]}"#,
            "invalid_params",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":"{}"}}"#,
            "invalid_params",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":[1]}}"#,
            "invalid_params",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":{"x":1}}}"#,
            "invalid_params",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{}}"#,
            "invalid_params",
        ),
    ] {
        assert_eq!(reason(f.as_bytes()), why, "{f}");
    }
}

#[test]
fn no_message_repeats_the_clients_text() {
    let v = check(br#"{"jsonrpc":"2.0","id":1,"method":"ping","sk-ant-api03-SECRET":1,"sk-ant-api03-SECRET":2}"#)
        .unwrap_err();
    assert!(matches!(&v, Violation::DuplicateMember { name } if name == "sk-ant-api03-SECRET"));
    assert!(!v.to_string().contains("SECRET"), "{v}");
}

#[test]
fn codes_follow_json_rpc() {
    assert_eq!(Violation::ByteOrderMark.code(), PARSE_ERROR);
    assert_eq!(Violation::Syntax(String::new()).code(), PARSE_ERROR);
    assert_eq!(Violation::TooDeep.code(), INVALID_REQUEST);
    assert_eq!(
        Violation::DuplicateMember { name: "id".into() }.code(),
        INVALID_REQUEST
    );
    assert_eq!(Violation::InvalidParams("x").code(), INVALID_PARAMS);
}

/// Whatever passes the strict reading, serde_json reads into a tree, and to the same message.
fn serde_agrees(frame: &[u8]) {
    if verdict(frame).is_err() {
        return;
    }
    let v: serde_json::Value = serde_json::from_slice(frame).expect("strict frames parse");
    let env = parse_frame(frame).expect("strict frames have an envelope");
    if let (Some(m), serde_json::Value::Object(o)) = (env.first(), &v) {
        assert_eq!(
            m.method.as_deref(),
            o.get("method").and_then(|m| m.as_str())
        );
    }
}

proptest::proptest! {
    #[test]
    fn never_panics_and_agrees_with_serde(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
        serde_agrees(&bytes);
    }

    #[test]
    fn jsonish_never_panics_and_agrees(s in r#"[\[\]{}":,0-9a-z \\\r\n]{0,64}"#) {
        serde_agrees(s.as_bytes());
        let framed = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t","arguments":{{"a":{s}}}}}}}"#);
        serde_agrees(framed.as_bytes());
    }
}
