//! Redaction cost on the proxy's common path: deciding that a clean message needs nothing
//! (`may_redact`, on the bytes), for a small request and a 6 KB tool result, and the full
//! tree walk of a clean message for comparison. (No escapes in the text: a backslash sends a
//! message down the slow path.)

use criterion::{Criterion, criterion_group, criterion_main};
use warden_policy::redact::Redactor;

const CALL: &[u8] = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/app/data/q3.csv","max_tokens":12,"encoding":"utf-8"},"_meta":{"progressToken":7}}}"#;

fn result_text() -> Vec<u8> {
    let mut text = String::new();
    let mut i = 0u64;
    while text.len() < 6000 {
        i += 1;
        text.push_str(&format!(
            "2024-06-01T12:00:{:02}Z INFO request_id={i:08x} user={} latency_ms={} path=/api/v1/orders/{} the server returned the configuration value. ",
            i % 60,
            i * 7 % 1000,
            i * 13 % 900,
            i * 31
        ));
    }
    let v = serde_json::json!({"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":text}],"isError":false}});
    serde_json::to_vec(&v).unwrap_or_default()
}

fn benches(c: &mut Criterion) {
    let r = Redactor::default();
    let result = result_text();
    assert!(!r.may_redact(CALL) && !r.may_redact(&result));
    c.bench_function("may_redact_clean_call_180b", |b| {
        b.iter(|| r.may_redact(CALL))
    });
    c.bench_function("may_redact_clean_result_6kb", |b| {
        b.iter(|| r.may_redact(&result))
    });
    // The same without key rules: what key rules (on keys and on `name=value` pairs) cost.
    let no_keys = Redactor::new(&warden_policy::redact::RedactConfig {
        keys: Vec::new(),
        ..Default::default()
    })
    .unwrap_or_default();
    c.bench_function("may_redact_clean_result_6kb_without_key_rules", |b| {
        b.iter(|| no_keys.may_redact(&result))
    });
    let parsed: serde_json::Value = serde_json::from_slice(&result).unwrap_or_default();
    c.bench_function("redact_tree_clean_result_6kb", |b| {
        b.iter(|| r.redact(&mut parsed.clone()))
    });
}

criterion_group!(redact_benches, benches);
criterion_main!(redact_benches);
