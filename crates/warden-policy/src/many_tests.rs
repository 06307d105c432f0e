//! Unit tests of several files compiled together ([`super`]): deny-overrides across files,
//! settings that must agree, names unique across files, problems that name their file.
use crate::{Action, Mode, PolicySet, Request};

fn call(p: &PolicySet, tool: &str) -> crate::Decision {
    p.evaluate(&Request {
        server: "hr",
        method: "tools/call",
        target: Some(tool),
        arguments: Some(&serde_json::json!({})),
        principal: Some("ann"),
        roles: &[],
        client: None,
        at: None,
        tool: None,
    })
}

fn problems(files: &[(&str, &str)]) -> Vec<String> {
    match PolicySet::compile_many(files) {
        Ok(_) => panic!("expected problems"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

const ALLOW_ALL: &str = "policies:\n  - name: all\n    tool_pattern: \"*\"\n    action: allow\n";
const DENY_PAY: &str = "policies:\n  - name: no-pay\n    tool_pattern: get_pay_info\n    action: deny\n    message: not here\n";

#[test]
fn a_deny_in_one_file_overrides_an_allow_in_another_whatever_the_order() {
    for files in [
        [("a.yaml", ALLOW_ALL), ("b.yaml", DENY_PAY)],
        [("a.yaml", DENY_PAY), ("b.yaml", ALLOW_ALL)],
    ] {
        let p = PolicySet::compile_many(&files).unwrap();
        let d = call(&p, "get_pay_info");
        assert_eq!(d.action, Action::Deny);
        assert_eq!(d.rule.as_deref(), Some("no-pay"));
        assert_eq!(d.matched.len(), 2, "both files' rules matched: {d:?}");
        assert_eq!(call(&p, "list").action, Action::Allow);
        let deny = p.rules().iter().find(|r| r.name == "no-pay").unwrap();
        assert_eq!(
            deny.file.as_deref(),
            Some(files.iter().find(|f| f.1 == DENY_PAY).unwrap().0)
        );
    }
}

#[test]
fn the_hash_covers_every_file_name_and_text() {
    let base = PolicySet::compile_many(&[("a.yaml", ALLOW_ALL), ("b.yaml", DENY_PAY)])
        .unwrap()
        .hash;
    let renamed = PolicySet::compile_many(&[("a.yaml", ALLOW_ALL), ("c.yaml", DENY_PAY)])
        .unwrap()
        .hash;
    let edited = PolicySet::compile_many(&[
        ("a.yaml", ALLOW_ALL),
        ("b.yaml", &format!("{DENY_PAY}# x\n")),
    ])
    .unwrap()
    .hash;
    let fewer = PolicySet::compile_many(&[("a.yaml", ALLOW_ALL)])
        .unwrap()
        .hash;
    // Moving text from one file's end to the next file's start is a different directory.
    let shifted = PolicySet::compile_many(&[
        ("a.yaml", &format!("{ALLOW_ALL}#")),
        ("b.yaml", &format!("\n{DENY_PAY}")[1..]),
    ]);
    let mut all = vec![base.clone(), renamed, edited, fewer];
    if let Ok(s) = shifted {
        all.push(s.hash);
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "every change changes the hash");
    assert!(base.starts_with("sha256:"));
}

#[test]
fn a_rule_name_used_in_two_files_names_both() {
    let p = problems(&[("a.yaml", DENY_PAY), ("b.yaml", DENY_PAY)]);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("b.yaml:2:11: "), "{p:?}");
    assert!(
        p[0].contains("\"no-pay\" is also used in a.yaml:2:11"),
        "{p:?}"
    );
}

#[test]
fn conflicting_settings_are_errors_and_agreeing_ones_are_not() {
    let p = problems(&[
        ("a.yaml", "default: deny\nmode: monitor\npolicies: []\n"),
        ("b.yaml", "default: allow\npolicies: []\n"),
        (
            "c.yaml",
            "mode: enforce\nhide_denied_tools: true\npolicies: []\n",
        ),
        ("d.yaml", "hide_denied_tools: false\n"),
    ]);
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(
        p[0].starts_with(
            "b.yaml:1:10: `default: allow` conflicts with `default: deny` in a.yaml:1:10"
        ),
        "{p:?}"
    );
    assert!(
        p[1].starts_with(
            "c.yaml:1:7: `mode: enforce` conflicts with `mode: monitor` in a.yaml:2:7"
        ),
        "{p:?}"
    );
    assert!(
        p[2].starts_with("d.yaml:1:20: `hide_denied_tools: false` conflicts"),
        "{p:?}"
    );

    let p = PolicySet::compile_many(&[
        ("a.yaml", "default: deny\nmode: monitor\npolicies: []\n"),
        ("b.yaml", "mode: dry-run\nhide_denied_tools: true\n"),
        ("c.yaml", ALLOW_ALL),
    ])
    .unwrap();
    assert_eq!(p.default, Action::Deny);
    assert_eq!(p.mode, Mode::Monitor);
    assert!(p.hide_denied_tools);
    // A file that sets no mode gets the directory's.
    assert!(!call(&p, "list").enforced);
}

#[test]
fn problems_of_every_file_are_reported_with_their_file_line_and_column() {
    let p = problems(&[
        ("a.yaml", "policies:\n  - name: x\n    action: perhaps\n"),
        ("b.yaml", ALLOW_ALL),
        ("c.yaml", "policies: [\n"),
        ("d.yaml", "version: 2\n"),
    ]);
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(
        p[0].starts_with("a.yaml:3:13: policy \"x\": action \"perhaps\""),
        "{p:?}"
    );
    assert!(p[1].starts_with("c.yaml:"), "{p:?}");
    assert!(p[2].starts_with("d.yaml:1:10: version 2"), "{p:?}");
}

#[test]
fn no_files_is_an_error() {
    assert_eq!(problems(&[]), ["0:0: no policy files"]);
}
