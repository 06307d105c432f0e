//! The governance guide's policy file (`fixtures/guide/database-access.yaml`, byte for byte)
//! in a policy directory, governing the real SQL servers: the official server-postgres against
//! the machine's PostgreSQL, and mcp-server-sqlite (whose `read_query` / `write_query` carry
//! the name `database.query` through the catalog metadata's `aka`). Blocked tables in every
//! form, DELETE without WHERE, roles, masked e-mail and phone values, the response hash and
//! the alerts are shown through warden, and the audit log verifies.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use crate::support::*;

/// The guide's example, byte for byte.
const GUIDE: &[u8] = include_bytes!("../../../../fixtures/guide/database-access.yaml");

/// A second file of the directory: sqlite's query tools are also called `database.query`.
const AKA: &str =
    "catalog:\n  tools:\n    - tool: \"database:*_query\"\n      aka: [database.query]\n";

/// The e-mail and phone values the customers table holds; none may reach the client.
const EMAILS: [&str; 2] = ["ann.lee@example.com", "bob.ray@example.org"];
const PHONES: [&str; 2] = ["+1 415 555 0100", "(212) 555-0199"];

/// The policy directory: the guide's file and, for sqlite, the `aka` file.
fn policy_dir(place: &Place, aka: bool) -> PathBuf {
    let dir = place.dir.path().join("policies");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("database-access.yaml"), GUIDE).unwrap();
    if aka {
        std::fs::write(dir.join("names.yaml"), AKA).unwrap();
    }
    dir
}

/// A real SQL server behind `warden run`, driven line by line.
struct Sql {
    child: Child,
    input: Option<ChildStdin>,
    output: BufReader<ChildStdout>,
    next: u64,
}

impl Sql {
    fn start(place: &Place, policy: &Path, roles: &[&str], server: &[&OsArg]) -> Sql {
        let events = place.dir.path().join("events.jsonl");
        let mut args = vec![
            "--server-name".to_owned(),
            "database".to_owned(),
            "--policy".to_owned(),
            policy.display().to_string(),
            "--principal".to_owned(),
            "ann".to_owned(),
            "--security-events".to_owned(),
            events.display().to_string(),
        ];
        for r in roles {
            args.push("--role".into());
            args.push((*r).into());
        }
        let extra: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = warden()
            .args(place.run_args(&extra))
            .args(server.iter().map(|a| a.0.as_os_str()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take();
        let output = BufReader::new(child.stdout.take().unwrap());
        let mut s = Sql {
            child,
            input,
            output,
            next: 1,
        };
        let init = s.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "guide-test", "version": "1"}}),
        );
        assert!(init.get("result").is_some(), "initialize: {init}");
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, v: &Value) {
        let w = self.input.as_mut().unwrap();
        w.write_all(v.to_string().as_bytes()).unwrap();
        w.write_all(b"\n").unwrap();
        w.flush().unwrap();
    }

    /// Sends a request and reads lines until its response (notifications are skipped).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            assert!(
                read_line_within(&mut self.output, &mut line) > 0,
                "warden closed its output before answering {method}"
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    }

    fn call(&mut self, tool: &str, sql: &str) -> Value {
        let arg = if tool == "query" { "sql" } else { "query" };
        self.request("tools/call", json!({"name": tool, "arguments": {arg: sql}}))
    }

    /// Closes the client's side and waits for warden to finish (events and records written).
    /// server-postgres does not exit when its stdin closes: warden ends it (SIGTERM) after the
    /// grace period and exits with its status, so the status is not judged here.
    fn finish(mut self) {
        drop(self.input.take());
        self.child.wait().unwrap();
    }
}

/// An argument of the server command.
struct OsArg(std::ffi::OsString);

fn os(s: impl Into<std::ffi::OsString>) -> OsArg {
    OsArg(s.into())
}

/// Asserts the call was refused by the guide's file, with a message containing `why`.
fn denied(reply: &Value, rule: &str, why: &str) {
    let e = &reply["error"];
    assert_eq!(e["code"], -32011, "{reply}");
    assert_eq!(e["data"]["rule"], rule, "{reply}");
    let text = reply.to_string();
    assert!(text.contains(why), "{why:?} not in {reply}");
}

