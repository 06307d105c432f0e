//! Observability end to end: a real Prometheus (Debian's package) scrapes `warden run
//! --metrics-listen` in front of the official server-everything under traffic, and the
//! monitoring guide's PromQL answers through Prometheus's HTTP API; promtool checks and
//! unit-tests the shipped alert rules; OTLP spans are decoded with the official protobuf
//! definitions; invented tool names cannot grow the series count; the exporter never holds up
//! traffic with its endpoint down; `warden report daily` reads the same session back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// A tool the test needs (`prometheus`, `promtool`): `None` means skip, loudly, unless CI is
/// set, where a missing tool fails (scripts/install-test-tools.sh installs them).
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} not found: run scripts/install-test-tools.sh"
        );
        eprintln!("skipped: {name} not found (scripts/install-test-tools.sh installs it)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 GET: `(status, body)`.
fn http_get(port: u16, path: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn wait_until<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `warden run` in front of `server`, driven line by line.
struct Wire {
    child: Child,
    input: Option<ChildStdin>,
    output: BufReader<ChildStdout>,
    next_id: u64,
}

impl Wire {
    fn start(place: &Place, extra: &[&str], server: &[&str]) -> Wire {
        let mut child = warden()
            .args(place.run_args(extra))
            .args(server)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take();
        let output = BufReader::new(child.stdout.take().unwrap());
        Wire {
            child,
            input,
            output,
            next_id: 0,
        }
    }

    fn send(&mut self, msg: &Value) {
        let w = self.input.as_mut().unwrap();
        writeln!(w, "{msg}").unwrap();
        w.flush().unwrap();
    }

    /// Sends a request and returns its response (skipping notifications).
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            assert!(
                self.output.read_line(&mut line).unwrap() > 0,
                "warden closed stdout"
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == json!(id) {
                return v;
            }
        }
    }

    fn initialize(&mut self) -> Value {
        let r = self.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "obs-test", "version": "1"}}),
        );
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        r
    }

    fn call(&mut self, tool: &str, args: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": args}))
    }

    /// Closes the client side and waits for warden to exit.
    fn finish(mut self) {
        drop(self.input.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "warden exited with {status}");
    }
}

