//! The sample HR MCP server behind `warden demo` (hidden command `demo-server`): newline-
//! delimited JSON-RPC on stdio; list/get employees, a sensitive pay lookup, a write that
//! submits time off, and a report that always fails.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, Write};
use std::process::ExitCode;

use serde_json::{Value, json};

const EMPLOYEES: &[(&str, &str, &str, u32)] = &[
    ("E001", "Ada Lovelace", "Engineering", 182_000),
    ("E002", "Grace Hopper", "Engineering", 195_000),
    ("E003", "Katherine Johnson", "Research", 171_000),
    ("E004", "Alan Turing", "Research", 176_000),
];

fn tools() -> Value {
    json!([
        { "name": "list_employees", "description": "List employees, optionally by department.",
          "inputSchema": { "type": "object", "properties": { "department": { "type": "string" } } },
          "annotations": { "readOnlyHint": true } },
        { "name": "get_employee", "description": "Get one employee's directory entry.",
          "inputSchema": { "type": "object", "properties": { "id": { "type": "string" } }, "required": ["id"] },
          "annotations": { "readOnlyHint": true } },
        { "name": "get_pay_info", "description": "Get an employee's salary (sensitive).",
          "inputSchema": { "type": "object", "properties": { "id": { "type": "string" } }, "required": ["id"] },
          "annotations": { "readOnlyHint": true } },
        { "name": "submit_time_off", "description": "Submit a time-off request for an employee.",
          "inputSchema": { "type": "object", "properties": { "id": { "type": "string" }, "from": { "type": "string" }, "to": { "type": "string" } }, "required": ["id", "from", "to"] },
          "annotations": { "readOnlyHint": false, "destructiveHint": false } },
        { "name": "run_payroll_report", "description": "Run the payroll report (the payroll system is down).",
          "inputSchema": { "type": "object", "properties": {} } }
    ])
}

fn text(v: Value) -> Value {
    json!({ "content": [{ "type": "text", "text": v.to_string() }], "structuredContent": v })
}

fn employee(id: &str) -> Option<&'static (&'static str, &'static str, &'static str, u32)> {
    EMPLOYEES.iter().find(|e| e.0 == id)
}

fn call(name: &str, args: &Value) -> Result<Value, (i64, String)> {
    let id = args.get("id").and_then(Value::as_str).unwrap_or_default();
    let unknown = || (-32602, format!("unknown employee {id:?}"));
    match name {
        "list_employees" => {
            let dept = args.get("department").and_then(Value::as_str);
            let list: Vec<Value> = EMPLOYEES
                .iter()
                .filter(|e| dept.is_none_or(|d| d == e.2))
                .map(|e| json!({ "id": e.0, "name": e.1, "department": e.2 }))
                .collect();
            Ok(text(json!({ "employees": list })))
        }
        "get_employee" => employee(id).map(|e| text(json!({ "id": e.0, "name": e.1, "department": e.2 }))).ok_or_else(unknown),
        "get_pay_info" => employee(id).map(|e| text(json!({ "id": e.0, "salary_usd": e.3 }))).ok_or_else(unknown),
        "submit_time_off" => employee(id)
            .map(|e| text(json!({ "request": format!("TO-{}-{}", e.0, args["from"].as_str().unwrap_or("?")), "status": "submitted" })))
            .ok_or_else(unknown),
        "run_payroll_report" => Err((-32603, "payroll backend unavailable: connection refused".into())),
        other => Err((-32602, format!("unknown tool {other:?}"))),
    }
}

fn respond(msg: &Value) -> Option<Value> {
    let id = msg.get("id")?.clone();
    let method = msg.get("method")?.as_str()?;
    let params = msg.get("params").cloned().unwrap_or(Value::Null);
    let result = match method {
        "initialize" => Ok(json!({
            "protocolVersion": params.get("protocolVersion").cloned().unwrap_or(json!("2025-06-18")),
            "capabilities": { "tools": {} },
            "serverInfo": { "name": "warden-demo-hr", "version": env!("CARGO_PKG_VERSION") }
        })),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({ "tools": tools() })),
        "tools/call" => call(
            params["name"].as_str().unwrap_or_default(),
            &params["arguments"],
        ),
        other => Err((-32601, format!("method not found: {other}"))),
    };
    Some(match result {
        Ok(r) => json!({ "jsonrpc": "2.0", "id": id, "result": r }),
        Err((code, message)) => {
            json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
        }
    })
}

pub(crate) fn serve() -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    for line in stdin.lines() {
        let line = line?;
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(reply) = respond(&msg) {
            writeln!(out, "{reply}")?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
