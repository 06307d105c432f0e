//! The one definition of a tool error (`AuditEvent::tool_failed`) on odd results: it leans
//! towards "failed" when a result could be read either way.

use std::sync::Arc;

use bytes::Bytes;
use warden_audit::{AuditEvent, Outcome, SessionContext};

fn result(body: &str, method: &str) -> AuditEvent {
    let frame = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{body}}}"#);
    let start = frame.find(body).unwrap();
    let mut ev = AuditEvent::gateway("s".into(), Arc::new(SessionContext::default()), "x");
    ev.event = None;
    ev.kind = "result";
    ev.method = Some(method.into());
    ev.outcome = Some(Outcome::Ok);
    ev.body = Some(start..start + body.len());
    ev.frame = Bytes::from(frame);
    ev
}

#[test]
fn is_error_true_is_a_tool_error_and_nothing_else_is() {
    let cases = [
        (r#"{"content":[],"isError":true}"#, true),
        (r#"{"content":[], "isError" : true }"#, true),
        (r#"{"isError":false,"content":[]}"#, false),
        (r#"{"content":[]}"#, false),
        // Every copy of a duplicated member counts (a client reads one copy or the other).
        (r#"{"isError":false,"isError":true}"#, true),
        (r#"{"isError":true,"isError":false}"#, true),
        // An escaped key is the same key to every JSON parser.
        (r#"{"is\u0045rror":true}"#, true),
        // Only the result's own member: text that mentions it is not a failure.
        (
            r#"{"content":[{"type":"text","text":"\"isError\":true"}]}"#,
            false,
        ),
        (r#"{"structuredContent":{"isError":true}}"#, false),
        // Not a boolean `true`.
        (r#"{"isError":"true"}"#, false),
        (r#"{"isError":1}"#, false),
        (r#"[1,2]"#, false),
        ("null", false),
    ];
    for (body, failed) in cases {
        let ev = result(body, "tools/call");
        assert_eq!(ev.tool_failed(), failed, "{body}");
        let want = if failed { "tool_error" } else { "ok" };
        assert_eq!(ev.recorded_outcome(), Some(want), "{body}");
    }
}

#[test]
fn a_body_that_does_not_parse_fails_towards_failed() {
    // A lone surrogate or a cut body: what a reader could take as isError true counts.
    let ev = result(
        r#"{"content":[{"text":"\ud800"}],"isError":true}"#,
        "tools/call",
    );
    assert!(ev.tool_failed());
    let mut ev = result(r#"{"isError":true}"#, "tools/call");
    let frame = ev.frame.clone();
    ev.frame = Bytes::from([&frame[..frame.len() - 2], b"\xff"].concat());
    ev.body = ev.body.map(|r| r.start..ev.frame.len());
    assert!(ev.tool_failed());
}

#[test]
fn only_answered_tool_calls_become_tool_errors() {
    let body = r#"{"isError":true}"#;
    assert!(!result(body, "prompts/get").tool_failed());
    let mut ev = result(body, "tools/call");
    ev.kind = "request";
    assert!(!ev.tool_failed());
    let mut ev = result(body, "tools/call");
    ev.outcome = Some(Outcome::Cancelled);
    assert_eq!(ev.recorded_outcome(), Some("cancelled"));
    ev.outcome = None;
    assert_eq!(ev.recorded_outcome(), None);
}
