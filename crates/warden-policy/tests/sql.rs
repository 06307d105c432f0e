//! `sql` conditions through a whole policy: compiled from YAML in both condition forms,
//! evaluated on tool calls, with the broken constraint named in the decision's message and in
//! `explain`, and bad settings refused when the policy compiles.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns panic on failure by design

use serde_json::{Value, json};
use warden_policy::{Action, Decision, PolicySet, Request};

/// The governance guide's `database-access` constraints as a deny rule (`when:` form).
const WHEN_FORM: &str = r#"
policies:
  - name: database-access
    tool_pattern: "db:*query"
    action: deny
    when:
      - sql:
          read_only: true
          max_rows: 100
          blocked_tables: [users.credentials, billing.payment_methods]
          require_where_clause: true
    message: "query refused"
"#;

/// The same in the seed form, with the argument and dialect named.
const SEED_FORM: &str = r#"
policies:
  - name: database-access
    tool_pattern: "db:*query"
    action: BLOCK
    conditions:
      - type: sql
        arg: sql
        dialect: postgres
        read_only: true
        max_rows: 100
        blocked_tables: [users.credentials, billing.payment_methods]
        require_where_clause: true
"#;

/// An allow list: only SQL that breaks nothing is allowed, everything else falls to the default.
const ALLOW_FORM: &str = r#"
default: deny
policies:
  - name: safe-sql
    tool_pattern: "db:*query"
    action: allow
    when:
      - sql: { read_only: true, max_rows: 100, blocked_tables: [users.credentials], not: true }
"#;

fn call<'a>(tool: &'a str, args: &'a Value) -> Request<'a> {
    Request {
        server: "db",
        method: "tools/call",
        target: Some(tool),
        arguments: Some(args),
        principal: None,
        roles: &[],
        client: None,
        at: None,
        tool: None,
    }
}

fn decide(p: &PolicySet, sql: &str) -> Decision {
    let args = json!({ "sql": sql });
    p.evaluate(&call("query", &args))
}

#[test]
fn both_forms_deny_what_breaks_a_constraint_and_say_why() {
    for (form, text, prefix) in [
        ("when", WHEN_FORM, "query refused: "),
        ("seed", SEED_FORM, ""),
    ] {
        let p = PolicySet::compile(text).unwrap();
        let ok = decide(&p, "SELECT id, name FROM accounts WHERE id > 3 LIMIT 20");
        assert_eq!(ok.action, Action::Allow, "{form}: {ok:?}");
        assert_eq!(ok.message, None, "{form}");
        for (sql, why) in [
            (
                r#"SELECT * FROM "users"."credentials" c LIMIT 1"#,
                "blocked table users.credentials referenced",
            ),
            (
                "SELECT * FROM accounts a JOIN billing.payment_methods p ON true LIMIT 1",
                "blocked table billing.payment_methods referenced",
            ),
            ("DELETE FROM accounts", "DELETE is not a read (read_only)"),
            (
                "SELECT * FROM accounts",
                "a read without a LIMIT (max_rows 100)",
            ),
            (
                "SELECT * FROM accounts LIMIT 1000",
                "LIMIT 1000 is more than 100 rows",
            ),
            (
                "SELECT 1 LIMIT 1; DROP TABLE accounts",
                "statement 2 of 2: DROP is not a read",
            ),
            ("SELEC 1", "the SQL does not parse"),
        ] {
            let d = decide(&p, sql);
            assert_eq!(d.action, Action::Deny, "{form}: {sql}");
            assert_eq!(d.rule.as_deref(), Some("database-access"), "{form}");
            let msg = d.message.unwrap_or_default();
            assert!(msg.starts_with(prefix), "{form}: {msg}");
            assert!(msg.contains(why), "{form}: {sql}: {msg:?} lacks {why:?}");
        }
        // A tool the rule does not name is not judged.
        let args = json!({ "sql": "DROP TABLE accounts" });
        assert_eq!(
            p.evaluate(&call("list_tables", &args)).action,
            Action::Allow
        );
    }
}

