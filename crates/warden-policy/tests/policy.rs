//! Policy compilation and evaluation: both file forms, every condition, deny-overrides,
//! monitor mode, and errors with line and column.

use serde_json::json;
use warden_policy::{Action, PolicySet, Request};

const SEED_STYLE: &str = r#"
policies:
  - name: restrict-filesystem-access
    description: Limit file operations to specific directories
    tool_pattern: "filesystem:*"
    action: BLOCK
    conditions:
      - type: path_not_in
        allowed_paths:
          - "/app/data"
          - "/tmp"
    message: "File access outside allowed directories"

  - name: require-approval-for-writes
    description: Require human approval for write operations
    tool_pattern: "filesystem:write_file"
    action: APPROVAL
    approvers: ["admin@company.com"]
"#;

fn call<'a>(server: &'a str, tool: &'a str, args: &'a serde_json::Value) -> Request<'a> {
    Request {
        server,
        method: "tools/call",
        target: Some(tool),
        arguments: Some(args),
        principal: Some("alice"),
        roles: &[],
        client: None,
        at: None,
        tool: None,
    }
}

#[test]
fn the_seed_file_reads_naturally() {
    let p = PolicySet::compile(SEED_STYLE).unwrap();
    let inside = json!({"path": "/app/data/report.csv"});
    let outside = json!({"path": "/app/data/../../etc/passwd"});
    let d = p.evaluate(&call("filesystem", "read_file", &inside));
    assert_eq!((d.action, d.rule.as_deref()), (Action::Allow, None));
    let d = p.evaluate(&call("filesystem", "read_file", &outside));
    assert_eq!(d.action, Action::Deny);
    assert_eq!(d.rule.as_deref(), Some("restrict-filesystem-access"));
    assert_eq!(
        d.message.as_deref(),
        Some("File access outside allowed directories")
    );
    assert!(d.blocks());
    // Both rules match a write outside: deny overrides approve.
    let d = p.evaluate(&call("filesystem", "write_file", &outside));
    assert_eq!(d.action, Action::Deny);
    assert_eq!(
        d.matched,
        ["restrict-filesystem-access", "require-approval-for-writes"]
    );
    let d = p.evaluate(&call("filesystem", "write_file", &inside));
    assert_eq!(d.action, Action::Approve);
    assert_eq!(p.rules()[1].approvers, ["admin@company.com"]);
    // Another server is not governed by these rules.
    assert_eq!(
        p.evaluate(&call("github", "read_file", &outside)).action,
        Action::Allow
    );
    // Lifecycle and listing always pass.
    let list = Request {
        method: "tools/list",
        target: None,
        ..call("filesystem", "x", &inside)
    };
    assert_eq!(p.evaluate(&list).action, Action::Allow);
}

const ISSUE_STYLE: &str = r#"
version: 1
mode: enforce
default: deny
policies:
  - name: allow-reads
    tool_pattern: "hr:get_*"
    action: allow
  - name: no-pay-for-agents
    tool_pattern: "hr:get_pay_info"
    principals: ["role:agent"]
    action: deny
    message: "agents may not read pay"
  - name: big-refunds
    tool_pattern: "payments:refund"
    action: approve
    when:
      - arg_range: { arg: amount, max: 500 }
  - name: refunds
    tool_pattern: "payments:refund"
    action: allow
  - name: only-known-regions
    tool_pattern: "payments:*"
    action: deny
    when:
      - arg_in: { arg: /region, values: ["eu", "us"], not: true }
  - name: no-shell-metachars
    tool_pattern: "*"
    action: deny
    when:
      - arg_matches: { arg: [query, cmd], pattern: "[;|&`$]" }
  - name: short-notes
    tool_pattern: "*"
    action: deny
    mode: monitor
    when:
      - arg_max_length: { arg: note, max: 10 }
  - name: staging-only
    tool_pattern: "deploy"
    action: allow
    when:
      - arg_equals: { arg: env, value: "staging" }
  - name: read-resources
    tool_pattern: "resources/read"
    action: allow
"#;

