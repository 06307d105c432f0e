//! The tool catalog on the wire: every `tools/list` result a server sends is entered in the
//! catalog (`warden_audit::catalog`) under the server's identity, and what the catalog does not
//! approve — a tool first seen under `new: quarantine`, a definition changed since it was
//! approved (a rug pull), a rename, a rejected tool — is hidden from the client's list and its
//! calls are refused. Approvals made elsewhere (the CLI) count at the next call.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;
use warden_audit::catalog::{CatalogStore, Intake, Seen, State, Tool};

/// One process's view of the catalog: the store and the states it last saw, per server.
pub struct Catalog {
    store: Arc<dyn CatalogStore>,
    intake: Intake,
    states: RwLock<HashMap<String, HashMap<String, State>>>,
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
}

impl Catalog {
    pub fn new(store: Arc<dyn CatalogStore>, intake: Intake) -> Catalog {
        Catalog {
            store,
            intake,
            states: RwLock::default(),
        }
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
            .insert(t.name.clone(), t.state);
    }

    /// Enters the tools of a `tools/list` result (`result`, the JSON-RPC result member).
    /// On a store failure every listed tool is hidden (fail closed) and the failure recorded.
    pub fn list(&self, server: &str, label: &str, result: &Value) -> Listed {
        let tools: Vec<Value> = result
            .get("tools")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let complete = result.get("nextCursor").is_none_or(Value::is_null);
        let now = warden_audit::now_us();
        let seen = match self
            .store
            .observe(server, label, &tools, complete, self.intake, now)
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
            if t.state.blocked() {
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
        match self.blocks(server, tool) {
            Some(b) => Some(b.state),
            None => self.known(server, tool),
        }
    }

    fn known(&self, server: &str, tool: &str) -> Option<State> {
        self.states
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(server)
            .and_then(|m| m.get(tool))
            .copied()
    }

    /// Whether a call of `tool` is refused: its state as last seen here, and for a blocked one
    /// the store's (it may have been approved since, from another process).
    pub fn blocks(&self, server: &str, tool: &str) -> Option<Blocked> {
        let known = self.known(server, tool);
        match known {
            Some(State::Approved) | None => None,
            Some(_) => {
                let state = match self.store.get(server, tool) {
                    Ok(Some(t)) => {
                        self.remember(server, &t);
                        t.state
                    }
                    // Gone from the store, or the store failing: stay blocked (fail closed).
                    Ok(None) | Err(_) => known.unwrap_or(State::Rejected),
                };
                state.blocked().then(|| Blocked {
                    tool: tool.to_owned(),
                    state,
                })
            }
        }
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
