//! Policy evaluation cost with 100 rules: when no argument condition applies (patterns for
//! other servers), and when every rule matches and checks arguments (paths, regexes, values).
//! And the seed's one path rule with no argument named (the whole call searched), lexical and
//! with `resolve_symlinks` (an in-memory resolver: the policy's own cost, not the file system's).

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use warden_policy::{PolicySet, Request};

fn policy(with_args: bool) -> PolicySet {
    let mut text = String::from("default: allow\npolicies:\n");
    for i in 0..100 {
        if with_args {
            let cond = match i % 4 {
                0 => "path_not_in: { arg: path, allowed: [\"/app/data\", \"/tmp\"] }".to_owned(),
                1 => format!("arg_matches: {{ arg: query, pattern: \"secret{i}|[;|&]\" }}"),
                2 => format!("arg_in: {{ arg: /options/region, values: [\"r{i}\", \"x{i}\"] }}"),
                _ => "arg_max_length: { arg: query, max: 4096 }".to_owned(),
            };
            text.push_str(&format!("  - name: r{i}\n    tool_pattern: \"filesystem:*\"\n    action: deny\n    when:\n      - {cond}\n"));
        } else {
            text.push_str(&format!(
                "  - name: r{i}\n    tool_pattern: \"server{i}:*\"\n    action: deny\n"
            ));
        }
    }
    PolicySet::compile(&text).expect("bench policy compiles")
}

fn benches(c: &mut Criterion) {
    let args = json!({ "path": "/app/data/reports/q3.csv", "query": "revenue by region", "options": { "region": "eu" } });
    let req = Request {
        server: "filesystem",
        method: "tools/call",
        target: Some("read_file"),
        arguments: Some(&args),
        principal: Some("alice"),
        roles: &[],
        client: None,
        at: None,
        tool: None,
    };
    let plain = policy(false);
    c.bench_function("evaluate_100_rules_no_argument_conditions", |b| {
        b.iter(|| plain.evaluate(&req))
    });
    let conditional = policy(true);
    assert!(!conditional.evaluate(&req).blocks());
    c.bench_function("evaluate_100_rules_with_argument_conditions", |b| {
        b.iter(|| conditional.evaluate(&req))
    });
}

fn seed_benches(c: &mut Criterion) {
    let seed = "policies:\n  - name: fence\n    tool_pattern: \"filesystem:*\"\n    action: deny\n    conditions:\n      - type: path_not_in\n        allowed_paths: [\"/app/data\", \"/tmp\"]\n";
    let lexical = PolicySet::compile(seed).expect("seed compiles");
    let resolving = PolicySet::compile(&seed.replace(
        "        allowed_paths",
        "        resolve_symlinks: true\n        allowed_paths",
    ))
    .expect("seed compiles");
    let paths: Vec<String> = (0..10).map(|i| format!("/app/data/r/{i}.csv")).collect();
    let many = json!({ "paths": paths });
    let write = json!({ "path": "/app/data/out.txt", "content": "lorem ipsum ".repeat(340) });
    let call = |tool, args| Request {
        server: "filesystem",
        method: "tools/call",
        target: Some(tool),
        arguments: Some(args),
        principal: None,
        roles: &[],
        client: None,
        at: None,
        tool: None,
    };
    let identity = |p: &str| Some(p.to_owned());
    let read10 = call("read_multiple_files", &many);
    let write4k = call("write_file", &write);
    assert!(!lexical.evaluate(&read10).blocks() && !lexical.evaluate(&write4k).blocks());
    c.bench_function("seed_no_arg_read_multiple_files_10_paths", |b| {
        b.iter(|| lexical.evaluate(&read10))
    });
    c.bench_function("seed_no_arg_write_file_4k_content", |b| {
        b.iter(|| lexical.evaluate(&write4k))
    });
    c.bench_function("seed_resolving_read_multiple_files_10_paths", |b| {
        b.iter(|| resolving.evaluate_resolving(&read10, &identity))
    });
}

criterion_group!(policy_benches, benches, seed_benches);
criterion_main!(policy_benches);