#[test]
fn every_condition_and_the_combination_rule() {
    let p = PolicySet::compile(ISSUE_STYLE).unwrap();
    let none = json!({});
    let agent = ["agent".to_owned()];
    let d = |server, tool, args: serde_json::Value| p.evaluate(&call(server, tool, &args)).action;
    assert_eq!(d("hr", "get_employee", json!({"id": "E1"})), Action::Allow);
    assert_eq!(
        d("hr", "delete_employee", json!({})),
        Action::Deny,
        "default deny"
    );
    let pay = json!({"id": "E1"});
    let as_agent = Request {
        roles: &agent,
        ..call("hr", "get_pay_info", &pay)
    };
    assert_eq!(p.evaluate(&as_agent).action, Action::Deny);
    assert_eq!(
        d("hr", "get_pay_info", pay.clone()),
        Action::Allow,
        "roles other than agent"
    );
    assert_eq!(
        d("payments", "refund", json!({"amount": 20, "region": "eu"})),
        Action::Allow
    );
    assert_eq!(
        d("payments", "refund", json!({"amount": 900, "region": "eu"})),
        Action::Approve
    );
    assert_eq!(
        d(
            "payments",
            "refund",
            json!({"amount": "lots", "region": "eu"})
        ),
        Action::Approve,
        "not a number is out of range"
    );
    assert_eq!(
        d(
            "payments",
            "refund",
            json!({"amount": 20, "region": "mars"})
        ),
        Action::Deny
    );
    assert_eq!(
        d("payments", "refund", json!({"amount": 20})),
        Action::Allow,
        "an absent argument makes no condition true"
    );
    assert_eq!(
        d("db", "search", json!({"query": "a; rm -rf /"})),
        Action::Deny
    );
    assert_eq!(d("db", "exec", json!({"cmd": "ls | sh"})), Action::Deny);
    assert_eq!(
        d("deploy", "deploy", json!({"env": "staging"})),
        Action::Allow
    );
    assert_eq!(d("deploy", "deploy", json!({"env": "prod"})), Action::Deny);
    let long = p.evaluate(&call(
        "deploy",
        "deploy",
        &json!({"env": "staging", "note": "a very long note"}),
    ));
    assert_eq!(
        (long.action, long.enforced),
        (Action::Deny, false),
        "monitor mode decides but does not enforce"
    );
    assert!(!long.blocks());
    assert_eq!(long.matched, ["short-notes", "staging-only"]);
    let res = Request {
        method: "resources/read",
        target: Some("file:///x"),
        ..call("fs", "", &none)
    };
    assert_eq!(p.evaluate(&res).action, Action::Allow, "method patterns");
    let (d, trace) = p.explain(&call("hr", "get_pay_info", &pay));
    assert_eq!(d.rule.as_deref(), Some("allow-reads"));
    assert_eq!(trace.len(), 9);
    assert!(trace[1].why.contains("principal"), "{:?}", trace[1]);
    assert!(
        trace[2].why.contains("does not match hr:get_pay_info"),
        "{:?}",
        trace[2]
    );
}

#[test]
fn every_problem_is_listed_with_line_and_column() {
    let bad = r#"version: 1
policies:
  - name: a
    tool_pattern: "fs:[*"
    action: block
  - name: a
    action: maybe
    when:
      - arg_matches: { arg: q, pattern: "(" }
      - teleport: { arg: x }
  - name: c
    action: deny
    budget: { calls: lots, window: 1d }
"#;
    let errs = PolicySet::compile(bad).unwrap_err().0;
    let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 6, "{text:#?}");
    assert!(
        text[0].starts_with("4:") && text[0].contains("not a valid glob"),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("6:") && t.contains("used twice")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("7:") && t.contains("maybe")),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|t| t.contains("not a valid regex")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("unknown condition \"teleport\"")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("13:") && t.contains("budget needs `calls`")),
        "{text:#?}"
    );
    let typo =
        PolicySet::compile("policies:\n  - name: x\n    action: deny\n    tool_patern: \"*\"\n")
            .unwrap_err()
            .0;
    assert_eq!(typo.len(), 1);
    assert_eq!(typo[0].line, 4, "{:?}", typo[0]);
    assert!(typo[0].message.contains("tool_patern"), "{:?}", typo[0]);
}

