//! What the readers show agrees with the leaves, through the real binary: a tool result
//! flagged `isError` is a failure in every report format, the stats API, `audit search
//! --status error` and the daily report; an edited query column is named by `audit verify`
//! and turns the report's verdict; an edited export names the record edited; CSV cells a
//! spreadsheet would run are neutralised; the store is created 0600 under any umask.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::Value;

use crate::support::*;

/// A server that answers `initialize`, then a tool that fails (`isError: true`), then a
/// tool with a hostile name whose result is a formula, then exits when stdin closes.
const SERVER: &str = r#"read a; printf '%s\n' '{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"flaky","version":"1"}}}'; read b; printf '%s\n' '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"disk on fire"}],"isError":true}}'; read c; printf '%s\n' '{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"=HYPERLINK(\"http://evil.example\",\"x\")"}]}}'; read d; exit 0"#;

fn recorded() -> Place {
    let place = Place::new();
    let mut child = warden()
        .args(place.run_args(&["--server-name", "flaky", "--principal", "alice"]))
        .args(["sh", "-c", SERVER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut ask = |line: &str| {
        use std::io::Write;
        writeln!(input, "{line}").unwrap();
        input.flush().unwrap();
        let mut reply = String::new();
        output.read_line(&mut reply).unwrap();
        reply
    };
    assert!(ask(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#).contains("flaky"));
    assert!(ask(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"burn","arguments":{}}}"#).contains("isError"));
    assert!(ask(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"=1+1","arguments":{"q":"@SUM(A1)","n":"-2+3"}}}"#).contains("HYPERLINK"));
    drop(input);
    assert!(child.wait().unwrap().success());
    place
}

fn out(args: &[&str], place: &Place) -> (Option<i32>, String) {
    let o = warden()
        .args(args)
        .arg("--db")
        .arg(place.db())
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// Splits CSV text into rows of cells (quotes, doubled quotes, newlines in quotes).
fn csv_cells(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell) = (Vec::new(), Vec::new(), String::new());
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}

#[test]
fn a_tool_error_is_a_failure_in_every_reader() {
    let place = recorded();
    place.assert_verifies();
    // The record itself.
    let outcomes: Vec<Option<String>> = place
        .conn()
        .prepare("SELECT outcome FROM records WHERE kind = 'result' AND method = 'tools/call' ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(outcomes, [Some("tool_error".into()), Some("ok".into())]);

    // The report, in every format.
    let (code, json) = out(&["report", "html", "--format", "json"], &place);
    assert_eq!(code, Some(0));
    let r: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(r["summary"]["errors"], 1, "{}", r["summary"]);
    assert_eq!(r["failures_total"], 1);
    assert_eq!(r["failures"][0]["tool"], "burn");
    assert_eq!(r["failures"][0]["outcome"], "tool_error");
    assert_eq!(r["failures"][0]["message"], "disk on fire");
    let burn = r["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "burn")
        .unwrap();
    assert_eq!(
        (burn["ok"].as_u64(), burn["errors"].as_u64()),
        (Some(0), Some(1))
    );
    let (_, md) = out(&["report", "html", "--format", "md"], &place);
    assert!(md.contains("## Failures (1)"), "{md}");
    let (_, csv) = out(&["report", "html", "--format", "csv"], &place);
    assert!(
        csv.lines()
            .any(|l| l.starts_with("failure,") && l.contains("tool_error")),
        "{csv}"
    );
    let (_, html) = out(&["report", "html"], &place);
    assert!(html.contains("<span class=\"badge o-err\">tool_error</span>"));

    // `audit search --status error` finds it, and only it.
    let (code, found) = out(
        &["audit", "search", "--status", "error", "--format", "jsonl"],
        &place,
    );
    assert_eq!(code, Some(0));
    let found: Vec<Value> = found
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["target"], "burn");
    let (_, ok) = out(
        &[
            "audit", "search", "--status", "success", "--kind", "result", "--format", "jsonl",
        ],
        &place,
    );
    assert_eq!(
        ok.lines().count(),
        2,
        "initialize and the formula tool: {ok}"
    );

    // The daily report.
    let (_, daily) = out(&["report", "daily", "--format", "json"], &place);
    let d: Value = serde_json::from_str(&daily).unwrap();
    let s = &d["tool_call_stats"];
    assert_eq!(
        (
            &s["total_calls"],
            &s["successful"],
            &s["failed"],
            &s["tool_errors"]
        ),
        (
            &Value::from(2),
            &Value::from(1),
            &Value::from(1),
            &Value::from(1)
        ),
        "{s}"
    );
    // 1 of 2 failed: the alert says the numbers the report shows.
    let alert = d["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "error_rate")
        .unwrap();
    assert_eq!(alert["value"], 50.0);
    assert!(
        alert["message"]
            .as_str()
            .unwrap()
            .contains("1 of 2 calls failed"),
        "{alert}"
    );

    // The stats API and the dashboard's record statuses.
    let d = crate::admin::Dashboard::start(&place.db(), &[]);
    let stats = d.ok("/api/v1/stats?window=24h");
    assert_eq!(
        (
            &stats["total_invocations"],
            &stats["successes"],
            &stats["errors"]
        ),
        (&Value::from(2), &Value::from(1), &Value::from(1)),
        "{stats}"
    );
    assert!(
        stats["by_principal"][0]["avg_latency_ms"].is_number(),
        "{stats}"
    );
    let errors = d.ok("/api/v1/records?status=error");
    let errors = errors["records"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["status"], "error");
}

#[test]
fn no_csv_cell_is_a_formula() {
    let place = recorded();
    let (_, csv) = out(&["report", "html", "--format", "csv"], &place);
    let rows = csv_cells(&csv);
    assert!(rows.len() > 10);
    let mut neutralised = 0;
    for cell in rows.iter().flatten() {
        let plain_number = cell.trim_start_matches(['-', '+']).parse::<f64>().is_ok()
            && !cell.contains(['e', 'E']);
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']) || plain_number,
            "a cell a spreadsheet would run: {cell:?}"
        );
        if cell.starts_with("'=") || cell.starts_with("'@") || cell.starts_with("'-") {
            neutralised += 1;
        }
    }
    // The hostile tool name, its arguments and its result are all there, as text.
    assert!(csv.contains("'=1+1"), "{csv}");
    assert!(neutralised >= 2, "{neutralised}");
}

#[test]
fn the_markdown_report_says_when_its_range_is_open() {
    let place = recorded();
    let (_, md) = out(
        &["report", "html", "--format", "md", "--from", "24h"],
        &place,
    );
    assert!(md.contains(" to now (open)."), "{md}");
    let (_, md) = out(
        &[
            "report",
            "html",
            "--format",
            "md",
            "--to",
            "2999-01-01T00:00:00Z",
        ],
        &place,
    );
    assert!(
        md.contains("From the first record (open) to 2999-01-01"),
        "{md}"
    );
}

#[test]
fn an_edited_outcome_column_is_named_and_the_report_says_tampered() {
    let place = recorded();
    let c = place.conn();
    let (seq, id): (i64, String) = c
        .query_row(
            "SELECT seq, id FROM records WHERE outcome = 'tool_error'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    c.execute(
        "UPDATE records SET outcome = 'ok' WHERE outcome = 'tool_error'",
        [],
    )
    .unwrap();
    let v = place.verify();
    let text = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("query column edited at record {seq} (id {id})"))
            && text.contains("column outcome holds \"ok\" but the record says \"tool_error\""),
        "{text}"
    );
    let (_, json) = out(&["audit", "verify", "--format", "json"], &place);
    let j: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["problem"]["kind"], "query column edited");
    assert_eq!(j["problem"]["column"], "outcome");
    assert_eq!(j["problem"]["seq"], seq);
    let (_, report) = out(&["report", "html", "--format", "json"], &place);
    let r: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(r["integrity"]["verdict"], "tampered");
}

#[test]
fn verify_file_names_the_record_edited_in_an_export() {
    let place = recorded();
    let file = place.dir.path().join("export.jsonl");
    assert!(place.export(&file).status.success());
    let seq: i64 = place
        .conn()
        .query_row(
            "SELECT seq FROM records WHERE outcome = 'tool_error'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    // The failed call is made to look like a success: its leaf's outcome is edited.
    let marker = format!("\"seq\":{seq},\"leaf\"");
    let edited: String = text
        .lines()
        .map(|l| {
            let l = if l.contains(&marker) {
                l.replacen("\"outcome\":\"tool_error\"", "\"outcome\":\"ok\"", 1)
            } else {
                l.to_owned()
            };
            format!("{l}\n")
        })
        .collect();
    assert_ne!(edited, text);
    std::fs::write(&file, edited).unwrap();
    let v = warden()
        .args(["audit", "verify", "--file"])
        .arg(&file)
        .arg("--pubkey")
        .arg(place.keys().join("checkpoint.vkey"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!("edited at record {seq} (id ")),
        "{out}"
    );
}

/// Mode of `path` (the low nine bits).
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn with_umask_000() -> std::process::Command {
    let mut c = std::process::Command::new("sh");
    c.args(["-c", "umask 000; exec \"$0\" \"$@\""])
        .arg(warden_bin());
    c
}

/// Asserts the store and every companion SQLite made are 0600.
fn assert_private(db: &std::path::Path) {
    assert_eq!(mode(db), 0o600, "{}", db.display());
    for f in ["-wal", "-shm"] {
        let p = std::path::PathBuf::from(format!("{}{f}", db.display()));
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
}

#[test]
fn the_store_is_created_0600_under_a_permissive_umask() {
    // warden run, checked while it runs (the WAL and shared memory exist then).
    let place = Place::new();
    let mut child = with_umask_000()
        .args(place.run_args(&[]))
        .arg(warden_bin())
        .arg("demo-server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut p = Proxied {
        input: child.stdin.take(),
        output: BufReader::new(child.stdout.take().unwrap()),
        child,
    };
    p.calls(1);
    let wal = std::path::PathBuf::from(format!("{}-wal", place.db().display()));
    assert!(wal.exists(), "the WAL exists while warden runs");
    assert_private(&place.db());
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
    assert_private(&place.db());

    // warden demo.
    let place = Place::new();
    let o = with_umask_000()
        .args(["demo", "--db"])
        .arg(place.db())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_private(&place.db());

    // warden serve: checked once it listens (it opens the store first).
    let place = Place::new();
    let cfg = place.dir.path().join("warden.yaml");
    std::fs::write(
        &cfg,
        format!(
            "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\n",
            warden_bin().display()
        ),
    )
    .unwrap();
    let mut child = with_umask_000()
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(place.db())
        .arg("--key-dir")
        .arg(place.keys())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            panic!("warden serve exited before listening: {:?}", child.wait());
        }
        if line.contains("listening on http://") {
            break;
        }
    }
    assert_private(&place.db());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn the_daily_report_says_n_a_where_there_is_nothing_to_average() {
    let place = recorded();
    let (code, text) = out(
        &[
            "report",
            "daily",
            "--since",
            "2000-01-01T00:00:00Z",
            "--until",
            "2000-01-02T00:00:00Z",
        ],
        &place,
    );
    assert_eq!(code, Some(0));
    for line in [
        "Total Calls: 0",
        "Error Rate: n/a",
        "Avg Latency: n/a",
        "P95 Latency: n/a",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    assert!(!text.contains("0.00ms"), "{text}");
    let (_, text) = out(&["report", "daily"], &place);
    assert!(text.contains("Error Rate: 50.0%"), "{text}");
    assert!(text.contains("of which tool errors (isError): 1"), "{text}");
}