#[test]
fn an_allow_list_of_safe_sql_fails_closed() {
    let p = PolicySet::compile(ALLOW_FORM).unwrap();
    assert_eq!(
        decide(&p, "SELECT * FROM accounts LIMIT 5").action,
        Action::Allow
    );
    for sql in [
        "SELECT * FROM credentials LIMIT 5",
        "UPDATE a SET b = 1 WHERE c",
        "x",
    ] {
        let d = decide(&p, sql);
        assert_eq!((d.action, d.rule), (Action::Deny, None), "{sql}");
    }
    let args = json!({ "sql": 7 });
    assert_eq!(p.evaluate(&call("query", &args)).action, Action::Deny);
    let args = json!({ "other": "SELECT 1 LIMIT 1" });
    assert_eq!(p.evaluate(&call("query", &args)).action, Action::Deny);
}

#[test]
fn a_call_without_the_sql_argument_is_denied() {
    let p = PolicySet::compile(WHEN_FORM).unwrap();
    for args in [
        json!({}),
        json!({"sql": ""}),
        json!({"query": null}),
        json!({"statement": "SELECT 1"}),
    ] {
        let d = p.evaluate(&call("query", &args));
        assert_eq!(d.action, Action::Deny, "{args}");
        assert!(d.message.unwrap_or_default().contains("argument"), "{args}");
    }
    // The guide's sqlite server names it `query`.
    let args = json!({ "query": "SELECT 1 LIMIT 1" });
    assert_eq!(p.evaluate(&call("read_query", &args)).action, Action::Allow);
}

#[test]
fn explain_names_the_broken_constraint() {
    let p = PolicySet::compile(WHEN_FORM).unwrap();
    let args = json!({ "sql": "SELECT * FROM users.credentials LIMIT 1" });
    let (d, traces) = p.explain(&call("query", &args));
    assert_eq!(d.action, Action::Deny);
    assert_eq!(
        traces[0].why,
        "applies: deny: blocked table users.credentials referenced"
    );
    let p = PolicySet::compile(ALLOW_FORM).unwrap();
    let (_, traces) = p.explain(&call("query", &args));
    assert_eq!(
        traces[0].why,
        "condition 1 is false: blocked table users.credentials referenced"
    );
}

#[test]
fn bad_settings_are_compile_errors() {
    for (body, want) in [
        (
            "{ read_only: true, readonly: true }",
            "unknown check \"readonly\"",
        ),
        ("{ max_rows: 0 }", "`max_rows` of 0"),
        (
            "{ blocked_tables: users.credentials }",
            "`blocked_tables` is a list",
        ),
        ("{ dialect: oracle }", "dialect \"oracle\" is not one of"),
        ("{ require_where_clause: sometimes }", "true or false"),
    ] {
        let text = format!(
            "policies:\n  - name: r\n    tool_pattern: q\n    action: deny\n    when:\n      - sql: {body}\n"
        );
        let errs = PolicySet::compile(&text).unwrap_err();
        let all: Vec<String> = errs.0.iter().map(ToString::to_string).collect();
        assert!(
            all.iter()
                .any(|e| e.contains("policy \"r\", condition 1") && e.contains(want)),
            "{body}: {all:?}"
        );
    }
    let seed = "policies:\n  - name: r\n    action: BLOCK\n    conditions:\n      - type: sql\n        max_row: 5\n";
    let errs = PolicySet::compile(seed).unwrap_err();
    assert!(
        errs.0[0].message.contains("unknown check \"max_row\""),
        "{:?}",
        errs.0
    );
}

#[test]
fn the_sql_tool_stays_listed() {
    // `hide_denied_tools` asks about a call without arguments: the SQL tool can be called.
    let p = PolicySet::compile(WHEN_FORM).unwrap();
    let args = json!({});
    let mut req = call("query", &args);
    req.arguments = None;
    assert!(!p.never_callable(&req));
    assert_eq!(p.evaluate(&req).action, Action::Allow);
}
