//! The sealer trusts `read_strictly` instead of checking a payload again, and only then:
//! without the flag it keeps today's rule (JSON only when `strict::check` passes).

use std::sync::Arc;

use bytes::Bytes;
use warden_audit::record::Sealer;
use warden_audit::{AuditEvent, Keys, PayloadLevel, SessionContext};

fn sealer(level: PayloadLevel) -> (tempfile::TempDir, Sealer) {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::generate(&dir.path().join("k"), "w", false).unwrap();
    let s = Sealer {
        log_id: "L".into(),
        level,
        max_payload: 1 << 20,
        hasher: keys.hasher.clone(),
        nonce_seed: [1; 32],
    };
    (dir, s)
}

/// The event the pipeline makes for the first message of `frame`, its spans from
/// `strict::read` when the frame is admitted, else from the lenient reading.
fn event(frame: &str, read_strictly: bool) -> AuditEvent {
    let frame = Bytes::from(frame.to_owned());
    let env = warden_core::parse_frame(&frame).unwrap();
    let m = env.first().unwrap();
    let c = warden_core::classify(&frame, m, None);
    let mut ev = AuditEvent::gateway("s".into(), Arc::new(SessionContext::default()), "x");
    ev.event = None;
    ev.kind = m.kind.as_str();
    ev.args = c.args;
    ev.body = c.body;
    ev.size = frame.len() as u64;
    ev.frame = frame;
    ev.read_strictly = read_strictly;
    ev
}

/// The stored content as a reader sees it: JSON when the leaf marks it `json`, else text.
fn payload(s: &Sealer, ev: &AuditEvent) -> serde_json::Value {
    let sealed = s.seal(ev, 0);
    let leaf: serde_json::Value = serde_json::from_slice(&sealed.leaf).unwrap();
    let c = sealed.content.expect("content stored");
    assert_eq!(leaf["content"], c.digest.as_str());
    assert_eq!(leaf["content_type"], c.kind);
    if c.kind == "json" {
        serde_json::from_slice(&c.body).unwrap()
    } else {
        serde_json::Value::String(String::from_utf8_lossy(&c.body).into_owned())
    }
}

const ADMITTED: &[&str] = &[
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"path":"/a","n":[1,2.5,null]}}}"#,
    "{\r\n \"jsonrpc\": \"2.0\",\r\n \"id\": 2,\r\n \"method\": \"x\",\r\n \"params\": {\"a\": \"\\ud83d\\ude00\"}\r\n}\r\n",
    r#"{"jsonrpc":"2.0","id":"r","result":{"content":[{"type":"text","text":"é ✓"}]}}"#,
    r#"[{"jsonrpc":"2.0","id":1,"method":"ping","params":{}},{"jsonrpc":"2.0","method":"n"}]"#,
];

#[test]
fn admitted_frames_seal_alike_with_and_without_the_flag() {
    for level in [PayloadLevel::Standard, PayloadLevel::Detailed] {
        let (_d, s) = sealer(level);
        for f in ADMITTED {
            assert!(warden_core::strict::read(f.as_bytes()).is_ok(), "{f}");
            let checked = event(f, false);
            // The same event (id, time) but for the flag: the leaves are byte for byte alike.
            let mut trusted = checked.clone();
            trusted.read_strictly = true;
            assert_eq!(s.seal(&checked, 3).leaf, s.seal(&trusted, 3).leaf, "{f}");
            let p = payload(&s, &checked);
            assert!(p.is_object() || p.is_array(), "{f}: {p}");
        }
    }
}

#[test]
fn without_the_flag_the_sealer_still_checks() {
    let (_d, s) = sealer(PayloadLevel::Standard);
    // A server's result with a duplicate member and one with a lone surrogate: S2C frames are
    // not admitted strictly, so nobody sets the flag, and they are stored as text.
    for f in [
        r#"{"jsonrpc":"2.0","id":1,"result":{"isError":false,"isError":true}}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{"text":"\ud800"}}"#,
    ] {
        let p = payload(&s, &event(f, false));
        assert!(p.is_string(), "{f}: {p}");
    }
}

#[test]
fn the_flag_is_trusted_not_checked() {
    let (_d, s) = sealer(PayloadLevel::Standard);
    // The check is skipped, not repeated: bytes wrongly flagged (a duplicate member) would be
    // embedded. Only whoever read them strictly may set it.
    let f = r#"{"jsonrpc":"2.0","id":1,"result":{"a":1,"a":2}}"#;
    assert!(payload(&s, &event(f, false)).is_string());
    assert!(payload(&s, &event(f, true)).is_object());
}

#[test]
fn the_flag_never_embeds_what_is_not_json() {
    let (_d, s) = sealer(PayloadLevel::Standard);
    // A producer bug (a span that is not one value) is caught by the lenient read that makes
    // the embedded value: the leaf stays valid JSON, the payload text.
    let mut ev = event(r#"{"jsonrpc":"2.0","id":1,"result":{"a":"b"}}"#, true);
    ev.body = Some(ev.body.clone().unwrap().start..ev.frame.len() - 3);
    let p = payload(&s, &ev);
    assert!(p.is_string(), "{p}");
}
