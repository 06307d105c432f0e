//! The cost of the strict reading every client frame passes before it is forwarded, next to the
//! lenient envelope parse it runs beside: a typical `tools/call`, one with 1 MB of argument
//! text, and one with 2,000 small members (the duplicate check's worst ordinary case).
//! Group `parse_once` (thread CPU time): what admitting and classifying a client frame costs by
//! the separate passes (`check`, `parse_frame`, `check_envelope`, `classify`) and by the one
//! pass (`strict::read`, `Read::classify`), for a small call and 1 MB and 8 MB arguments.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use warden_core::{classify, parse_frame, strict};

#[path = "support/cpu_time.rs"]
mod cpu_time;

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

fn big_call(bytes: usize) -> Vec<u8> {
    format!(
        r#"{{"jsonrpc":"2.0","id":43,"method":"tools/call","params":{{"name":"write_file","arguments":{{"path":"/srv/out.txt","content":"{}"}}}}}}"#,
        "lorem ipsum dolor sit amet, ".repeat(bytes / 28)
    )
    .into_bytes()
}

/// Admission and classification of a client frame as the pipeline did it before `read`.
fn separate_passes(frame: &[u8]) -> usize {
    if strict::check(frame).is_err() {
        return 0;
    }
    let Ok(env) = parse_frame(frame) else {
        return 0;
    };
    if strict::check_envelope(&env).is_err() {
        return 0;
    }
    env.messages
        .iter()
        .map(|m| classify(frame, m, None).args.map_or(0, |a| a.len()))
        .sum()
}

fn one_pass(frame: &[u8]) -> usize {
    strict::read(frame).map_or(0, |r| {
        r.classify_all()
            .into_iter()
            .map(|c| c.args.map_or(0, |a| a.len()))
            .sum()
    })
}

fn parse_once(c: &mut Criterion<cpu_time::CpuTime>) {
    let call = frames().swap_remove(0).1;
    for (name, frame) in [
        ("call", call),
        ("1mb", big_call(1_000_000)),
        ("8mb", big_call(8_000_000)),
    ] {
        assert_eq!(separate_passes(&frame), one_pass(&frame));
        assert!(one_pass(&frame) > 0);
        let mut g = c.benchmark_group(format!("parse_once/{name}"));
        g.throughput(Throughput::Bytes(frame.len() as u64));
        if frame.len() > 100_000 {
            g.sample_size(20);
        }
        g.bench_function("check+parse_frame+check_envelope+classify", |b| {
            b.iter(|| separate_passes(std::hint::black_box(&frame)));
        });
        g.bench_function("read+classify", |b| {
            b.iter(|| one_pass(std::hint::black_box(&frame)));
        });
        g.finish();
    }
}

criterion_group!(strict_reading, benches);
criterion_group! {
    name = one_pass_reading;
    config = Criterion::default().with_measurement(cpu_time::THREAD);
    targets = parse_once
}
criterion_main!(strict_reading, one_pass_reading);