fn everything(peers: &Path) -> Vec<String> {
    vec![
        "node".into(),
        peers
            .join("node/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
            .display()
            .to_string(),
    ]
}

/// Percent-encodes a query parameter.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An instant query through Prometheus's HTTP API: the result vector.
fn promql(port: u16, q: &str) -> Vec<Value> {
    let (status, body) = http_get(port, &format!("/api/v1/query?query={}", enc(q)), None).unwrap();
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert_eq!(status, 200, "{q}: {body}");
    assert_eq!(v["status"], "success", "{q}: {body}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// The single value of a query (`None` if the result is empty).
fn scalar(port: u16, q: &str) -> Option<f64> {
    let r = promql(port, q);
    assert!(r.len() <= 1, "{q}: {r:?}");
    r.first()
        .and_then(|s| s["value"][1].as_str())
        .map(|v| v.parse().unwrap())
}

/// `label value -> number` of a query grouped `by (label)`.
fn by(port: u16, q: &str, label: &str) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = promql(port, q)
        .iter()
        .map(|s| {
            (
                s["metric"][label].as_str().unwrap_or("").to_owned(),
                s["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _killed = self.0.kill();
        let _waited = self.0.wait();
    }
}

const POLICY: &str = r#"default: allow
policies:
  - name: no-env
    tool_pattern: "everything:get-env"
    action: deny
  - name: sum-limit
    tool_pattern: "everything:get-sum"
    rate_limit: { limit: 2, window: 1m, per: principal }
  - name: image-budget
    tool_pattern: "everything:get-tiny-image"
    budget: { calls: 2, window: 1d, per: principal }
"#;

#[test]
fn prometheus_scrapes_warden_and_the_guides_promql_answers() {
    let Some(peers) = peers() else { return };
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    let place = Place::new();
    let dir = place.dir.path();
    std::fs::write(dir.join("policy.yaml"), POLICY).unwrap();
    let events = dir.join("events.jsonl");
    let metrics_port = free_port();
    let listen = format!("127.0.0.1:{metrics_port}");
    let policy = dir.join("policy.yaml").display().to_string();
    let events_arg = events.display().to_string();
    let mut wire = Wire::start(
        &place,
        &[
            "--server-name",
            "everything",
            "--principal",
            "alice",
            "--policy",
            &policy,
            "--metrics-listen",
            &listen,
            "--security-events",
            &events_arg,
            "--anomaly-denial-burst",
            "3",
        ],
        &everything(&peers)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    // Prometheus scrapes warden every second and loads the shipped alert rules.
    let prom_port = free_port();
    let rules = repo_root().join("deploy/prometheus/alerts.yml");
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\nrule_files: [\"{}\"]\nscrape_configs:\n  - job_name: warden\n    static_configs: [{{ targets: [\"{listen}\"] }}]\n",
            rules.display()
        ),
    )
    .unwrap();
    let prom = Prometheus(
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Traffic in two rounds with a scrape between (rate() sees counters grow): 20 echoes,
    // 4 calls to a tool the server does not have, then 3 denied, 5 against a limit of 2, and
    // 4 against a budget of 2.
    wire.initialize();
    let listed = wire.request("tools/list", json!({}));
    assert!(listed["result"]["tools"].as_array().unwrap().len() > 5);
    for round in 0..2 {
        for i in 0..10 {
            let r = wire.call("echo", json!({"message": format!("hello {round} {i}")}));
            assert!(r.get("result").is_some(), "{r}");
        }
        for _ in 0..2 {
            // server-everything answers an unknown tool with a tool error (isError), not -32602.
            let r = wire.call("no-such-tool", json!({}));
            assert_eq!(r["result"]["isError"], true, "{r}");
        }
        if round == 0 {
            wait_until(
                "Prometheus to scrape warden",
                Duration::from_secs(60),
                || {
                    http_get(prom_port, "/-/ready", None)
                        .ok()
                        .filter(|(s, _)| *s == 200)?;
                    scalar(prom_port, "sum(mcp_tool_calls_total)").filter(|v| *v == 12.0)
                },
            );
        }
    }
    for _ in 0..3 {
        let r = wire.call("get-env", json!({}));
        assert!(r.get("error").is_some(), "{r}");
    }
    for _ in 0..5 {
        wire.call("get-sum", json!({"a": 1, "b": 2}));
    }
    for _ in 0..4 {
        wire.call("get-tiny-image", json!({}));
    }

    // Prometheus has scraped everything once the total is there.
    wait_until(
        "Prometheus to scrape warden",
        Duration::from_secs(60),
        || {
            http_get(prom_port, "/-/ready", None)
                .ok()
                .filter(|(s, _)| *s == 200)?;
            scalar(prom_port, "sum(mcp_tool_calls_total)").filter(|v| *v == 36.0)
        },
    );
    // The guide's queries, unchanged.
    // rate() needs two samples of a series: wait for the next scrapes.
    let total_rate = wait_until("two scrapes", Duration::from_secs(30), || {
        scalar(prom_port, "sum(rate(mcp_tool_calls_total[1h]))").filter(|_| {
            scalar(
                prom_port,
                "count(count_over_time(mcp_tool_calls_total[1h]) > 1)",
            ) == scalar(prom_port, "count(mcp_tool_calls_total)")
        })
    });
    assert!(total_rate > 0.0, "{total_rate}");
    let errors = by(
        prom_port,
        "sum(rate(mcp_tool_call_errors_total[5m])) by (tool_name)",
        "tool_name",
    );
    // The unknown tool is not in the server's tools/list: its label is `other`.
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "other");
    assert!(errors[0].1 > 0.0);
    assert_eq!(
        by(
            prom_port,
            "sum(mcp_rate_limit_hits_total) by (user_id)",
            "user_id"
        ),
        vec![("alice".to_owned(), 3.0)]
    );
    assert_eq!(
        by(
            prom_port,
            "sum(mcp_budget_exceeded_total) by (user_id)",
            "user_id"
        ),
        vec![("alice".to_owned(), 2.0)]
    );
    assert_eq!(scalar(prom_port, "sum(mcp_access_denied_total)"), Some(3.0));
    // `avg(mcp_tool_call_duration_seconds)` names a histogram (no plain series); the average
    // is its _sum over its _count.
    assert!(
        promql(
            prom_port,
            "avg(mcp_tool_call_duration_seconds) by (tool_name)"
        )
        .is_empty()
    );
    let avg = by(
        prom_port,
        "sum(mcp_tool_call_duration_seconds_sum) by (tool_name) / sum(mcp_tool_call_duration_seconds_count) by (tool_name)",
        "tool_name",
    );
    let echo = avg.iter().find(|(t, _)| t == "echo").unwrap().1;
    assert!(echo > 0.0 && echo < 5.0, "{avg:?}");
    // By status: 20 echoes + 2 sums + 2 images ok, 4 tool errors, 3 denied, 3 limited, 2 over
    // budget.
    assert_eq!(
        by(prom_port, "sum(mcp_tool_calls_total) by (status)", "status"),
        vec![
            ("budget_exceeded".to_owned(), 2.0),
            ("denied".to_owned(), 3.0),
            ("ok".to_owned(), 24.0),
            ("rate_limited".to_owned(), 3.0),
            ("tool_error".to_owned(), 4.0),
        ]
    );
    assert_eq!(
        by(
            prom_port,
            "sum(mcp_tool_call_errors_total) by (error_type)",
            "error_type"
        ),
        vec![("tool_error".to_owned(), 4.0)]
    );
    // The guide's error-rate alert expression (over what rate() saw grow), and the same over
    // the totals: 4 of 36 calls failed.
    let rate = scalar(
        prom_port,
        "(sum(rate(mcp_tool_call_errors_total[5m])) / sum(rate(mcp_tool_calls_total[5m]))) * 100",
    )
    .unwrap();
    assert!(rate > 0.0 && rate < 100.0, "{rate}");
    let ratio = scalar(
        prom_port,
        "sum(mcp_tool_call_errors_total) / sum(mcp_tool_calls_total) * 100",
    )
    .unwrap();
    assert!((ratio - 400.0 / 36.0).abs() < 1e-9, "{ratio}");
    // warden's own health: every queued record is committed; one session open.
    wait_until("the writer to catch up", Duration::from_secs(20), || {
        (scalar(prom_port, "warden_audit_writer_lag_records") == Some(0.0)).then_some(())
    });
    assert_eq!(scalar(prom_port, "sum(mcp_active_connections)"), Some(1.0));
    assert_eq!(
        scalar(prom_port, r#"warden_anomalies_total{kind="denial_burst"}"#),
        Some(1.0)
    );
    assert!(scalar(prom_port, "warden_audit_batch_duration_seconds_count").unwrap() > 0.0);
    // Prometheus loaded the shipped rules.
    let (_, rules_body) = http_get(prom_port, "/api/v1/rules", None).unwrap();
    assert!(rules_body.contains("HighErrorRate") && rules_body.contains("WardenAuditWriterLag"));

    // The Grafana dashboard: valid PromQL, and only metrics warden exports.
    let (status, exposition) = http_get(metrics_port, "/metrics", None).unwrap();
    assert_eq!(status, 200);
    let families: Vec<&str> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("deploy/grafana/warden.json")).unwrap(),
    )
    .unwrap();
    let exprs: Vec<String> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().clone())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    assert!(exprs.len() >= 10);
    let name = regex_lite_names;
    for e in &exprs {
        for m in name(e) {
            let family = ["_total", "_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| m.strip_suffix(s))
                .unwrap_or(&m);
            assert!(
                families.contains(&family),
                "dashboard metric {m} is not exported"
            );
        }
        promql(prom_port, &e.replace("$__rate_interval", "1m"));
    }

    // Readiness while the session is open.
    let (status, body) = http_get(metrics_port, "/readyz", None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        "ready"
    );
    let (status, body) = http_get(metrics_port, "/healthz", None).unwrap();
    assert_eq!((status, body.contains("\"ok\"")), (200, true));
    drop(prom);
    wire.finish();

    // The security event stream: the guide's event types, hashes and no payloads.
    let text = std::fs::read_to_string(&events).unwrap();
    let evs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |e: &str| evs.iter().filter(|v| v["event"] == e).count();
    assert_eq!(count("mcp_tool_call"), 28, "{text}");
    assert_eq!(count("mcp_access_denied"), 3);
    assert_eq!(count("mcp_rate_limit"), 3);
    assert_eq!(count("mcp_budget_exceeded"), 2);
    // Each names the rule that refused it: the limit's or the budget's own rule.
    for (event, rule) in [
        ("mcp_rate_limit", "sum-limit"),
        ("mcp_budget_exceeded", "image-budget"),
    ] {
        for v in evs.iter().filter(|v| v["event"] == event) {
            assert_eq!(v["rule"], rule, "{v}");
        }
    }
    assert_eq!(count("mcp_anomaly"), 1);
    assert_eq!(
        evs.iter()
            .filter(|v| v["error_type"] == "tool_error" && v["success"] == false)
            .count(),
        4
    );
    let first = evs.iter().find(|v| v["tool_name"] == "echo").unwrap();
    for field in [
        "tool_name",
        "server_id",
        "user_id",
        "agent_name",
        "params_hash",
        "success",
        "latency_ms",
        "timestamp",
        "record_id",
    ] {
        assert!(!first[field].is_null(), "{field} missing: {first}");
    }
    assert_eq!(first["server_id"], "everything");
    assert_eq!(first["user_id"], "alice");
    assert!(
        !text.contains("hello 0"),
        "a payload reached the event stream"
    );
    // Each record id is the audit record's.
    let leaves = place.leaves();
    let id = first["record_id"].as_str().unwrap();
    assert!(leaves.iter().any(|l| l["id"] == id));
    // The anomaly is an audit record too.
    let anomaly = first_event(&leaves, "anomaly");
    assert_eq!(anomaly["detail"]["kind"], "denial_burst");
    assert_eq!(anomaly["detail"]["key"], "alice");
    place.assert_verifies();

    // The daily report reads the same numbers back from the store.
    let out = warden()
        .args(["report", "daily", "--format", "json", "--db"])
        .arg(place.db())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &r["tool_call_stats"];
    assert_eq!(s["total_calls"], 36, "{r}");
    assert_eq!(s["successful"], 24);
    assert_eq!(s["failed"], 4);
    assert_eq!(s["blocked"], 8);
    let e = &r["security_events"];
    assert_eq!(
        (
            &e["access_denied"],
            &e["rate_limits"],
            &e["budget_exceeded"],
            &e["anomalies"]
        ),
        (&json!(3), &json!(3), &json!(2), &json!(1))
    );
    assert!(s["p95_latency_ms"].as_f64().unwrap() >= s["avg_latency_ms"].as_f64().unwrap() * 0.5);
    assert_eq!(r["top_tools"][0]["name"], "echo");
    assert_eq!(r["top_principals"][0]["name"], "alice");
    // 4/36 errors is over the 10% threshold; the rest are under theirs.
    let kinds: Vec<&str> = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["error_rate", "anomaly"]);
    let text = warden()
        .args(["report", "daily", "--db"])
        .arg(place.db())
        .args(["--max-error-rate", "50", "--fail-on-alert"])
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&text.stdout);
    assert!(
        t.contains("Total Calls: 36") && t.contains("Access Denied: 3"),
        "{t}"
    );
    assert_eq!(text.status.code(), Some(1), "the anomaly alert remains");
}

/// Metric names in a PromQL expression (`mcp_*` and `warden_*`).
fn regex_lite_names(e: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = e.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        if (e[i..].starts_with("mcp_") || e[i..].starts_with("warden_"))
            && (i == 0 || !word(b[i - 1]))
        {
            let start = i;
            while i < b.len() && word(b[i]) {
                i += 1;
            }
            out.push(e[start..i].to_owned());
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn promtool_checks_and_tests_the_shipped_alert_rules() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let dir = repo_root().join("deploy/prometheus");
    for args in [
        vec!["check", "rules", "alerts.yml"],
        vec!["test", "rules", "alerts_test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every alert in the file has a test that fires it.
    let rules = std::fs::read_to_string(dir.join("alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(dir.join("alerts_test.yml")).unwrap();
    for name in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        let fires = tests
            .split("alertname: ")
            .skip(1)
            .any(|t| t.starts_with(name) && t.contains("exp_labels"));
        assert!(fires, "no test fires {name}");
    }
}

fn python() -> PathBuf {
    let venv = peers().map(|p| p.join("venv/bin/python"));
    venv.unwrap_or_else(|| PathBuf::from("python3"))
}

struct Receiver {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _killed = self.child.kill();
        let _waited = self.child.wait();
    }
}

fn otlp_receiver(dir: &Path, fail_first: u32) -> Receiver {
    let port_file = dir.join("otlp.port");
    let out = dir.join("spans.jsonl");
    let child = Command::new(python())
        .arg(repo_root().join("tests/peers/otlp_receiver.py"))
        .arg(&port_file)
        .arg(&out)
        .arg(fail_first.to_string())
        .spawn()
        .unwrap();
    let mut rx = Receiver {
        child,
        port: 0,
        out,
    };
    rx.port = wait_until("the OTLP receiver", Duration::from_secs(20), || {
        if let Ok(Some(status)) = rx.child.try_wait() {
            panic!(
                "the OTLP receiver exited ({status}): is opentelemetry-proto in the peers venv? \
                 run scripts/install-peers.sh"
            );
        }
        std::fs::read_to_string(&port_file)
            .ok()?
            .trim()
            .parse()
            .ok()
    });
    rx
}

#[test]
fn otlp_spans_decode_with_the_official_protos() {
    if peers().is_none() {
        return;
    }
    let place = Place::new();
    // The collector refuses the first two exports (503): the exporter retries with backoff.
    let rx = otlp_receiver(place.dir.path(), 2);
    let endpoint = format!("http://127.0.0.1:{}", rx.port);
    let metrics = free_port();
    let listen = format!("127.0.0.1:{metrics}");
    let mut p = Proxied::start(
        &place,
        &[
            "--server-name",
            "hr",
            "--principal",
            "alice",
            "--otlp-endpoint",
            &endpoint,
            "--otlp-header",
            "authorization=Bearer otlp-secret",
            "--metrics-listen",
            &listen,
        ],
    );
    p.send(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"trace-test","version":"1"}}}"#);
    p.recv();
    // A call continuing the client's trace (params._meta.traceparent), one without, one error.
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_employee","arguments":{"id":"E001","note":"PAYLOAD-MARKER-123"},"_meta":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}}"#);
    p.recv();
    p.send(r#"{"jsonrpc":"2.0","id":"two","method":"tools/call","params":{"name":"list_employees","arguments":{}}}"#);
    p.recv();
    p.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nope","arguments":{"x":"PAYLOAD-MARKER-456"}}}"#);
    p.recv();
    // Exported after two refusals (backoff 200 ms, then 400 ms), while warden runs.
    let exported = r#"warden_trace_spans_total{result="exported"} "#;
    wait_until("the retried export", Duration::from_secs(20), || {
        let (_, body) = http_get(metrics, "/metrics", None).ok()?;
        let n: f64 = body
            .lines()
            .find_map(|l| l.strip_prefix(exported))?
            .parse()
            .ok()?;
        (n >= 4.0).then_some(())
    });
    let refused = std::fs::read_to_string(rx.out.with_extension("jsonl.refused")).unwrap();
    assert_eq!(refused.lines().count(), 2);
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
    // warden exports what is queued at exit.
    let spans: Vec<Value> = wait_until("4 spans", Duration::from_secs(20), || {
        let text = std::fs::read_to_string(&rx.out).ok()?;
        let v: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (v.len() >= 4).then_some(v)
    });
    let raw = std::fs::read(rx.out.with_extension("jsonl.raw")).unwrap();
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no span {name}: {spans:?}"))
    };
    let init = find("initialize");
    assert_eq!(init["attributes"]["mcp.method.name"], "initialize");
    let call = find("tools/call get_employee");
    assert_eq!(call["path"], "/v1/traces");
    assert_eq!(call["content_type"], "application/x-protobuf");
    assert_eq!(call["auth"], "Bearer otlp-secret");
    assert_eq!(call["resource"]["service.name"], "warden");
    assert_eq!(call["scope"], "warden");
    assert_eq!(call["kind"], 2, "SPAN_KIND_SERVER");
    // The client's trace continues: same trace id, its span is the parent.
    assert_eq!(call["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(call["parent_span_id"], "00f067aa0ba902b7");
    let a = &call["attributes"];
    assert_eq!(a["mcp.method.name"], "tools/call");
    assert_eq!(a["gen_ai.tool.name"], "get_employee");
    assert_eq!(a["gen_ai.operation.name"], "execute_tool");
    assert_eq!(a["jsonrpc.request.id"], "1");
    assert_eq!(a["network.transport"], "pipe");
    assert!(call["end"].as_u64().unwrap() >= call["start"].as_u64().unwrap());
    // The span links to the audit records of the response and the request.
    let leaves = place.leaves();
    let closing = leaves
        .iter()
        .find(|l| l["kind"] == "result" && l["rpc_id"] == 1)
        .unwrap();
    assert_eq!(a["warden.audit.record_id"], closing["id"]);
    let request = leaves
        .iter()
        .find(|l| l["kind"] == "request" && l["rpc_id"] == 1)
        .unwrap();
    assert_eq!(a["warden.audit.request_record_id"], request["id"]);
    assert_eq!(a["mcp.session.id"], request["session"]);
    // Without a traceparent: a root span of a new trace.
    let list = find("tools/call list_employees");
    assert_eq!(list["parent_span_id"], "");
    assert_ne!(list["trace_id"], call["trace_id"]);
    assert_eq!(list["attributes"]["jsonrpc.request.id"], "two");
    let err = find("tools/call nope");
    assert_eq!(err["status_code"], 2, "STATUS_CODE_ERROR");
    assert_eq!(err["attributes"]["error.type"], "invalid_params");
    assert_eq!(err["attributes"]["rpc.response.status_code"], "-32602");
    // No payload bytes leave warden in spans.
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        !raw.contains("PAYLOAD-MARKER") && !raw.contains("E001"),
        "payload exported"
    );
}

#[test]
fn spans_go_to_an_https_collector_trusted_through_a_private_ca() {
    if peers().is_none() {
        return;
    }
    let place = Place::new();
    let dir = place.dir.path();
    crate::serve::make_certs(dir);
    let rx = otlp_receiver(dir, 0);
    // TLS terminated in front of the receiver, with a certificate from the test CA.
    let upstream = format!("http://127.0.0.1:{}", rx.port);
    let (mut front, port) = crate::serve::tls_front(
        dir,
        &[
            "--cert",
            "srv.pem",
            "--key",
            "srv.key",
            "--upstream",
            &upstream,
        ],
    );
    let endpoint = format!("https://127.0.0.1:{port}");
    let ca = dir.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let mut p = Proxied::start(
        &place,
        &["--otlp-endpoint", &endpoint, "--otlp-ca-file", ca],
    );
    p.send(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"tls-test","version":"1"}}}"#);
    p.recv();
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
    let spans: Vec<Value> = wait_until("the span over https", Duration::from_secs(20), || {
        let text = std::fs::read_to_string(&rx.out).ok()?;
        let v: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (!v.is_empty()).then_some(v)
    });
    assert_eq!(spans[0]["name"], "initialize");
    let _killed = front.kill();
    let _waited = front.wait();
    // A CA file that holds no certificate stops warden at start, naming the file.
    std::fs::write(dir.join("empty.pem"), "").unwrap();
    let out = warden()
        .args(place.run_args(&[
            "--otlp-endpoint",
            &endpoint,
            "--otlp-ca-file",
            dir.join("empty.pem").to_str().unwrap(),
        ]))
        .arg(warden_bin())
        .arg("demo-server")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("empty.pem: no PEM certificate"), "{err}");
}

#[test]
fn the_exporter_never_holds_traffic_with_its_endpoint_down() {
    let place = Place::new();
    // Nothing listens on this port: every export fails (and is retried with backoff).
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut p = Proxied::start(
        &place,
        &[
            "--otlp-endpoint",
            &endpoint,
            "--otlp-queue",
            "8",
            "--metrics-listen",
            &listen,
        ],
    );
    p.calls(1);
    // Traffic keeps flowing while the exporter retries against the dead endpoint: its queue
    // of 8 fills, and further spans are dropped (and counted) instead of waiting.
    let value = |body: &str, name: &str| -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let dropped = r#"warden_trace_spans_total{result="dropped"}"#;
    let mut id = 100;
    let body = wait_until("dropped spans", Duration::from_secs(60), || {
        for _ in 0..50 {
            id += 1;
            p.send(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"get_employee","arguments":{{"id":"E001"}}}}}}"#));
            let reply = p.recv();
            assert!(reply.contains(&format!(r#""id":{id}"#)), "{reply}");
        }
        let (_, body) = http_get(port, "/metrics", None).unwrap();
        (value(&body, dropped) > 0.0).then_some(body)
    });
    let value = |name: &str| value(&body, name);
    assert_eq!(value(r#"warden_trace_spans_total{result="exported"}"#), 0.0);
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
    place.assert_verifies();
}

#[test]
fn invented_tool_names_leave_the_series_count_bounded() {
    let place = Place::new();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = repo_root().join("tests/peers/many_tools_server.py");
    let server = server.display().to_string();
    let mut wire = Wire::start(
        &place,
        &[
            "--metrics-listen",
            &listen,
            "--metrics-tool-cap",
            "50",
            "--no-user-label",
            "--principal",
            "p",
        ],
        &["python3", &server, "5000"],
    );
    wire.initialize();
    // The server lists 5000 invented names; the client calls 300 of them and 300 of its own.
    let listed = wire.request("tools/list", json!({}));
    assert_eq!(listed["result"]["tools"].as_array().unwrap().len(), 5000);
    for i in 0..300 {
        wire.call(&format!("invented-{}", i * 7), json!({}));
        wire.call(&format!("client-made-{i}"), json!({}));
    }
    let (status, body) = http_get(port, "/metrics", None).unwrap();
    assert_eq!(status, 200);
    let series = |prefix: &str| body.lines().filter(|l| l.starts_with(prefix)).count();
    // At most 50 tool names plus `other`.
    let calls = series("mcp_tool_calls_total{");
    assert!(calls <= 51 && calls > 1, "{calls} series");
    assert!(series("mcp_tool_call_duration_seconds_count{") <= 51);
    assert!(body.contains(r#"tool_name="other""#));
    assert!(!body.contains("client-made"));
    // No principal label when it is switched off.
    assert!(!body.contains(r#"user_id="p""#));
    let overflow: f64 = body
        .lines()
        .find_map(|l| l.strip_prefix(r#"warden_label_overflow_total{label="tool_name"} "#))
        .unwrap()
        .parse()
        .unwrap();
    assert!(overflow >= 300.0);
    wire.finish();
}

#[test]
fn a_tool_the_policy_names_is_its_own_label_before_any_tools_list() {
    let place = Place::new();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let policy = place.dir.path().join("p.yaml");
    std::fs::write(
        &policy,
        "default: allow\npolicies:\n  - name: pay\n    tool_pattern: \"many:invented-7\"\n    action: allow\n",
    )
    .unwrap();
    let policy = policy.display().to_string();
    let server = repo_root().join("tests/peers/many_tools_server.py");
    let server = server.display().to_string();
    let mut wire = Wire::start(
        &place,
        &[
            "--metrics-listen",
            &listen,
            "--server-name",
            "many",
            "--policy",
            &policy,
        ],
        &["python3", &server, "20"],
    );
    wire.initialize();
    // No tools/list: the policy's exact name is a label, a name nobody wrote is `other`.
    wire.call("invented-7", json!({}));
    wire.call("invented-8", json!({}));
    let (status, body) = http_get(port, "/metrics", None).unwrap();
    assert_eq!(status, 200);
    let calls: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("mcp_tool_calls_total{"))
        .collect();
    assert!(
        calls
            .iter()
            .any(|l| l.contains(r#"tool_name="invented-7""#)),
        "{calls:?}"
    );
    assert!(
        calls.iter().any(|l| l.contains(r#"tool_name="other""#)),
        "{calls:?}"
    );
    assert!(!body.contains("invented-8"), "{calls:?}");
    wire.finish();
}

/// A metrics token strong enough to be accepted.
const TOKEN: &str = "7f3c9a01b2e44d6f8a90c1d2e3f4a5b6";

#[test]
fn metrics_need_the_token_when_one_is_set_and_off_loopback() {
    let place = Place::new();
    // A non-loopback address without a token is refused before the server starts.
    let out = warden()
        .args(place.run_args(&["--metrics-listen", "0.0.0.0:0"]))
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut p = Proxied::start(
        &place,
        &["--metrics-listen", &listen, "--metrics-token", TOKEN],
    );
    p.calls(1);
    assert_eq!(http_get(port, "/metrics", None).unwrap().0, 401);
    assert_eq!(http_get(port, "/metrics", Some("wrong")).unwrap().0, 401);
    let (status, body) = http_get(port, "/metrics", Some(TOKEN)).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("mcp_tool_calls_total{"));
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
}
