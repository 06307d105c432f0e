//! The admin plane on a large store: fills a store with ~1M realistic records through the
//! real `AuditWriter` (so every chain verifies), then measures over real HTTP on loopback
//! the `/api/v1/records` filtered pages, `/stats?window=24h`, `/sessions` and `/verify`,
//! and renders the report of a 100k-event session (time and size).
//!
//! `cargo bench -p warden-api --bench admin` (release). The store is kept in
//! `target/bench-admin/` and reused when it has the expected size; `WARDEN_BENCH_RECORDS`
//! (default 1,000,000) and `WARDEN_BENCH_SPAN_HOURS` (default 48: half the records fall in
//! the last 24 h) shape it. Prints a Markdown table for BENCHMARKS.md.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::print_stderr)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use warden_api::{ApiOptions, ApiState};
use warden_audit::{AuditEvent, AuditWriter, Keys, Outcome, SessionContext, Store, WriterConfig};
use warden_core::{Direction, Implementation};

const SERVERS: &[&str] = &["filesystem", "github", "hr", "postgres", "slack"];
const TOOLS: &[&str] = &[
    "read_file",
    "write_file",
    "list_directory",
    "search_files",
    "get_file_info",
    "create_issue",
    "list_issues",
    "get_pull_request",
    "merge_pull_request",
    "search_code",
    "get_employee",
    "list_employees",
    "get_pay_info",
    "submit_time_off",
    "run_payroll_report",
    "query",
    "list_tables",
    "describe_table",
    "insert_rows",
    "explain",
    "post_message",
    "list_channels",
    "get_thread",
    "add_reaction",
    "upload_file",
];
const AGENTS: &[(&str, &str)] = &[
    ("claude-desktop", "1.4"),
    ("cursor", "2.1"),
    ("continue", "1.0"),
    ("zed", "0.190"),
    ("windsurf", "3.2"),
    ("goose", "1.7"),
    ("cline", "3.20"),
    ("vscode-copilot", "1.300"),
];

/// A small deterministic PRNG (xorshift), so every run builds the same store.
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
}

fn classify(ev: &mut AuditEvent, frame: String) {
    let frame = Bytes::from(frame);
    let env = warden_core::parse_frame(&frame).unwrap();
    let c = warden_core::classify(&frame, env.first().unwrap(), None);
    ev.size = frame.len() as u64;
    ev.args = c.args;
    ev.body = c.body;
    if ev.target.is_none() {
        ev.target = c.target;
    }
    ev.frame = frame;
}

fn message(
    session: &Arc<str>,
    ctx: &Arc<SessionContext>,
    ts_us: i64,
    kind: &'static str,
    dir: Direction,
    method: &str,
    frame: String,
) -> AuditEvent {
    let mut ev = AuditEvent::gateway(session.clone(), ctx.clone(), "x");
    ev.event = None;
    ev.ts_us = ts_us;
    ev.kind = kind;
    ev.direction = Some(dir);
    ev.method = Some(method.to_owned());
    classify(&mut ev, frame);
    ev
}