#[test]
fn encoded_traversals_do_not_escape_an_allowed_directory() {
    let deny_outside = PolicySet::compile(
        "policies:\n  - name: fence\n    tool_pattern: \"fs:*\"\n    action: deny\n    when:\n      - path_not_in: { arg: [path, paths, source, destination], allowed: [\"/app/data\"] }\n",
    )
    .unwrap();
    let allow_inside = PolicySet::compile(
        "default: deny\npolicies:\n  - name: fence\n    tool_pattern: \"fs:*\"\n    action: allow\n    when:\n      - path_in: { arg: path, allowed: [\"/app/data\"] }\n",
    )
    .unwrap();
    for evil in [
        "/app/data/../etc/passwd",
        "/app/data/a%2fb/../../x",
        "/app/data/%2e%2e/etc/passwd",
        "/app/data/%252e%252e/%252e%252e/etc",
        "/app/data\\..\\..\\etc",
        "file:///app/data/../../etc/shadow",
        "file://evil.example/app/data/x",
        "/app/database/x",
        "app/data/x",
        "/app/data/...",
    ] {
        let args = json!({ "path": evil });
        assert_eq!(
            deny_outside
                .evaluate(&call("fs", "read_file", &args))
                .action,
            Action::Deny,
            "{evil}"
        );
        assert_eq!(
            allow_inside
                .evaluate(&call("fs", "read_file", &args))
                .action,
            Action::Deny,
            "{evil}"
        );
    }
    for fine in [
        "/app/data/x.csv",
        "/app/data/./sub//y",
        "file:///app/data/z",
    ] {
        let args = json!({ "path": fine });
        assert_eq!(
            deny_outside
                .evaluate(&call("fs", "read_file", &args))
                .action,
            Action::Allow,
            "{fine}"
        );
        assert_eq!(
            allow_inside
                .evaluate(&call("fs", "read_file", &args))
                .action,
            Action::Allow,
            "{fine}"
        );
    }
    let many = json!({ "paths": ["/app/data/a", "/etc/passwd"] });
    assert_eq!(
        deny_outside
            .evaluate(&call("fs", "read_multiple_files", &many))
            .action,
        Action::Deny
    );
    let moved = json!({ "source": "/app/data/a", "destination": "/tmp/b" });
    assert_eq!(
        deny_outside
            .evaluate(&call("fs", "move_file", &moved))
            .action,
        Action::Deny
    );
}

#[test]
fn moments_of_the_week() {
    use warden_policy::Moment;
    assert_eq!(
        Moment::from_unix(0),
        Moment {
            weekday: 3,
            minute: 0
        },
        "1970-01-01 was a Thursday"
    );
    // 2023-11-14T22:13:20Z was a Tuesday.
    assert_eq!(
        Moment::from_unix(1_700_000_000),
        Moment {
            weekday: 1,
            minute: 22 * 60 + 13
        }
    );
    assert_eq!(
        Moment::from_unix(-60),
        Moment {
            weekday: 2,
            minute: 1439
        },
        "before the epoch"
    );
}

#[test]
fn a_night_window_wraps_midnight() {
    let p = PolicySet::compile("policies:\n  - name: night\n    tool_pattern: \"*\"\n    action: deny\n    when:\n      - time: { between: \"22:00-06:00\", days: [fri] }\n").unwrap();
    let args = json!({});
    let at = |weekday, minute| Request {
        at: Some(warden_policy::Moment { weekday, minute }),
        ..call("s", "t", &args)
    };
    assert_eq!(
        p.evaluate(&at(4, 23 * 60)).action,
        Action::Deny,
        "Friday 23:00"
    );
    assert_eq!(
        p.evaluate(&at(5, 3 * 60)).action,
        Action::Deny,
        "Saturday 03:00 belongs to Friday night"
    );
    assert_eq!(
        p.evaluate(&at(5, 23 * 60)).action,
        Action::Allow,
        "Saturday night is not listed"
    );
    assert_eq!(p.evaluate(&at(4, 12 * 60)).action, Action::Allow);
    let bad = PolicySet::compile("policies:\n  - name: x\n    action: deny\n    when:\n      - time: { between: \"25:00-06:00\" }\n").unwrap_err();
    assert!(
        bad.0[0].message.contains("not a time of day"),
        "{:?}",
        bad.0
    );
}

