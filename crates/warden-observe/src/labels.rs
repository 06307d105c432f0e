//! Bounded label values: a metric label only ever takes values from a capped set (tool names
//! from configuration or the server's own `tools/list`, principals as first seen), and
//! everything else is reported as `other`. A hostile server or client inventing names cannot
//! grow the registry past the cap.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

/// The value reported for anything outside the set.
pub const OTHER: &str = "other";

/// Longest value kept as a label (longer ones are `other`).
pub const MAX_LEN: usize = 128;

/// A capped set of allowed label values.
#[derive(Debug)]
pub struct Bounded {
    known: RwLock<HashSet<String>>,
    cap: usize,
    /// Values that were refused because the set was full or they were not valid labels.
    overflow: AtomicU64,
}

impl Bounded {
    pub fn new(cap: usize) -> Bounded {
        Bounded {
            known: RwLock::new(HashSet::new()),
            cap,
            overflow: AtomicU64::new(0),
        }
    }

    /// Adds `value` to the set if there is room and it is a fit label; says whether it is in.
    pub fn admit(&self, value: &str) -> bool {
        if self.known.read().contains(value) {
            return true;
        }
        if !fit(value) {
            self.overflow.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let mut known = self.known.write();
        if known.len() >= self.cap {
            drop(known);
            self.overflow.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        known.insert(value.to_owned());
        true
    }

    /// Whether the set has room for more values.
    pub fn full(&self) -> bool {
        self.known.read().len() >= self.cap
    }

    /// The label for `value`: itself if it is in the set, else `other`.
    pub fn label(&self, value: &str) -> String {
        if self.known.read().contains(value) {
            value.to_owned()
        } else {
            OTHER.to_owned()
        }
    }

    /// The label for `value`, admitting it first if there is room (first come, first kept).
    pub fn label_admitting(&self, value: &str) -> String {
        if self.admit(value) {
            value.to_owned()
        } else {
            OTHER.to_owned()
        }
    }

    pub fn len(&self) -> usize {
        self.known.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn overflow(&self) -> u64 {
        self.overflow.load(Ordering::Relaxed)
    }
}

/// A value fit to be a label: not empty, not too long, printable, not the `other` marker.
fn fit(v: &str) -> bool {
    !v.is_empty() && v.len() <= MAX_LEN && v != OTHER && !v.chars().any(char::is_control)
}

/// The MCP methods that are labels as themselves; any other method is `other`.
pub const METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "sampling/createMessage",
    "elicitation/create",
    "roots/list",
    "server/discover",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/message",
    "notifications/resources/updated",
    "notifications/resources/list_changed",
    "notifications/tools/list_changed",
    "notifications/prompts/list_changed",
    "notifications/roots/list_changed",
];

/// The label for a method: itself if it is a known MCP method, `none` if absent, else `other`.
pub fn method_label(m: Option<&str>) -> &'static str {
    match m {
        None => "none",
        Some(m) => {
            // Most messages are tools/call: checked first.
            if m == "tools/call" {
                return "tools/call";
            }
            METHODS.iter().find(|k| **k == m).copied().unwrap_or(OTHER)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_stops_at_its_cap_and_the_rest_is_other() {
        let b = Bounded::new(3);
        for n in ["a", "b", "c", "d", "e"] {
            b.admit(n);
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.label("a"), "a");
        assert_eq!(b.label("d"), "other");
        assert_eq!(b.overflow(), 2);
        assert!(b.full());
    }

    #[test]
    fn unfit_values_are_never_labels() {
        let b = Bounded::new(10);
        assert!(!b.admit(""));
        assert!(!b.admit("other"));
        assert!(!b.admit("line\nbreak"));
        assert!(!b.admit(&"x".repeat(MAX_LEN + 1)));
        assert!(b.is_empty());
    }

    #[test]
    fn methods_outside_mcp_are_other() {
        assert_eq!(method_label(Some("tools/call")), "tools/call");
        assert_eq!(method_label(Some("x/invented")), "other");
        assert_eq!(method_label(None), "none");
    }
}
