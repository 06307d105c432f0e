//! Tests of catalog metadata: reading, merging, review dates, and rules matching tool facts.

use super::*;
use crate::{Action, PolicySet, Request};

fn facts(tier: u8, class: Option<DataClass>, tool_class: &str, state: &str) -> ToolFacts {
    ToolFacts {
        risk_tier: Some(tier),
        data_classification: class,
        class: Some(tool_class.into()),
        state: Some(state.into()),
        aka: Vec::new(),
    }
}

fn call<'a>(tool: &'a str, f: Option<&'a ToolFacts>, roles: &'a [String]) -> Request<'a> {
    Request {
        server: "srv",
        method: "tools/call",
        target: Some(tool),
        arguments: None,
        principal: Some("ann"),
        roles,
        client: None,
        at: None,
        tool: f,
    }
}

#[test]
fn days_read_and_write_real_dates_only() {
    assert_eq!(Day::parse("1970-01-01"), Some(Day(0)));
    assert_eq!(Day::parse("2026-06-22").unwrap().to_string(), "2026-06-22");
    assert_eq!(Day::parse("2024-02-29").unwrap().to_string(), "2024-02-29");
    for bad in [
        "2023-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-6-22",
        "2026-06-31",
        "20260622",
        "",
        "२०२६-06-22",
        "+026-06-22",
    ] {
        assert_eq!(Day::parse(bad), None, "{bad}");
    }
    for d in [-1i64, 0, 59, 60, 365, 11_016, 20_000, 2_932_896] {
        assert_eq!(Day::parse(&Day(d).to_string()), Some(Day(d)), "{d}");
    }
    assert_eq!(Day::from_unix(86_399), Day(0));
    assert_eq!(Day::from_unix(-1), Day(-1));
}

const CATALOG: &str = r#"
catalog:
  overdue: quarantine
  tools:
    - tool: "*"
      data_classification: internal
    - tool: "srv:write_*"
      owner: platform
      risk_tier: 3
      next_review: "2027-03-01"
      review_every: 90d
      aka: [files.write]
    - tool: "write_file"
      owner: storage
      data_classification: restricted
"#;

#[test]
fn entries_merge_in_order_the_later_field_winning() {
    let p = PolicySet::compile(CATALOG).unwrap();
    let c = p.catalog();
    assert_eq!(c.overdue, Overdue::Quarantine);
    let m = c.lookup("srv", "write_file");
    assert_eq!(m.owner.as_deref(), Some("storage"));
    assert_eq!(m.data_classification, Some(DataClass::Restricted));
    assert_eq!(m.risk_tier, Some(3));
    assert_eq!(m.aka, vec!["files.write".to_owned()]);
    assert_eq!(m.sources.len(), 3);
    let other = c.lookup("other", "write_file");
    assert_eq!(other.risk_tier, None, "srv:write_* names another server");
    assert_eq!(
        c.lookup("srv", "read").data_classification,
        Some(DataClass::Internal)
    );
}

#[test]
fn review_due_follows_the_date_then_the_interval() {
    let day = |s| Day::parse(s).unwrap();
    let mut m = ToolMeta {
        next_review: Some(day("2027-03-01")),
        review_every_days: Some(90),
        ..ToolMeta::default()
    };
    assert_eq!(m.review_due(None), Some(day("2027-03-01")));
    // A review before the written date does not move it.
    assert_eq!(
        m.review_due(Some(day("2027-01-01"))),
        Some(day("2027-03-01"))
    );
    assert_eq!(
        m.review_due(Some(day("2027-03-02"))),
        Some(day("2027-05-31"))
    );
    m.review_every_days = None;
    assert_eq!(m.review_due(Some(day("2027-03-02"))), None);
    m.next_review = None;
    assert_eq!(m.review_due(Some(day("2027-03-02"))), None);
    m.review_every_days = Some(30);
    assert_eq!(
        m.review_due(Some(day("2027-03-02"))),
        Some(day("2027-04-01"))
    );
}

