//! `Observability` and the tool catalog: tools counted by state from the catalog when scraped,
//! caught definition changes counted by class, and the security event of a change.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use warden_observe::{Observability, ObserveConfig};
use warden_proxy::{FrameHints, Observer};

fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix(prefix))
}

#[test]
fn tools_by_state_are_read_when_scraped_and_changes_counted_by_class() {
    let o = Observability::new(ObserveConfig::default(), None);
    let text = o.metrics().encode();
    assert!(
        !text.contains("mcp_catalog_tools{"),
        "no catalog yet: no series"
    );
    assert_eq!(
        line(&text, "mcp_catalog_changes_total{class=\"risk-raising\"} "),
        Some("0")
    );
    // The catalog as a store would count it; changed between two scrapes.
    let counts = Arc::new(Mutex::new(warden_proxy::catalog_meta::Counts {
        states: vec![("approved".to_owned(), 3u64), ("changed".to_owned(), 1)],
        review_overdue: 2,
    }));
    let c = counts.clone();
    o.metrics()
        .catalog_tools
        .set(Arc::new(move || Some(c.lock().unwrap().clone())));
    let text = o.metrics().encode();
    assert_eq!(
        line(&text, "mcp_catalog_tools{state=\"changed\"} "),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        line(&text, "mcp_catalog_tools{state=\"approved\"} "),
        Some("3")
    );
    assert_eq!(
        line(&text, "mcp_catalog_tools{state=\"rejected\"} "),
        Some("0")
    );
    assert_eq!(
        line(&text, "mcp_catalog_review_overdue "),
        Some("2"),
        "{text}"
    );
    *counts.lock().unwrap() = warden_proxy::catalog_meta::Counts {
        states: vec![("approved".to_owned(), 4)],
        review_overdue: 0,
    };
    let text = o.metrics().encode();
    assert_eq!(line(&text, "mcp_catalog_review_overdue "), Some("0"));
    assert_eq!(
        line(&text, "mcp_catalog_tools{state=\"changed\"} "),
        Some("0")
    );

    let mut ev =
        warden_audit::AuditEvent::gateway("s1".into(), Arc::default(), "catalog_tool_changed");
    ev.detail = Some(serde_json::json!({
        "server": "stdio:x", "tool": "fetch_page", "class": "risk-raising",
        "changes": [{"kind": "description", "class": "risk-raising", "what": "the description now addresses the model (<important>)"}],
    }));
    o.observe(&[ev], FrameHints::default());
    let text = o.metrics().encode();
    assert_eq!(
        line(&text, "mcp_catalog_changes_total{class=\"risk-raising\"} "),
        Some("1"),
        "{text}"
    );
}

#[test]
fn every_catalog_record_is_counted_and_a_security_event_without_reasons() {
    use warden_observe::events::{EventStream, Sink};
    let path = std::env::temp_dir().join(format!(
        "warden-catalog-events-{}-{}.jsonl",
        std::process::id(),
        uuid::Uuid::now_v7()
    ));
    let o = Observability::new(ObserveConfig::default(), None);
    let stream = EventStream::start(&Sink::File(path.clone()), o.events_dropped()).unwrap();
    let o = o.with_events(stream);
    let record = |name: &'static str, detail: serde_json::Value| {
        let mut ev = warden_audit::AuditEvent::gateway("".into(), Arc::default(), name);
        ev.detail = Some(detail);
        o.observe(&[ev], FrameHints::default());
    };
    record(
        "catalog_tool_first_seen",
        serde_json::json!({"server": "stdio:x", "tool": "get_page", "state": "new", "renamed_from": "fetch_page"}),
    );
    record(
        "catalog_tool_decided",
        serde_json::json!({"server": "stdio:x", "tool": "get_page", "state": "rejected", "by": "sam", "reason": "SEC-99 poisoning", "via": "cli"}),
    );
    record(
        "catalog_tool_reviewed",
        serde_json::json!({"server": "stdio:x", "tool": "fetch_page", "state": "approved", "by": "hana", "reason": "SEC-98", "next_review": "2027-01-01", "via": "api"}),
    );
    let m = o.metrics().encode();
    for (event, n) in [
        ("first_seen", "1"),
        ("decided", "1"),
        ("reviewed", "1"),
        ("restored", "0"),
        ("changed", "0"),
    ] {
        assert_eq!(
            line(
                &m,
                &format!("mcp_catalog_events_total{{event=\"{event}\"}} ")
            ),
            Some(n),
            "{m}"
        );
    }
    o.shutdown(std::time::Duration::from_secs(1));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(!text.contains("SEC-9"), "a reason leaked: {text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines.iter().all(|l| l["event"] == "mcp_catalog_event"));
    assert_eq!(lines[0]["catalog_event"], "first_seen");
    assert_eq!(lines[0]["renamed_from"], "fetch_page");
    assert_eq!(
        (lines[1]["by"].clone(), lines[1]["state"].clone()),
        (serde_json::json!("sam"), serde_json::json!("rejected"))
    );
    assert_eq!(lines[2]["next_review"], "2027-01-01");
}
