//! The tool catalog on the wire: every `tools/list` result a server sends is entered in the
//! catalog (`warden_audit::catalog`) under the server's identity, and what the catalog does not
//! approve — a tool first seen under `new: quarantine`, a definition changed since it was
//! approved (a rug pull), a rename, a rejected tool — is hidden from the client's list and its
//! calls are refused. Approvals made elsewhere (the CLI) count at the next call.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;
use warden_audit::catalog::{CatalogStore, Intake, NewTools, Seen, State, Tool};
use warden_policy::{CatalogMeta, Day};

use crate::catalog_meta::Review;

/// One process's view of the catalog: the store and what it last saw of each tool, per server.
pub struct Catalog {
    store: Arc<dyn CatalogStore>,
    intake: Intake,
    /// Servers (by identity) whose new tools are taken otherwise (`warden serve`'s config).
    intakes: RwLock<HashMap<String, Intake>>,
    states: RwLock<HashMap<String, HashMap<String, Known>>>,
}

/// A tool's state and last review, as last seen here.
#[derive(Clone, Copy, Debug)]
struct Known {
    state: State,
    reviewed_us: Option<i64>,
}

/// The periodic reviews to enforce (the catalog metadata's `overdue: quarantine`): a tool
/// whose review is past due is hidden and refused as a blocked one is.
#[derive(Clone, Copy)]
pub struct Reviews<'a> {
    pub meta: &'a CatalogMeta,
    /// The name the server is configured under (what metadata patterns match).
    pub label: &'a str,
    pub today: Day,
}

impl Reviews<'_> {
    /// The day the tool's review was due, if it is past.
    fn overdue(&self, tool: &str, reviewed_us: Option<i64>) -> Option<Day> {
        let r = Review::with(self.meta.lookup(self.label, tool), reviewed_us, self.today);
        r.overdue.then_some(r.due).flatten()
    }
}

/// What entering a `tools/list` result found.
pub struct Listed {
    /// The tools to hide from the client.
    pub hidden: Vec<String>,
    /// The records to make: (event name, detail).
    pub events: Vec<(&'static str, Value)>,
}

/// Why a call is refused by the catalog.
#[derive(Debug, Clone)]
pub struct Blocked {
    pub tool: String,
    pub state: State,
    /// The tool is approved but its periodic review, due on this day, is not done.
    pub review_due: Option<Day>,
}

impl Catalog {
    pub fn new(store: Arc<dyn CatalogStore>, intake: Intake) -> Catalog {
        Catalog {
            store,
            intake,
            intakes: RwLock::default(),
            states: RwLock::default(),
        }
    }

    /// Takes `server`'s (an identity) new tools as `intake` instead of the default.
    pub fn set_intake(&self, server: &str, intake: Intake) {
        self.intakes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(server.to_owned(), intake);
    }

    /// How `server`'s new tools are taken.
    fn intake(&self, server: &str) -> Intake {
        self.intakes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(server)
            .copied()
            .unwrap_or(self.intake)
    }

    /// The default intake (`--new-tools`, `--no-tool-baseline`).
    pub fn default_intake(&self) -> Intake {
        self.intake
    }

    pub fn store(&self) -> &Arc<dyn CatalogStore> {
        &self.store
    }

    fn remember(&self, server: &str, t: &Tool) {
        self.states
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(server.to_owned())
            .or_default()
            .insert(
                t.name.clone(),
                Known {
                    state: t.state,
                    reviewed_us: t.reviewed_us,
                },
            );
    }

    /// Enters the tools of a `tools/list` result (`result`, the JSON-RPC result member).
    /// On a store failure every listed tool is hidden (fail closed) and the failure recorded.
    /// With `reviews`, a tool past its review is hidden too.
    pub fn list(
        &self,
        server: &str,
        label: &str,
        result: &Value,
        reviews: Option<Reviews<'_>>,
    ) -> Listed {
        let tools: Vec<Value> = result
            .get("tools")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let complete = result.get("nextCursor").is_none_or(Value::is_null);
        let now = warden_audit::now_us();
        let seen =
            match self
                .store
                .observe(server, label, &tools, complete, self.intake(server), now)
            {
                Ok(s) => s,
                Err(e) => {
                    let hidden: Vec<String> = tools
                        .iter()
                        .filter_map(warden_core::tooldef::name)
                        .map(str::to_owned)
                        .collect();
                    return Listed {
                        events: vec![(
                            "catalog_unavailable",
                            serde_json::json!({ "server": server, "error": e, "hidden": hidden }),
                        )],
                        hidden,
                    };
                }
            };
        let mut out = Listed {
            hidden: Vec::new(),
            events: Vec::new(),
        };
        for s in &seen {
            let t = s.tool();
            self.remember(server, t);
            let overdue = || reviews.and_then(|r| r.overdue(&t.name, t.reviewed_us));
            if t.state.blocked() || overdue().is_some() {
                out.hidden.push(t.name.clone());
            }
            match s {
                Seen::First(t) => out.events.push((
                    "catalog_tool_first_seen",
                    serde_json::json!({
                        "server": server, "tool": t.name, "state": t.state, "pin": t.pin,
                        "pin_version": warden_core::tooldef::PIN_VERSION,
                        "renamed_from": t.renamed_from,
                    }),
                )),
                Seen::Changed(t) => out.events.push(("catalog_tool_changed", changed(t))),
                Seen::Restored(t) => out.events.push((
                    "catalog_tool_restored",
                    serde_json::json!({ "server": server, "tool": t.name, "pin": t.pin }),
                )),
                Seen::Same(_) => {}
            }
        }
        out
    }

