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