/// One session of `calls` tool calls starting at `ts`, `step_us` apart; returns its events.
fn session(
    rng: &mut Rng,
    id: u64,
    ts: i64,
    step_us: i64,
    calls: usize,
    principal: String,
) -> Vec<AuditEvent> {
    let server = SERVERS[rng.below(SERVERS.len())];
    let (agent, version) = AGENTS[rng.below(AGENTS.len())];
    let session: Arc<str> = format!("0199{id:012x}-bench-session").into();
    let ctx = Arc::new(SessionContext {
        server_name: Some(server.into()),
        server_info: Some(Implementation {
            name: format!("{server}-mcp"),
            version: "1.2.0".into(),
        }),
        client_info: Some(Implementation {
            name: agent.into(),
            version: version.into(),
        }),
        protocol: Some("2025-06-18".into()),
        principal: Some(principal),
        agent: None,
    });
    let mut out = Vec::with_capacity(calls * 2 + 4);
    let mut t = ts;
    let mut start = AuditEvent::gateway(session.clone(), ctx.clone(), "session_start");
    start.ts_us = t;
    start.detail = Some(serde_json::json!({ "transport": "http" }));
    out.push(start);
    for i in 0..calls {
        t += step_us;
        let tool = TOOLS[rng.below(TOOLS.len())];
        let arg = match tool {
            "read_file" | "write_file" | "get_file_info" | "list_directory" => {
                format!(
                    r#"{{"path":"/srv/data/project-{}/file-{}.csv"}}"#,
                    rng.below(50),
                    rng.below(1000)
                )
            }
            "get_employee" | "get_pay_info" | "submit_time_off" => {
                format!(r#"{{"id":"E{:04}"}}"#, rng.below(5000))
            }
            "query" | "explain" => format!(
                r#"{{"sql":"SELECT * FROM orders WHERE customer_id = {} LIMIT 50"}}"#,
                rng.below(100000)
            ),
            "post_message" => format!(
                r#"{{"channel":"C{:05}","text":"deploy {} finished"}}"#,
                rng.below(300),
                rng.below(9999)
            ),
            _ => format!(
                r#"{{"query":"term-{}","page":{}}}"#,
                rng.below(10000),
                rng.below(5)
            ),
        };
        let rpc = i + 1;
        let exchange = uuid::Uuid::now_v7();
        let mut req = message(
            &session,
            &ctx,
            t,
            "request",
            Direction::C2S,
            "tools/call",
            format!(
                r#"{{"jsonrpc":"2.0","id":{rpc},"method":"tools/call","params":{{"name":"{tool}","arguments":{arg}}}}}"#
            ),
        );
        req.rpc_id = Some(rpc.to_string());
        req.tool_class = Some(match tool {
            "get_pay_info" | "query" => "sensitive",
            "write_file" | "merge_pull_request" | "insert_rows" | "post_message"
            | "submit_time_off" | "create_issue" => "write",
            _ => "read",
        });
        req.tool_class_source = Some("config");
        let roll = rng.below(1000);
        let refused = match roll {
            0..=4 => Some((Outcome::Denied, -32012, "policy_denied")),
            5..=9 => Some((Outcome::RateLimited, -32013, "rate_limited")),
            10 => Some((Outcome::BudgetExceeded, -32014, "budget_exceeded")),
            _ => None,
        };
        t += step_us / 4;
        if let Some((outcome, code, reason)) = refused {
            req.outcome = Some(outcome);
            req.policy = Some(
                serde_json::json!({ "action": "deny", "rule": "bench-rule", "mode": "enforce" }),
            );
            out.push(req);
            let mut err = message(
                &session,
                &ctx,
                t,
                "error",
                Direction::S2C,
                "tools/call",
                format!(
                    r#"{{"jsonrpc":"2.0","id":{rpc},"error":{{"code":{code},"message":"{reason}"}}}}"#
                ),
            );
            err.rpc_id = Some(rpc.to_string());
            err.target = Some(tool.into());
            err.outcome = Some(outcome);
            err.error_code = Some(code);
            err.detail = Some(serde_json::json!({ "origin": "gateway", "reason": reason }));
            out.push(err);
            continue;
        }
        req.exchange = Some(exchange);
        req.policy = Some(serde_json::json!({ "action": "allow", "mode": "enforce" }));
        out.push(req);
        let duration = 200 + rng.below(40_000) as u64;
        let failed = rng.below(100) < 3;
        let mut res = if failed {
            message(
                &session,
                &ctx,
                t,
                "error",
                Direction::S2C,
                "tools/call",
                format!(
                    r#"{{"jsonrpc":"2.0","id":{rpc},"error":{{"code":-32603,"message":"upstream timeout after {duration}us"}}}}"#
                ),
            )
        } else {
            message(
                &session,
                &ctx,
                t,
                "result",
                Direction::S2C,
                "tools/call",
                format!(
                    r#"{{"jsonrpc":"2.0","id":{rpc},"result":{{"content":[{{"type":"text","text":"{} rows; first: {{\"id\":{},\"status\":\"ok\",\"owner\":\"team-{}\"}}"}}]}}}}"#,
                    rng.below(500),
                    rng.below(100000),
                    rng.below(40)
                ),
            )
        };
        res.rpc_id = Some(rpc.to_string());
        res.exchange = Some(exchange);
        res.target = Some(tool.into());
        res.duration_us = Some(duration);
        res.outcome = Some(if failed {
            Outcome::RpcError
        } else {
            Outcome::Ok
        });
        if failed {
            res.error_code = Some(-32603);
        }
        out.push(res);
    }
    let mut end = AuditEvent::gateway(session, ctx, "session_end");
    end.ts_us = t + step_us;
    end.detail = Some(serde_json::json!({ "reason": "client closed the connection" }));
    out.push(end);
    out
}

fn writer(db: &Path, keys: &Path) -> AuditWriter {
    AuditWriter::start(
        Store::open(db, false).unwrap(),
        Keys::load(keys).unwrap(),
        WriterConfig {
            linger: Duration::ZERO,
            checkpoint_interval: Duration::from_secs(3600),
            ..WriterConfig::default()
        },
    )
    .unwrap()
}

fn close(w: AuditWriter) {
    let ctx = Arc::new(SessionContext::default());
    w.close(AuditEvent::gateway("".into(), ctx, "log_closed"));
}

/// Fills `db`: `records` records over the last `span_h` hours in sessions of ~50 calls
/// (three writers, as three `warden serve` instances), plus one 100k-event session in its
/// own log. Returns that session's id.
fn fill(db: &Path, keys: &Path, records: u64, span_h: i64) -> String {
    let started = Instant::now();
    let now = warden_audit::now_us();
    let span_us = span_h * 3_600_000_000;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let writers: Vec<AuditWriter> = (0..3).map(|_| writer(db, keys)).collect();
    let handles: Vec<_> = writers.iter().map(AuditWriter::handle).collect();
    let sessions = records / 104 + 1;
    let step_session = span_us / sessions as i64;
    let mut written = 0u64;
    for s in 0..sessions {
        let ts = now - span_us + s as i64 * step_session;
        let calls = 50;
        let principal = format!("user-{:03}", rng.below(200));
        for ev in session(
            &mut rng,
            s,
            ts,
            step_session / (calls as i64 * 2 + 4),
            calls,
            principal,
        ) {
            handles[(s % 3) as usize].record(ev).unwrap();
            written += 1;
        }
        if s % 2000 == 0 {
            eprintln!(
                "  {written} records, {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    for w in writers {
        close(w);
    }
    // The 100k-event session (50k calls), in the last hour, in its own log.
    let w = writer(db, keys);
    let h = w.handle();
    let big = session(
        &mut rng,
        0xB16,
        now - 3_600_000_000,
        30_000,
        50_000,
        "auditor-big".into(),
    );
    let id = big[0].session.to_string();
    for ev in big {
        h.record(ev).unwrap();
        written += 1;
    }
    close(w);
    eprintln!(
        "filled {written} records in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    id
}

fn get(addr: &str, path: &str) -> (u16, usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let status = std::str::from_utf8(&raw[9..12]).unwrap().parse().unwrap();
    (status, raw.len())
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[i.clamp(1, v.len()) - 1]
}

/// Times `n` GETs of the paths `make(i)` gives: (p50, p95, max) in ms.
fn measure(addr: &str, n: usize, make: impl Fn(usize) -> String) -> (f64, f64, f64) {
    let _warm = get(addr, &make(0));
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let path = make(i);
        let t = Instant::now();
        let (status, _) = get(addr, &path);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 200, "{path}");
    }
    let max = times.iter().copied().fold(0.0, f64::max);
    (pct(times.clone(), 50.0), pct(times, 95.0), max)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read.
    let records: u64 = std::env::var("WARDEN_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let span_h: i64 = std::env::var("WARDEN_BENCH_SPAN_HOURS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-admin");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join(format!("store-{records}-{span_h}h.db"));
    let keys = dir.join("keys");
    if !keys.join("checkpoint.vkey").exists() {
        Keys::generate(&keys, "bench", false).unwrap();
    }
    let big_session_file = db.with_extension("session");
    let big = match std::fs::read_to_string(&big_session_file) {
        Ok(s) if db.exists() => s,
        _ => {
            for f in ["", "-wal", "-shm"] {
                let _gone = std::fs::remove_file(format!("{}{f}", db.display()));
            }
            let id = fill(&db, &keys, records, span_h);
            std::fs::write(&big_session_file, &id).unwrap();
            id
        }
    };
    let total: i64 = rusqlite_count(&db);
    eprintln!("store {}: {total} records", db.display());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let state = ApiState::new(ApiOptions {
        db: db.clone(),
        ..ApiOptions::default()
    });
    rt.spawn(warden_api::serve_admin(
        listener,
        state,
        std::future::pending(),
    ));

    let mut rows: Vec<(String, (f64, f64, f64))> = Vec::new();
    let n = 100;
    let mut run = |name: &str, n: usize, make: &dyn Fn(usize) -> String| {
        let r = measure(&addr, n, make);
        eprintln!(
            "{name}: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            r.0, r.1, r.2
        );
        rows.push((name.to_owned(), r));
    };
    run("records, no filter, newest 50", n, &|_| {
        "/api/v1/records?limit=50".into()
    });
    run("records, tool=T (25 tools)", n, &|i| {
        format!("/api/v1/records?limit=50&tool={}", TOOLS[i % TOOLS.len()])
    });
    run("records, server=S", n, &|i| {
        format!(
            "/api/v1/records?limit=50&server={}",
            SERVERS[i % SERVERS.len()]
        )
    });
    run("records, principal=P (200 principals)", n, &|i| {
        format!("/api/v1/records?limit=50&principal=user-{:03}", i % 200)
    });
    run("records, agent=A", n, &|i| {
        let (a, v) = AGENTS[i % AGENTS.len()];
        format!("/api/v1/records?limit=50&agent={a}/{v}")
    });
    run("records, status=error", n, &|_| {
        "/api/v1/records?limit=50&status=error".into()
    });
    run("records, status=denied (0.5 %)", n, &|_| {
        "/api/v1/records?limit=50&status=denied".into()
    });
    run("records, status=rate_limited", n, &|_| {
        "/api/v1/records?limit=50&status=rate_limited".into()
    });
    run("records, session=S", n, &|i| {
        format!(
            "/api/v1/records?limit=50&session=0199{:012x}-bench-session",
            i * 37 % 9000
        )
    });
    run("records, tool=T&status=success&since=24h", n, &|i| {
        format!(
            "/api/v1/records?limit=50&tool={}&status=success&since=24h",
            TOOLS[i % TOOLS.len()]
        )
    });
    run("records, tool=T&principal=P (rare pair)", n, &|i| {
        format!(
            "/api/v1/records?limit=50&tool={}&principal=user-{:03}",
            TOOLS[i % TOOLS.len()],
            i % 200
        )
    });
    run("records, 24h window, oldest first", n, &|_| {
        "/api/v1/records?limit=50&since=24h&order=oldest".into()
    });
    // Deep paging: follow the cursor 20 pages into a tool's records.
    let cursors: Vec<String> = {
        let mut c = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..20 {
            let path = match &cursor {
                Some(x) => format!("/api/v1/records?limit=50&tool=read_file&cursor={x}"),
                None => "/api/v1/records?limit=50&tool=read_file".into(),
            };
            let mut s = TcpStream::connect(&addr).unwrap();
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut body = String::new();
            s.read_to_string(&mut body).unwrap();
            let json = body.split_once("\r\n\r\n").unwrap().1;
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            cursor = v["next_cursor"].as_str().map(str::to_owned);
            c.push(cursor.clone().unwrap());
        }
        c
    };
    run("records, tool=T, page 2..21 by cursor", n, &|i| {
        format!(
            "/api/v1/records?limit=50&tool=read_file&cursor={}",
            cursors[i % cursors.len()]
        )
    });
    run("sessions, newest 50", 30, &|_| {
        "/api/v1/sessions?limit=50".into()
    });
    run("stats?window=24h", 20, &|_| {
        "/api/v1/stats?window=24h".into()
    });
    run("stats?window=24h&server=S", 20, &|i| {
        format!(
            "/api/v1/stats?window=24h&server={}",
            SERVERS[i % SERVERS.len()]
        )
    });
    run("stats?window=1h", 20, &|_| "/api/v1/stats?window=1h".into());
    let t = Instant::now();
    let (status, _) = get(&addr, "/api/v1/verify");
    assert_eq!(status, 200);
    let verify_ms = t.elapsed().as_secs_f64() * 1000.0;
    eprintln!("verify (full, {total} records): {verify_ms:.0} ms");

    // The report of the 100k-event session.
    let store = Store::open_read(&db).unwrap();
    let t = Instant::now();
    let report = warden_api::report::build(
        &store,
        &warden_api::report::Scope {
            session: Some(big.clone()),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let built = t.elapsed();
    let html = warden_api::report::html::render(&report);
    let rendered = t.elapsed();
    assert_eq!(report.integrity.verdict, "ok");
    let json = warden_api::report::text::json(&report);
    let events = report.summary.records;

    println!(
        "\n| measurement ({total} records) | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|"
    );
    for (name, (p50, p95, max)) in &rows {
        println!("| {name} | {p50:.1} | {p95:.1} | {max:.1} |");
    }
    println!("| verify (full check, cold) | | | {verify_ms:.0} |");
    println!(
        "\nreport of a {events}-event session: built (with its log's verification) in {:.2} s, HTML rendered by {:.2} s, {:.1} MB HTML ({} timeline entries); JSON {:.1} MB",
        built.as_secs_f64(),
        rendered.as_secs_f64(),
        html.len() as f64 / 1e6,
        report.timeline.len(),
        json.len() as f64 / 1e6
    );
    std::fs::write(dir.join("big-session-report.html"), html).unwrap();
}

fn rusqlite_count(db: &Path) -> i64 {
    let store = Store::open_read(db).unwrap();
    store.max_rowid().unwrap()
}