    /// The state of `tool` as last seen here (checked with the store when it is blocked, as
    /// in [`Catalog::blocks`]); `None` for a tool this process never saw listed.
    pub fn state(&self, server: &str, tool: &str) -> Option<State> {
        match self.blocks(server, tool, None) {
            Some(b) => Some(b.state),
            None => self.known(server, tool).map(|k| k.state),
        }
    }

    fn known(&self, server: &str, tool: &str) -> Option<Known> {
        self.states
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(server)
            .and_then(|m| m.get(tool))
            .copied()
    }

    /// The store's view of a tool (it may have been decided or reviewed since, from another
    /// process), remembered; `None` when it is gone or the store fails.
    fn fresh(&self, server: &str, tool: &str) -> Option<Known> {
        let t = self.store.get(server, tool).ok()??;
        self.remember(server, &t);
        Some(Known {
            state: t.state,
            reviewed_us: t.reviewed_us,
        })
    }

    /// Whether a call of `tool` is refused: its state as last seen here, and for a blocked one
    /// the store's (it may have been approved since, from another process). With `reviews`, an
    /// approved tool past its review is refused too, unless the store knows a review since.
    pub fn blocks(
        &self,
        server: &str,
        tool: &str,
        reviews: Option<Reviews<'_>>,
    ) -> Option<Blocked> {
        let blocked = |state, review_due| Blocked {
            tool: tool.to_owned(),
            state,
            review_due,
        };
        let known = match self.known(server, tool) {
            Some(k) => k,
            // Not listed in this process (a client calling from a list it kept across a
            // restart of warden): the store's state counts.
            None => match self.store.get(server, tool) {
                Ok(Some(t)) => {
                    self.remember(server, &t);
                    Known {
                        state: t.state,
                        reviewed_us: t.reviewed_us,
                    }
                }
                // Never listed at all: new tools are approved on sight only under `allow`.
                Ok(None) if self.intake(server).new == NewTools::Allow => return None,
                Ok(None) => return Some(blocked(State::New, None)),
                // The store failing: not known to be approved (fail closed).
                Err(_) => return Some(blocked(State::New, None)),
            },
        };
        if known.state.blocked() {
            // Gone from the store, or the store failing: stay blocked (fail closed).
            let now = self.fresh(server, tool).unwrap_or(known);
            if now.state.blocked() {
                return Some(blocked(now.state, None));
            }
            let due = reviews.and_then(|r| r.overdue(tool, now.reviewed_us))?;
            return Some(blocked(now.state, Some(due)));
        }
        let r = reviews?;
        r.overdue(tool, known.reviewed_us)?;
        // A failing store cannot show a review since: stay overdue (fail closed).
        let now = self.fresh(server, tool).unwrap_or(known);
        if now.state.blocked() {
            return Some(blocked(now.state, None));
        }
        r.overdue(tool, now.reviewed_us)
            .map(|due| blocked(now.state, Some(due)))
    }
}

/// The record of a changed definition: the diff's class and its changes, in words.
fn changed(t: &Tool) -> Value {
    let d = t.diff();
    serde_json::json!({
        "server": t.server, "tool": t.name, "pin": t.pin, "approved_pin": t.approved_pin,
        "class": d.as_ref().and_then(|d| d.class()),
        "annotation_only": d.as_ref().is_some_and(|d| d.annotation_only()),
        "changes": d.as_ref().map(|d| d.changes.iter().map(|c| serde_json::json!({
            "kind": c.kind, "class": c.class, "what": c.what,
        })).collect::<Vec<_>>()),
    })
}
