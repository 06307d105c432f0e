//! Policy evaluation cost with 100 rules: when no argument condition applies (patterns for
//! other servers), and when every rule matches and checks arguments (paths, regexes, values).

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

criterion_group!(policy_benches, benches);
criterion_main!(policy_benches);
