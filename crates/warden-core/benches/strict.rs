//! The cost of the strict reading every client frame passes before it is forwarded, next to the
//! lenient envelope parse it runs beside: a typical `tools/call`, one with 1 MB of argument
//! text, and one with 2,000 small members (the duplicate check's worst ordinary case).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use warden_core::{parse_frame, strict};

fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let call = br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/srv/data/report-2026.txt","encoding":"utf-8","max_bytes":65536},"_meta":{"progressToken":"p-42"}}}"#.to_vec();
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":43,"method":"tools/call","params":{{"name":"write_file","arguments":{{"path":"/srv/out.txt","content":"{}"}}}}}}"#,
        "lorem ipsum dolor sit amet, ".repeat(1_000_000 / 28)
    )
    .into_bytes();
    let mut wide = String::from(
        r#"{"jsonrpc":"2.0","id":44,"method":"tools/call","params":{"name":"put","arguments":{"#,
    );
    for i in 0..2000 {
        wide.push_str(&format!("\"key{i}\":{i},"));
    }
    wide.push_str("\"end\":0}}}");
    vec![
        ("call", call),
        ("1mb", big),
        ("2000_members", wide.into_bytes()),
    ]
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("strict");
    for (name, frame) in frames() {
        g.throughput(Throughput::Bytes(frame.len() as u64));
        g.bench_function(format!("check/{name}"), |b| {
            b.iter(|| strict::check(std::hint::black_box(&frame)).is_ok());
        });
        g.bench_function(format!("parse_frame/{name}"), |b| {
            b.iter(|| parse_frame(std::hint::black_box(&frame)).is_ok());
        });
    }
    g.finish();
}

criterion_group!(strict_reading, benches);
criterion_main!(strict_reading);
