//! Bulk approval of cosmetic changes: every `changed` tool whose classified diff against its
//! approved definition is only cosmetic (case, punctuation, spacing, the title) is approved,
//! each on its own and pin-checked (a definition that changed again since it was classified is
//! left); every other `changed` tool is left for a person to review.

use warden_core::tooldef::Class;

use super::{CatalogStore, State, Tool};

/// What a bulk approval did.
#[derive(Debug, Default)]
pub struct Cosmetic {
    /// Approved (as decided).
    pub approved: Vec<Tool>,
    /// Left quarantined, with the class of their change (`None`: it changed again meanwhile).
    pub left: Vec<(Tool, Option<Class>)>,
}

/// Approves, as `by` with `reason`, every `changed` tool `pick` selects whose change is only
/// cosmetic. The caller records each approval (`catalog_tool_decided`).
pub fn approve_cosmetic(
    store: &dyn CatalogStore,
    pick: &dyn Fn(&Tool) -> bool,
    by: &str,
    reason: Option<&str>,
    now_us: i64,
) -> Result<Cosmetic, String> {
    let mut out = Cosmetic::default();
    for t in store.list(None)? {
        if t.state != State::Changed || !pick(&t) {
            continue;
        }
        let class = t.diff().and_then(|d| d.class());
        if class != Some(Class::Cosmetic) {
            out.left.push((t, class));
            continue;
        }
        match store.approve_pinned(&t.server, &t.name, &t.pin, by, reason, now_us)? {
            Some(decided) => out.approved.push(decided),
            None => out.left.push((t, None)),
        }
    }
    Ok(out)
}
