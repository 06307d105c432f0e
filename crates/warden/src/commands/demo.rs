//! `warden demo`: the sample HR server run through `warden run` with a scripted client
//! session, then a summary of what was recorded and the verify result.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context;
use serde_json::{Value, json};
use warden_audit::Store;

use crate::cli::DemoArgs;

fn script() -> Vec<(&'static str, Value)> {
    vec![
        (
            "initialize",
            json!({ "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "warden-demo-client", "version": "1.0" } }),
        ),
        ("notifications/initialized", Value::Null),
        ("tools/list", json!({})),
        (
            "tools/call",
            json!({ "name": "list_employees", "arguments": { "department": "Engineering" } }),
        ),
        (
            "tools/call",
            json!({ "name": "get_employee", "arguments": { "id": "E002" } }),
        ),
        (
            "tools/call",
            json!({ "name": "get_pay_info", "arguments": { "id": "E002" } }),
        ),
        (
            "tools/call",
            json!({ "name": "submit_time_off", "arguments": { "id": "E003", "from": "2026-12-21", "to": "2026-12-24" } }),
        ),
        (
            "tools/call",
            json!({ "name": "run_payroll_report", "arguments": {} }),
        ),
        ("ping", json!({})),
    ]
}

/// The demo's store and key directory. With `--db`, the keys live beside the store (its
/// directory's `keys/`, or `--key-dir`), so a second run on the same store signs and verifies
/// with the same key; with neither, both go to a new directory under the system temp dir.
fn places(args: DemoArgs) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (db, key_dir) = match (args.db, args.key_dir) {
        (Some(db), Some(keys)) => (db, keys),
        (Some(db), None) => {
            let keys = match db.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(parent) => parent.join("keys"),
                None => PathBuf::from("keys"),
            };
            (db, keys)
        }
        (None, keys) => {
            let dir = std::env::temp_dir().join(format!("warden-demo-{}", warden_audit::now_us()));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let keys = keys.unwrap_or_else(|| dir.join("keys"));
            (dir.join("audit.db"), keys)
        }
    };
    Ok((db, key_dir))
}

pub(crate) fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let (db, key_dir) = places(args)?;
    let exe = std::env::current_exe().context("finding the warden executable")?;
    let mut child = Command::new(&exe)
        .arg("run")
        .arg("--db")
        .arg(&db)
        .arg("--key-dir")
        .arg(&key_dir)
        .args([
            "--server-name",
            "hr",
            "--checkpoint-every",
            "8",
            "--sensitive-tools",
            "get_pay_info",
            "--",
        ])
        .arg(&exe)
        .arg("demo-server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting warden run")?;
    let mut to_server = child.stdin.take().context("no stdin")?;
    let mut from_server = BufReader::new(child.stdout.take().context("no stdout")?);
    println!("warden demo: an HR MCP server behind `warden run`, driven by a scripted client\n");
    let mut id = 0;
    for (method, params) in script() {
        let mut msg = json!({ "jsonrpc": "2.0", "method": method });
        if !params.is_null() {
            msg["params"] = params.clone();
        }
        let expects_reply = !method.starts_with("notifications/");
        if expects_reply {
            id += 1;
            msg["id"] = json!(id);
        }
        writeln!(to_server, "{msg}")?;
        to_server.flush()?;
        if !expects_reply {
            continue;
        }
        let mut line = String::new();
        from_server.read_line(&mut line)?;
        let reply: Value = serde_json::from_str(&line)
            .with_context(|| format!("reply to {method} is not JSON: {line:?}"))?;
        let label = match params.get("name").and_then(Value::as_str) {
            Some(tool) => format!("{method} {tool}"),
            None => method.to_owned(),
        };
        let status = match reply.get("error") {
            Some(e) => format!(
                "error {}: {}",
                e["code"],
                e["message"].as_str().unwrap_or_default()
            ),
            None => "ok".to_owned(),
        };
        println!("  → {label:<32} {status}");
    }
    drop(to_server);
    let status = child.wait()?;
    anyhow::ensure!(status.success(), "warden run exited with {status}");

    let store = Store::open_read(&db)?;
    let mut rows = Vec::new();
    store.for_each(&warden_audit::query::Query::default(), |r| {
        rows.push(r);
        true
    })?;
    let t = super::audit::records_table(&rows);
    // How each called tool was classed (from --sensitive-tools and the server's annotations).
    let mut classes: Vec<String> = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.kind == "request" && r.method.as_deref() == Some("tools/call"))
    {
        let leaf: Value = serde_json::from_slice(&r.leaf).unwrap_or_default();
        if let (Some(tool), Some(class), Some(source)) = (
            leaf["target"].as_str(),
            leaf["tool_class"].as_str(),
            leaf["tool_class_source"].as_str(),
        ) {
            classes.push(format!("{tool}: {class} ({source})"));
        }
    }
    println!(
        "\nrecorded {} records in {}:\n{t}",
        rows.len(),
        db.display()
    );
    println!("\ntools by class: {}", classes.join(", "));
    let vkey = std::fs::read_to_string(key_dir.join("checkpoint.vkey")).unwrap_or_default();
    let verdict = warden_audit::export::verify_store(&store, Some(&[vkey.trim().to_owned()]))?;
    match verdict {
        Ok(reports) => {
            let cps: u64 = reports.iter().map(|r| r.checkpoints).sum();
            println!(
                "\nverify: OK ({} records, {cps} signed checkpoints, key {})",
                reports.iter().map(|r| r.records).sum::<u64>(),
                vkey.trim()
            );
            println!(
                "\ntry:  warden audit search --db {} --tool get_pay_info --format json",
                db.display()
            );
            println!(
                "      warden audit verify --db {} --pubkey {}",
                db.display(),
                key_dir.join("checkpoint.vkey").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(p) => {
            println!("\nverify: FAILED: {p}");
            Ok(ExitCode::from(1))
        }
    }
}
