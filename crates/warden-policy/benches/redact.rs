//! Redaction cost on the proxy's common path: deciding that a clean message needs nothing
//! (`may_redact`, on the bytes), for a small request and a 6 KB tool result, and the full
//! tree walk of a clean message for comparison. (No escapes in the text: a backslash sends a
//! message down the slow path.)
//! Group `copy_spans` (thread CPU time): the audit copy and the spans a record needs in it, as
//! the proxy got them (`audit_copy`, copy the bytes, `parse_frame` and `classify` the copy)
//! and by `audit_copy_spanned`, clean and dirty, for a small call, a 6 KB result and a 1 MB
//! argument; each also without the `phone` detector, to show what it costs.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use warden_policy::redact::{AuditCopy, Redactor};

#[path = "../../warden-core/benches/support/cpu_time.rs"]
mod cpu_time;

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

/// The proxy's former way: the copy, then its bytes copied, parsed and classified again.
fn copy_then_reparse(r: &Redactor, raw: &[u8]) -> usize {
    let copy = r.audit_copy(raw);
    if copy == AuditCopy::Clean {
        return 0;
    }
    let bytes = copy.text().unwrap_or(raw).to_vec();
    let Ok(env) = warden_core::parse_frame(&bytes) else {
        return 0;
    };
    env.messages
        .iter()
        .map(|m| {
            warden_core::classify(&bytes, m, None)
                .body
                .map_or(0, |b| b.len())
        })
        .sum()
}

fn spanned(r: &Redactor, raw: &[u8]) -> usize {
    let c = r.audit_copy_spanned(raw);
    c.spans
        .iter()
        .map(|s| s.body.as_ref().map_or(0, |b| b.len()))
        .sum()
}

fn copy_spans(c: &mut Criterion<cpu_time::CpuTime>) {
    let r = Redactor::default();
    let no_phone = Redactor::new(&warden_policy::redact::RedactConfig {
        disabled: vec!["phone".into()],
        ..Default::default()
    })
    .unwrap_or_default();
    let call = |args: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"write_file","arguments":{{"path":"/app/data/q3.csv",{args}}}}}}}"#).into_bytes()
    };
    let filler = "lorem ipsum dolor sit amet, ".repeat(1_000_000 / 28);
    let result = result_text();
    let dirty_result = String::from_utf8_lossy(&result)
        .replace("the server", "alice@example.com")
        .into_bytes();
    let cases = [
        ("call/clean", CALL.to_vec()),
        ("call/dirty", call(r#""password":"hunter2""#)),
        ("result_6kb/clean", result.clone()),
        ("result_6kb/dirty", dirty_result),
        ("1mb/clean", call(&format!(r#""content":"{filler}""#))),
        (
            "1mb/dirty",
            call(&format!(r#""content":"{filler} alice@example.com""#)),
        ),
    ];
    for (name, raw) in cases {
        assert_eq!(copy_then_reparse(&r, &raw), spanned(&r, &raw));
        assert_eq!(
            name.ends_with("clean"),
            r.audit_copy(&raw) == AuditCopy::Clean,
            "{name}"
        );
        let mut g = c.benchmark_group(format!("copy_spans/{name}"));
        g.throughput(Throughput::Bytes(raw.len() as u64));
        if raw.len() > 100_000 {
            g.sample_size(20);
        }
        g.bench_function("audit_copy+parse_frame+classify", |b| {
            b.iter(|| copy_then_reparse(&r, std::hint::black_box(&raw)))
        });
        g.bench_function("audit_copy_spanned", |b| {
            b.iter(|| spanned(&r, std::hint::black_box(&raw)))
        });
        g.bench_function("audit_copy_spanned_without_phone", |b| {
            b.iter(|| spanned(&no_phone, std::hint::black_box(&raw)))
        });
        g.finish();
    }
}

criterion_group!(redact_benches, benches);
criterion_group! {
    name = copy_span_benches;
    config = Criterion::default().with_measurement(cpu_time::THREAD);
    targets = copy_spans
}
criterion_main!(redact_benches, copy_span_benches);