/// The text of a tool result's content.
fn result_text(reply: &Value) -> String {
    assert!(reply.get("result").is_some(), "not a result: {reply}");
    assert_ne!(reply["result"]["isError"], true, "{reply}");
    reply["result"]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The queries naming a blocked table, in every form (`tables`: how the database names them).
fn blocked_forms(creds: &str, quoted: &str, pay: &str) -> Vec<String> {
    vec![
        format!("SELECT secret FROM {creds} WHERE id = 1 LIMIT 5"),
        format!("SELECT secret FROM {quoted} WHERE id = 1 LIMIT 5"),
        format!("SELECT c.secret FROM {creds} AS c WHERE c.id = 1 LIMIT 5"),
        format!(
            "SELECT x.email FROM customers x JOIN {pay} p ON p.customer_id = x.id WHERE x.id = 1 LIMIT 5"
        ),
        format!(
            "SELECT email FROM customers WHERE id IN (SELECT user_id FROM {creds} WHERE id > 0) LIMIT 5"
        ),
        format!(
            "WITH k AS (SELECT * FROM {pay} WHERE id > 0) SELECT * FROM k WHERE id = 1 LIMIT 5"
        ),
        "SELECT secret FROM credentials WHERE id = 1 LIMIT 5".to_owned(),
        "SELECT secret FROM users.credentials WHERE id = 1 LIMIT 5".to_owned(),
    ]
}

/// What both servers show: blocked tables denied (with the alert), a small read passing with
/// its e-mail and phone values masked, and the records.
fn reads(s: &mut Sql, tool: &str, creds: &str, quoted: &str, pay: &str) {
    for q in blocked_forms(creds, quoted, pay) {
        let r = s.call(tool, &q);
        denied(&r, "database-access: constraints", "blocked table");
    }
    let r = s.call(
        tool,
        "SELECT id, name, email, phone FROM customers WHERE id < 10 ORDER BY id LIMIT 5",
    );
    let text = result_text(&r);
    assert!(text.contains("Ann") && text.contains("Bob"), "{text}");
    for secret in EMAILS.iter().chain(PHONES.iter()) {
        assert!(
            !text.contains(secret),
            "{secret} reached the client: {text}"
        );
    }
    assert!(text.contains("[REDACTED:email]"), "{text}");
    // A read without a LIMIT, or over max_rows, is refused too.
    let r = s.call(tool, "SELECT id FROM customers WHERE id > 0");
    denied(&r, "database-access: constraints", "LIMIT");
    let r = s.call(tool, "SELECT id FROM customers WHERE id > 0 LIMIT 500");
    denied(&r, "database-access: constraints", "max_rows 100");
}

/// What the store and the event stream hold after a run.
fn records(place: &Place, blocked: usize) {
    place.assert_verifies();
    let leaves = place.leaves();
    let alerts: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["event"] == "policy_alert")
        .collect();
    assert_eq!(alerts.len(), blocked, "{alerts:?}");
    assert!(
        alerts
            .iter()
            .all(|a| a["detail"]["alert"] == "blocked_table_attempt"
                && a["detail"]["tool"] == "database.query"),
        "{alerts:?}"
    );
    let hashed = leaves
        .iter()
        .filter(|l| l["kind"] == "result")
        .filter_map(|l| l["detail"]["response_sha256"].as_str())
        .filter(|h| h.starts_with("sha256:") && h.len() == 71)
        .count();
    assert_eq!(hashed, 1, "one allowed call, one hashed result");
    let events = std::fs::read_to_string(place.dir.path().join("events.jsonl")).unwrap();
    let ours: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "mcp_policy_alert")
        .collect();
    assert_eq!(ours.len(), blocked, "{events}");
    assert!(
        ours.iter()
            .all(|e| e["alert"] == "blocked_table_attempt" && e["user_id"] == "ann"),
        "{events}"
    );
}

/// A database of its own in the machine's PostgreSQL, dropped at the end.
struct Database {
    name: String,
}

