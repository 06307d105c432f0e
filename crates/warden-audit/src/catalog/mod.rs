//! The tool catalog: every tool seen in a server's `tools/list`, per server identity, with its
//! definition pin and state — `approved`, `new` (quarantined until reviewed), `changed`
//! (quarantined: its definition is not the one approved) or `rejected`. Kept in the store so
//! that a rug pull is caught across restarts; behind [`CatalogStore`] for a fleet backend.
//! The log holds the evidence (`catalog_*` records, written by whoever made the change).

pub mod cosmetic;
pub mod sqlite;
#[cfg(test)]
mod tests;

use serde::Serialize;
use serde_json::Value;
use warden_core::tooldef;

pub use cosmetic::{Cosmetic, approve_cosmetic};
pub use sqlite::SqliteCatalog;

/// Where a tool stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Approved,
    /// First seen and not yet reviewed (the server's `new: quarantine` setting, or a rename).
    New,
    /// Its definition changed since it was approved: quarantined until reviewed.
    Changed,
    Rejected,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Approved => "approved",
            State::New => "new",
            State::Changed => "changed",
            State::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "approved" => State::Approved,
            "new" => State::New,
            "changed" => State::Changed,
            "rejected" => State::Rejected,
            _ => return None,
        })
    }

    /// Hidden from `tools/list` and refused when called.
    pub fn blocked(self) -> bool {
        self != State::Approved
    }
}

/// What a tool first seen becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewTools {
    /// Approved on sight (its pin is what later lists are checked against).
    Allow,
    /// `new`: hidden and refused until reviewed.
    Quarantine,
    /// `rejected` until someone approves it.
    Deny,
}

/// How a server's new tools are taken.
#[derive(Clone, Copy, Debug)]
pub struct Intake {
    pub new: NewTools,
    /// Trust on first use: the first tool list of a server never seen before is approved as
    /// its baseline, whatever `new` says.
    pub baseline: bool,
}

/// A tool as catalogued.
#[derive(Clone, Debug, Serialize)]
pub struct Tool {
    pub server: String,
    pub name: String,
    pub state: State,
    pub pin: String,
    pub definition: Value,
    pub approved_pin: Option<String>,
    pub approved_definition: Option<Value>,
    /// The removed tool this one looks like (same schema, similar description).
    pub renamed_from: Option<String>,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    pub decided_us: Option<i64>,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
    /// The name the server was last configured under (`--server-name`, the serve config's key).
    pub label: Option<String>,
    /// The last review (a person's approval or rejection, or a review recorded on its own).
    pub reviewed_us: Option<i64>,
    pub reviewed_by: Option<String>,
}

impl Tool {
    /// What changed from the approved definition to the one last seen.
    pub fn diff(&self) -> Option<tooldef::Diff> {
        self.approved_definition
            .as_ref()
            .map(|old| tooldef::diff(old, &self.definition))
    }
}

/// What one `tools/list` did to a tool's entry.
#[derive(Clone, Debug)]
pub enum Seen {
    /// First seen, in this state (renamed from another tool, when it looks like one).
    First(Tool),
    /// Its definition is not the approved one (newly so): quarantined.
    Changed(Tool),
    /// A changed tool is back at its approved definition.
    Restored(Tool),
    /// As before.
    Same(Tool),
}

impl Seen {
    pub fn tool(&self) -> &Tool {
        match self {
            Seen::First(t) | Seen::Changed(t) | Seen::Restored(t) | Seen::Same(t) => t,
        }
    }

    fn tool_mut(&mut self) -> &mut Tool {
        match self {
            Seen::First(t) | Seen::Changed(t) | Seen::Restored(t) | Seen::Same(t) => t,
        }
    }
}

/// The catalog of a deployment (see the module documentation).
pub trait CatalogStore: Send + Sync {
    /// Enters a server's listed tools (`label`: the name it is configured under). `complete` says the list is the server's whole list
    /// (one page, no cursor): only then can a missing tool count as removed (for renames).
    fn observe(
        &self,
        server: &str,
        label: &str,
        tools: &[Value],
        complete: bool,
        intake: Intake,
        now_us: i64,
    ) -> Result<Vec<Seen>, String>;
    /// Approves the tool's current definition (its pin becomes the approved one) or rejects it.
    fn decide(
        &self,
        server: &str,
        tool: &str,
        approve: bool,
        by: &str,
        reason: Option<&str>,
        now_us: i64,
    ) -> Result<Tool, String>;
    /// Records that `by` reviewed the tool (its periodic review), leaving its state as it is.
    fn review(&self, server: &str, tool: &str, by: &str, now_us: i64) -> Result<Tool, String>;
    /// Approves the tool only if its definition is still the one pinned `pin` (what the reviewer
    /// saw): `None`, deciding nothing, if it changed since or is not catalogued.
    fn approve_pinned(
        &self,
        server: &str,
        tool: &str,
        pin: &str,
        by: &str,
        reason: Option<&str>,
        now_us: i64,
    ) -> Result<Option<Tool>, String>;
    fn get(&self, server: &str, tool: &str) -> Result<Option<Tool>, String>;
    /// Every tool, or a server's, blocked ones first.
    fn list(&self, server: Option<&str>) -> Result<Vec<Tool>, String>;
}
