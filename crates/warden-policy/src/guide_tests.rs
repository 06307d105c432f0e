//! The governance guide's file, verbatim, compiled and evaluated; its mistakes reported.

use serde_json::json;

use crate::compile::{Action, PolicySet};
use crate::eval::Request;

/// The guide's example, byte for byte.
const GUIDE: &str = include_str!("../../../fixtures/guide/database-access.yaml");

fn call<'a>(
    server: &'a str,
    tool: &'a str,
    args: &'a serde_json::Value,
    roles: &'a [String],
) -> Request<'a> {
    Request {
        server,
        method: "tools/call",
        target: Some(tool),
        arguments: Some(args),
        principal: Some("ann"),
        roles,
        client: None,
        at: None,
        tool: None,
    }
}

fn dir() -> PolicySet {
    PolicySet::compile_many(&[("database-access.yaml", GUIDE)]).unwrap()
}

#[test]
fn the_guide_s_file_compiles_as_written_into_rules_a_catalog_entry_and_result_handling() {
    let p = dir();
    let names: Vec<&str> = p.rules().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "database-access: roles",
            "database-access: allow",
            "database-access: constraints"
        ]
    );
    let g = &p.guides()[0];
    assert_eq!(g.tool, "database.query");
    assert!(g.mask.is_some() && g.response_hash && g.alert_blocked_table);
    assert!(g.alert_large_result);
    assert_eq!(g.max_rows, Some(100));
    assert!(g.names("database", "query", &[]));
    assert!(g.names("anything", "database.query", &[]));
    assert!(g.names("sqlite", "read_query", &["database.query".into()]));
    assert!(!g.names("sqlite", "read_query", &[]));
    let meta = p.catalog().lookup("database", "query");
    assert_eq!(meta.owner.as_deref(), Some("security-team"));
    assert_eq!(
        meta.next_review.map(|d| d.to_string()).as_deref(),
        Some("2026-06-22")
    );
    // The single-file form reads it too.
    assert_eq!(PolicySet::compile(GUIDE).unwrap().guides().len(), 1);
}

#[test]
fn roles_and_constraints_decide_with_a_message_saying_why() {
    let p = dir();
    let oncall = vec!["on-call".to_owned()];
    let ok = json!({"sql": "SELECT id FROM orders WHERE id = 1 LIMIT 5"});
    let d = p.evaluate(&call("database", "query", &ok, &oncall));
    assert_eq!(
        (d.action, d.rule.as_deref()),
        (Action::Allow, Some("database-access: allow"))
    );
    let d = p.evaluate(&call("database", "query", &ok, &[]));
    assert_eq!(d.action, Action::Deny);
    let m = d.message.unwrap();
    assert!(m.contains("senior-engineer or on-call"), "{m}");
    let bad = json!({"sql": "SELECT * FROM users.credentials AS c WHERE c.id = 1 LIMIT 5"});
    let d = p.evaluate(&call("database", "query", &bad, &oncall));
    assert_eq!(d.rule.as_deref(), Some("database-access: constraints"));
    let m = d.message.unwrap();
    assert!(crate::guide::names_blocked_table(&m), "{m}");
    // No arguments at all breaks the constraints too (fail closed).
    let none = Request {
        arguments: None,
        ..call("database", "query", &ok, &oncall)
    };
    assert_eq!(p.evaluate(&none).action, Action::Deny);
}

#[test]
fn every_mistake_is_reported_with_its_line() {
    let bad = GUIDE
        .replace("  max_rows: 100\n", "  max_rows: 100\n  no_such: 1\n")
        .replace("large_result_set]", "large_result_set, on_fire]")
        .replace("log_full_query: true", "log_full_query: false");
    let e = PolicySet::compile_many(&[("db.yaml", &bad)]).unwrap_err();
    let text: Vec<String> = e.0.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|t| t.starts_with("db.yaml:8:") && t.contains("no_such")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains(":19:") && t.contains("on_fire")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains(":17:") && t.contains("log_full_query")),
        "{text:?}"
    );
    assert_eq!(text.len(), 3, "{text:?}");
    let e = PolicySet::compile_many(&[("db.yaml", &GUIDE.replace("review:", "reviewed:"))])
        .unwrap_err();
    assert!(e.0[0].to_string().contains("db.yaml:19:"), "{:?}", e.0);
    let e = PolicySet::compile_many(&[("db.yaml", "roles: [x]\n")]).unwrap_err();
    assert!(e.0[0].to_string().contains("tool:"), "{:?}", e.0);
}

#[test]
fn a_guide_file_may_sit_beside_policies_in_the_same_file() {
    let mixed = format!(
        "{GUIDE}policies:\n  - name: no-drop\n    tool_pattern: \"*\"\n    action: deny\n    when: [{{arg_matches: {{arg: sql, regex: DROP}}}}]\n"
    );
    let p = PolicySet::compile_many(&[("db.yaml", &mixed)]).unwrap();
    assert_eq!(p.rules().len(), 4);
}

#[test]
fn other_names_bring_a_tool_under_the_guide_s_file() {
    let aka = "catalog:\n  tools:\n    - tool: \"database:*_query\"\n      aka: [database.query]\n";
    let p =
        PolicySet::compile_many(&[("database-access.yaml", GUIDE), ("names.yaml", aka)]).unwrap();
    let meta = p.catalog().lookup("database", "read_query");
    assert_eq!(meta.aka, ["database.query"]);
    let facts = crate::catalog::ToolFacts {
        aka: meta.aka,
        ..Default::default()
    };
    let roles = vec!["on-call".to_owned()];
    let bad = json!({"query": "SELECT secret FROM credentials WHERE id = 1 LIMIT 5"});
    let req = Request {
        tool: Some(&facts),
        ..call("database", "read_query", &bad, &roles)
    };
    let d = p.evaluate(&req);
    assert_eq!(
        d.rule.as_deref(),
        Some("database-access: constraints"),
        "{d:?}"
    );
}
