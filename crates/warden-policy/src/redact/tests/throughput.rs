//! Throughput smoke: cargo test -p warden-policy --release redact -- --ignored --nocapture

use super::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "the",
    "request",
    "server",
    "returned",
    "file",
    "function",
    "value",
    "error",
    "user",
    "configuration",
    "module",
    "handler",
    "response",
    "context",
    "should",
    "because",
    "cache",
    "Deploy",
    "Kubernetes",
    "service",
    "timeout",
    "and",
    "with",
    "from",
    "into",
    "retry",
    "latency",
    "Postgres",
    "index",
    "query",
    "token",
    "schema",
    "The",
    "This",
];

fn text_blob(rng: &mut Rng, target: usize) -> String {
    let mut s = String::with_capacity(target + 200);
    let mut line = 0u64;
    while s.len() < target {
        line += 1;
        match rng.below(5) {
            0 => {
                for _ in 0..(8 + rng.below(12)) {
                    s.push_str(rng.pick(WORDS));
                    s.push(' ');
                }
                s.push_str(".\n");
            }
            1 => s.push_str(&format!(
                "2024-06-{:02}T12:{:02}:{:02}.{:03}Z INFO request_id={:08x}-e29b-41d4-a716-{:012x} user={} latency_ms={} path=/api/v1/orders/{}\n",
                1 + rng.below(28), rng.below(60), rng.below(60), rng.below(1000),
                rng.next() as u32, rng.next() & 0xffff_ffff_ffff, rng.below(100_000),
                rng.below(900), rng.below(10_000_000)
            )),
            2 => s.push_str(&format!(
                "    let {} = self.{}(&{}, {})?; // {} {}\n",
                rng.pick(WORDS), rng.pick(WORDS), rng.pick(WORDS), line, rng.pick(WORDS), rng.pick(WORDS)
            )),
            3 => s.push_str(&format!(
                "{},{},{}.{:02},\"{} {}\",{},EUR\n",
                rng.below(1_000_000), rng.next() % 10_000_000_000, rng.below(10_000), rng.below(100),
                rng.pick(WORDS), rng.pick(WORDS), 1_700_000_000 + rng.below(30_000_000)
            )),
            _ => s.push_str(&format!(
                "## {} {}\n- see https://docs.example.com/{}/{}#section-{} for details\n",
                rng.pick(WORDS), rng.pick(WORDS), rng.pick(WORDS), rng.pick(WORDS), line
            )),
        }
    }
    s
}

fn realistic_document(target: usize) -> (String, usize) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut messages = Vec::new();
    let mut size = 0;
    let mut planted = 0;
    let mut id = 0u64;
    while size < target {
        id += 1;
        let mut msg = match rng.below(20) {
            0..=7 => json!({
                "jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {
                    "name": rng.pick(&["read_file", "search_code", "run_query", "list_issues", "fetch_url"]),
                    "arguments": {
                        "path": format!("/home/dev/project/src/{}/{}.rs", rng.pick(WORDS), rng.pick(WORDS)),
                        "query": "SELECT id, name, created_at FROM orders WHERE customer_id = 4821 AND status = 'shipped' LIMIT 50",
                        "max_results": 20, "include_hidden": false,
                    },
                    "_meta": {"progressToken": id},
                }
            }),
            8..=15 => {
                let len = 500 + rng.below(6000);
                json!({
                    "jsonrpc": "2.0", "id": id,
                    "result": {"content": [{"type": "text", "text": text_blob(&mut rng, len)}], "isError": false}
                })
            }
            16..=18 => json!({
                "jsonrpc": "2.0", "id": id,
                "result": {"tools": (0..8).map(|i| json!({
                    "name": format!("{}_{}", rng.pick(WORDS), i),
                    "description": text_blob(&mut rng, 120),
                    "inputSchema": {"type": "object", "properties": {
                        "path": {"type": "string", "description": "Absolute path of the file"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 1000}},
                        "required": ["path"]}
                })).collect::<Vec<_>>()}
            }),
            _ => json!({
                "jsonrpc": "2.0", "id": id,
                "result": {"structuredContent": {"rows": (0..20).map(|i| json!({
                    "id": 100_000 + i, "customer": rng.pick(WORDS), "amount": 12.5 * i as f64,
                    "created_at": "2024-06-01T12:00:00Z", "sku": format!("SKU-{:06}", rng.below(1_000_000)),
                })).collect::<Vec<_>>()}}
            }),
        };
        if id.is_multiple_of(200) {
            planted += 1;
            msg["params"] = json!({"note": format!("ping {EMAIL} with {GH_CLASSIC}")});
        }
        size += serde_json::to_string(&msg).unwrap().len() + 1;
        messages.push(msg);
    }
    (
        serde_json::to_string(&Value::Array(messages)).unwrap(),
        planted,
    )
}

#[test]
#[ignore = "throughput smoke; run in release with --ignored --nocapture"]
fn throughput_smoke() {
    use std::time::Instant;
    let (text, planted) = realistic_document(10 << 20);
    let mb = text.len() as f64 / 1e6;
    let t = Instant::now();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let parse = t.elapsed().as_secs_f64();
    let r = Redactor::default();
    let (mut whole, mut per_message, mut scan) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..5 {
        // One call for the whole document.
        let mut v = doc.clone();
        let t = Instant::now();
        let reps = r.redact(&mut v);
        whole = whole.min(t.elapsed().as_secs_f64());
        let found = reps.iter().filter(|r| r.rule != KEY_RULE).count();
        assert_eq!(
            found,
            planted * 2,
            "planted secrets only: no false positives"
        );
        // One call per message, as the proxy does.
        let Value::Array(mut messages) = doc.clone() else {
            unreachable!()
        };
        let t = Instant::now();
        let n: usize = messages.iter_mut().map(|m| r.redact(m).len()).sum();
        per_message = per_message.min(t.elapsed().as_secs_f64());
        assert_eq!(n, reps.len());
        let t = Instant::now();
        assert_eq!(r.scan(&doc).len(), reps.len());
        scan = scan.min(t.elapsed().as_secs_f64());
    }
    eprintln!(
        "redact throughput ({mb:.1} MB of MCP JSON, one core): redact {:.0} MB/s as one \
         document, {:.0} MB/s message by message; scan {:.0} MB/s; \
         (serde_json parse alone: {:.0} MB/s)",
        mb / whole,
        mb / per_message,
        mb / scan,
        mb / parse
    );
}