fn psql(db: &str, sql: &str) {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-d",
            db,
            "-c",
            sql,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Database {
    fn create() -> Database {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("warden_guide_{}_{nanos}", std::process::id());
        psql("test", &format!("CREATE DATABASE {name}"));
        let db = Database { name };
        psql(
            &db.name,
            &format!(
                "CREATE SCHEMA users; CREATE SCHEMA billing;
                 CREATE TABLE users.credentials (id int PRIMARY KEY, user_id int, secret text);
                 CREATE TABLE billing.payment_methods (id int PRIMARY KEY, customer_id int, card text);
                 CREATE TABLE customers (id int PRIMARY KEY, name text, email text, phone text);
                 INSERT INTO users.credentials VALUES (1, 1, 'hunter2');
                 INSERT INTO billing.payment_methods VALUES (1, 1, '4111111111111111');
                 INSERT INTO customers VALUES (1, 'Ann', '{}', '{}'), (2, 'Bob', '{}', '{}');",
                EMAILS[0], PHONES[0], EMAILS[1], PHONES[1]
            ),
        );
        db
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        psql(
            "test",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

#[test]
fn the_guide_s_file_governs_server_postgres() {
    let Some(peers) = peers() else { return };
    let db = Database::create();
    let place = Place::new();
    let dir = policy_dir(&place, false);
    let server = [
        os("node"),
        os(peers.join("node/node_modules/@modelcontextprotocol/server-postgres/dist/index.js")),
        os(format!("postgresql://postgres@127.0.0.1:5432/{}", db.name)),
    ];
    let refs: Vec<&OsArg> = server.iter().collect();
    let mut s = Sql::start(&place, &dir, &["on-call"], &refs);
    reads(
        &mut s,
        "query",
        "users.credentials",
        "\"users\".\"credentials\"",
        "billing.payment_methods",
    );
    s.finish();
    records(&place, blocked_forms("", "", "").len());

    // Someone without the roles is denied, whatever the query.
    let other = Place::new();
    let dir = policy_dir(&other, false);
    let mut s = Sql::start(&other, &dir, &["intern"], &refs);
    let r = s.call("query", "SELECT id FROM customers WHERE id = 1 LIMIT 1");
    denied(&r, "database-access: roles", "senior-engineer or on-call");
    s.finish();
    other.assert_verifies();
}

#[test]
fn the_guide_s_file_governs_mcp_server_sqlite_through_aka() {
    let Some(peers) = peers() else { return };
    let sqlite = peers.join("sqlite-venv/bin/mcp-server-sqlite");
    assert!(
        sqlite.exists(),
        "{} is missing: run scripts/install-peers.sh",
        sqlite.display()
    );
    let place = Place::new();
    let file = place.dir.path().join("shop.db");
    let setup = Command::new(peers.join("sqlite-venv/bin/python"))
        .arg("-c")
        .arg(format!(
            "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.executescript('''
             CREATE TABLE credentials (id INTEGER PRIMARY KEY, user_id INTEGER, secret TEXT);
             CREATE TABLE payment_methods (id INTEGER PRIMARY KEY, customer_id INTEGER, card TEXT);
             CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT, phone TEXT);
             INSERT INTO credentials VALUES (1, 1, 'hunter2');
             INSERT INTO customers VALUES (1, 'Ann', '{}', '{}'), (2, 'Bob', '{}', '{}');''')\nc.commit()",
            EMAILS[0], PHONES[0], EMAILS[1], PHONES[1]
        ))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let dir = policy_dir(&place, true);
    let server = [os(&sqlite), os("--db-path"), os(&file)];
    let refs: Vec<&OsArg> = server.iter().collect();
    let mut s = Sql::start(&place, &dir, &["senior-engineer"], &refs);
    // The tables are in SQLite's main database: `credentials` is what `users.credentials`
    // names there (`main.credentials` is another schema's table, not blocked).
    reads(
        &mut s,
        "read_query",
        "credentials",
        "\"credentials\"",
        "payment_methods",
    );
    // write_query is `database.query` too: a DELETE without WHERE is denied, and so is a
    // write at all (read_only).
    let r = s.call("write_query", "DELETE FROM customers");
    denied(&r, "database-access: constraints", "(require_where_clause)");
    denied(&r, "database-access: constraints", "(read_only)");
    let r = s.call("write_query", "DELETE FROM customers WHERE id = 2");
    denied(&r, "database-access: constraints", "(read_only)");
    let text = r.to_string();
    assert!(!text.contains("require_where_clause"), "{text}");
    s.finish();
    let rows = Command::new(peers.join("sqlite-venv/bin/python"))
        .arg("-c")
        .arg("import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM customers').fetchone()[0])")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&rows.stdout).trim(),
        "2",
        "nothing was deleted"
    );
    records(&place, blocked_forms("", "", "").len());
}