#[test]
fn rate_limits_in_both_forms_are_reported_and_never_allow() {
    let p = PolicySet::compile(
        r#"default: deny
policies:
  - name: http-limit
    tool_pattern: "http:*"
    principals: ["role:agent"]
    rate_limit: { limit: 100, window: 1m, per: principal }
  - name: seed-form
    tool_pattern: "http:*"
    action: BLOCK
    conditions:
      - type: rate_exceeded
        limit: 5
        window: "30s"
  - name: allow-http
    tool_pattern: "http:get"
    action: allow
"#,
    )
    .unwrap();
    let args = json!({});
    let agent = ["agent".to_owned()];
    let d = p.evaluate(&Request {
        roles: &agent,
        ..call("http", "get", &args)
    });
    assert_eq!(d.action, Action::Allow, "limits do not decide the action");
    assert_eq!(d.rule.as_deref(), Some("allow-http"));
    let limits: Vec<(&str, u32, u64, warden_policy::Per)> = d
        .limits
        .iter()
        .map(|l| {
            (
                l.rule.as_str(),
                l.limit.limit,
                l.limit.window_ms,
                l.limit.per,
            )
        })
        .collect();
    assert_eq!(
        limits,
        [
            ("http-limit", 100, 60_000, warden_policy::Per::Principal),
            ("seed-form", 5, 30_000, warden_policy::Per::PrincipalTool)
        ]
    );
    // A limiter never allows: with the default deny, a call only a limiter applies to is denied.
    let d = p.evaluate(&Request {
        roles: &agent,
        ..call("http", "post", &args)
    });
    assert_eq!((d.action, d.rule.as_deref()), (Action::Deny, None));
    assert_eq!(d.limits.len(), 2);
    let bad =
        PolicySet::compile("policies:\n  - name: x\n    rate_limit: { limit: 3, window: 1y }\n")
            .unwrap_err();
    assert!(
        bad.0[0].message.contains("like 30s, 1m, 1h or 1d"),
        "{:?}",
        bad.0
    );
}

#[test]
fn never_callable_is_conservative() {
    let args = json!({});
    let p = PolicySet::compile("default: deny\npolicies:\n  - name: reads\n    tool_pattern: \"fs:read_*\"\n    action: allow\n").unwrap();
    assert!(!p.never_callable(&call("fs", "read_file", &args)));
    assert!(
        p.never_callable(&call("fs", "delete_file", &args)),
        "the default denies and no rule allows it"
    );
    let p = PolicySet::compile(
        "default: deny\npolicies:\n  - name: small\n    tool_pattern: \"*\"\n    action: allow\n    when:\n      - arg_max_length: { arg: q, max: 10, not: true }\n",
    )
    .unwrap();
    assert!(
        !p.never_callable(&call("fs", "delete_file", &args)),
        "a conditional allow may let it through"
    );
    let p = PolicySet::compile("policies:\n  - name: watch\n    tool_pattern: \"*\"\n    action: deny\n    mode: monitor\n").unwrap();
    assert!(
        !p.never_callable(&call("fs", "x", &args)),
        "monitor mode never hides"
    );
}

#[test]
fn named_tools_are_the_exact_names_a_policy_spells_out() {
    let p = warden_policy::PolicySet::compile(
        "policies:\n  - name: a\n    tool_pattern: \"hr:get_pay_info\"\n    action: deny\n  - name: b\n    tool_pattern: \"read_*\"\n    action: allow\n  - name: c\n    tool_pattern: \"export\"\n    action: allow\n  - name: d\n    tool_pattern: \"fs:{a,b}\"\n    action: allow\n",
    )
    .unwrap();
    assert_eq!(
        p.named_tools(),
        vec!["export".to_owned(), "get_pay_info".to_owned()]
    );
}