#[test]
fn every_mistake_in_a_catalog_section_is_reported() {
    let text = r#"
catalog:
  overdue: sometimes
  tools:
    - tool: "a"
      risk_tier: 4
      data_classification: secret
      next_review: "2027-02-30"
      owner: [x]
      colour: red
    - owner: nobody
    - tool: "b"
      review_every: 36h
"#;
    let e = PolicySet::compile(text).unwrap_err();
    let all: Vec<String> = e.0.iter().map(|p| p.message.clone()).collect();
    let joined = all.join("\n");
    for want in [
        "report or quarantine",
        "risk_tier 4",
        "\"secret\"",
        "2027-02-30",
        "`owner` is text",
        "\"colour\"",
        "entry 2: an entry needs `tool`",
        "whole days",
    ] {
        assert!(joined.contains(want), "{want} missing from:\n{joined}");
    }
}

const TIERS: &str = r#"
default: allow
policies:
  - name: tier-2
    when: [{risk_tier: 2}]
    action: approve
    approvers: ["role:team-lead"]
  - name: tier-3
    when: [{risk_tier: {min: 3}}]
    action: approve
    approvers: ["role:security"]
  - name: restricted-writes
    when: [{data_classification: {min: confidential}}, {tool_class: [write, sensitive]}]
    action: deny
  - name: only-approved
    when: [{catalog_state: {in: [approved], not: true}}]
    action: deny
"#;

#[test]
fn three_short_rules_bind_tiers_to_approvers() {
    let p = PolicySet::compile(TIERS).unwrap();
    assert!(p.needs_facts());
    let none: Vec<String> = Vec::new();
    let t1 = facts(1, Some(DataClass::Public), "read", "approved");
    let d = p.evaluate(&call("list", Some(&t1), &none));
    assert_eq!((d.action, d.rule), (Action::Allow, None));
    let t2 = facts(2, Some(DataClass::Internal), "write", "approved");
    let d = p.evaluate(&call("edit", Some(&t2), &none));
    assert_eq!(d.action, Action::Approve);
    assert_eq!(d.rule.as_deref(), Some("tier-2"));
    let t3 = facts(3, Some(DataClass::Internal), "write", "approved");
    let d = p.evaluate(&call("wipe", Some(&t3), &none));
    assert_eq!(d.rule.as_deref(), Some("tier-3"));
    let r = facts(1, Some(DataClass::Restricted), "write", "approved");
    let d = p.evaluate(&call("export", Some(&r), &none));
    assert_eq!(
        (d.action, d.rule.as_deref()),
        (Action::Deny, Some("restricted-writes"))
    );
    let changed = facts(1, Some(DataClass::Public), "read", "changed");
    let d = p.evaluate(&call("list", Some(&changed), &none));
    assert_eq!(d.rule.as_deref(), Some("only-approved"));
}

#[test]
fn unknown_facts_are_doubt_restricting_rules_apply_allowing_ones_do_not() {
    let p = PolicySet::compile(
        r#"
default: deny
policies:
  - name: reads
    when: [{risk_tier: 1}]
    action: allow
  - name: tier-3
    when: [{risk_tier: 3}]
    action: approve
"#,
    )
    .unwrap();
    let none: Vec<String> = Vec::new();
    // No facts at all: the allowing rule does not apply, the approving one does.
    let d = p.evaluate(&call("x", None, &none));
    assert_eq!(d.rule.as_deref(), Some("tier-3"));
    // A known tier decides.
    let t1 = facts(1, None, "read", "approved");
    assert_eq!(
        p.evaluate(&call("x", Some(&t1), &none)).action,
        Action::Allow
    );
    // An unknown tier among known facts is doubt too.
    let unknown = ToolFacts {
        risk_tier: None,
        ..t1.clone()
    };
    assert_eq!(
        p.evaluate(&call("x", Some(&unknown), &none)).action,
        Action::Approve
    );
    // Hiding a tool needs certainty: a denial on doubt does not hide it.
    let p = PolicySet::compile(
        "policies:\n  - name: no-3\n    when: [{risk_tier: 3}]\n    action: deny\n",
    )
    .unwrap();
    assert!(!p.never_callable(&call("x", None, &none)));
    let t3 = facts(3, None, "write", "approved");
    assert!(p.never_callable(&call("x", Some(&t3), &none)));
}

#[test]
fn other_names_match_rule_patterns_in_the_guides_dotted_form() {
    let p = PolicySet::compile(
        r#"
policies:
  - name: db
    tool_pattern: "database:query"
    action: deny
  - name: plain
    tool_pattern: "files.write"
    action: approve
"#,
    )
    .unwrap();
    let none: Vec<String> = Vec::new();
    let mut f = facts(1, None, "read", "approved");
    assert_eq!(
        p.evaluate(&call("read_query", Some(&f), &none)).action,
        Action::Allow
    );
    f.aka = vec!["database.query".into()];
    assert_eq!(
        p.evaluate(&call("read_query", Some(&f), &none)).action,
        Action::Deny
    );
    f.aka = vec!["files.write".into()];
    assert_eq!(
        p.evaluate(&call("write_file", Some(&f), &none)).action,
        Action::Approve
    );
}

#[test]
fn fact_conditions_reject_what_they_cannot_read() {
    for (cond, want) in [
        ("{risk_tier: 0}", "not a risk tier"),
        ("{risk_tier: [1, \"x\"]}", "not a risk tier"),
        ("{risk_tier: {min: 3, max: 1}}", "between min and max"),
        ("{risk_tier: {above: 1}}", "expected a risk tier"),
        ("{data_classification: secret}", "not a data classification"),
        ("{tool_class: admin}", "not a tool class"),
        ("{catalog_state: quarantined}", "not a catalog state"),
        ("{catalog_state: []}", "a state or a list"),
    ] {
        let text = format!("policies:\n  - name: r\n    when: [{cond}]\n    action: deny\n");
        let e = PolicySet::compile(&text).unwrap_err();
        assert!(e.0[0].message.contains(want), "{cond}: {}", e.0[0].message);
    }
    let seed =
        "policies:\n  - name: r\n    conditions: [{type: risk_tier, min: 2}]\n    action: deny\n";
    let p = PolicySet::compile(seed).unwrap();
    let none: Vec<String> = Vec::new();
    let f = facts(2, None, "write", "approved");
    assert_eq!(p.evaluate(&call("x", Some(&f), &none)).action, Action::Deny);
    let f = facts(1, None, "read", "approved");
    assert_eq!(
        p.evaluate(&call("x", Some(&f), &none)).action,
        Action::Allow
    );
}

#[test]
fn a_directory_merges_catalog_sections_and_agrees_on_overdue() {
    let a = "catalog:\n  overdue: quarantine\n  tools:\n    - tool: t\n      owner: a\n";
    let b = "catalog:\n  tools:\n    - tool: t\n      risk_tier: 2\n";
    let p = PolicySet::compile_many(&[("a.yaml", a), ("b.yaml", b)]).unwrap();
    let m = p.catalog().lookup("s", "t");
    assert_eq!((m.owner.as_deref(), m.risk_tier), (Some("a"), Some(2)));
    assert_eq!(p.catalog().overdue, Overdue::Quarantine);
    assert!(m.sources[0].starts_with("a.yaml, line"), "{:?}", m.sources);
    let c = "catalog:\n  overdue: report\n";
    let e = PolicySet::compile_many(&[("a.yaml", a), ("c.yaml", c)]).unwrap_err();
    assert!(
        e.0[0].message.contains("`overdue: report` conflicts"),
        "{e:?}"
    );
}

#[test]
fn default_tiers_come_from_class_and_destructive_hint() {
    assert_eq!(default_tier("read", Some(true)), 1);
    assert_eq!(default_tier("write", Some(false)), 2);
    assert_eq!(default_tier("write", None), 3);
    assert_eq!(default_tier("write", Some(true)), 3);
    assert_eq!(default_tier("sensitive", Some(false)), 3);
}

#[test]
fn an_entry_for_another_name_of_the_tool_applies_to_it() {
    let text = r#"
catalog:
  tools:
    - tool: "database:*_query"
      aka: [database.query]
    - tool: "database:query"
      owner: security-team
      next_review: "2026-06-22"
    - tool: "files.write"
      risk_tier: 3
"#;
    let p = PolicySet::compile(text).unwrap();
    let m = p.catalog().lookup("database", "read_query");
    assert_eq!(m.owner.as_deref(), Some("security-team"));
    assert_eq!(m.next_review, Day::parse("2026-06-22"));
    assert_eq!(m.risk_tier, None, "files.write is not one of its names");
    assert_eq!(p.catalog().lookup("other", "read_query").owner, None);
}
