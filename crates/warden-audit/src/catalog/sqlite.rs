//! The catalog in the audit store's SQLite file (table `catalog_tools`, created on first use),
//! on a connection of its own; each `tools/list` is entered in one `BEGIN IMMEDIATE`
//! transaction, so two processes listing the same server agree on what was first.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use serde_json::Value;
use warden_core::tooldef;

use super::{CatalogStore, Intake, NewTools, Seen, State, Tool};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS catalog_tools (
    server TEXT NOT NULL,
    tool TEXT NOT NULL,
    state TEXT NOT NULL,
    pin TEXT NOT NULL,
    definition TEXT NOT NULL,
    approved_pin TEXT,
    approved_definition TEXT,
    renamed_from TEXT,
    first_seen_us INTEGER NOT NULL,
    last_seen_us INTEGER NOT NULL,
    decided_us INTEGER,
    decided_by TEXT,
    reason TEXT,
    label TEXT,
    reviewed_us INTEGER,
    reviewed_by TEXT,
    PRIMARY KEY (server, tool)
);
";

/// Columns added since the table was first released, added to an older store on open.
const ADDED: &[(&str, &str)] = &[("reviewed_us", "INTEGER"), ("reviewed_by", "TEXT")];

/// Adds the columns an older store's table lacks.
fn upgrade(conn: &Connection) -> rusqlite::Result<()> {
    let have: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('catalog_tools')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (col, ty) in ADDED {
        if !have.iter().any(|h| h == col) {
            conn.execute_batch(&format!("ALTER TABLE catalog_tools ADD COLUMN {col} {ty}"))?;
        }
    }
    Ok(())
}

const COLUMNS: &str = "server, tool, state, pin, definition, approved_pin, approved_definition, \
     renamed_from, first_seen_us, last_seen_us, decided_us, decided_by, reason, label, \
     reviewed_us, reviewed_by";

/// A decision, as `CatalogStore::decide` takes it.
struct Decide<'a> {
    approve: bool,
    by: &'a str,
    reason: Option<&'a str>,
    now_us: i64,
}

/// The catalog kept in a SQLite file (normally the audit store's).
pub struct SqliteCatalog {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl SqliteCatalog {
    /// Opens the catalog of the store at `path` (which must exist), creating its table.
    pub fn open(path: &Path) -> Result<SqliteCatalog, String> {
        if !path.exists() {
            return Err(format!("audit store {} does not exist", path.display()));
        }
        let e = |err: rusqlite::Error| format!("catalog in {}: {err}", path.display());
        let conn = Connection::open(path).map_err(e)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(e)?;
        crate::store::retry_busy(|| conn.execute_batch(SCHEMA)).map_err(e)?;
        crate::store::retry_busy(|| upgrade(&conn)).map_err(e)?;
        Ok(SqliteCatalog {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        })
    }

    /// Decides the tool in one transaction; with `pin`, only if its definition is still that one
    /// (`None`, deciding nothing, otherwise or when the tool is not catalogued).
    fn decide_if(
        &self,
        server: &str,
        tool: &str,
        pin: Option<&str>,
        d: &Decide<'_>,
    ) -> Result<Option<Tool>, String> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err())?;
        let Some(mut t) = get(&tx, server, tool).map_err(self.err())? else {
            return Ok(None);
        };
        if pin.is_some_and(|p| p != t.pin) {
            return Ok(None);
        }
        if d.approve {
            t.state = State::Approved;
            t.approved_pin = Some(t.pin.clone());
            t.approved_definition = Some(t.definition.clone());
            t.renamed_from = None;
        } else {
            t.state = State::Rejected;
        }
        t.decided_us = Some(d.now_us);
        t.decided_by = Some(d.by.to_owned());
        t.reason = d.reason.map(str::to_owned);
        // A person's decision on a tool is a review of it.
        t.reviewed_us = Some(d.now_us);
        t.reviewed_by = Some(d.by.to_owned());
        put(&tx, &t).map_err(self.err())?;
        tx.commit().map_err(self.err())?;
        Ok(Some(t))
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> String + '_ {
        move |e| format!("catalog in {}: {e}", self.path.display())
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn json(s: Option<String>) -> Option<Value> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

fn row(r: &Row<'_>) -> rusqlite::Result<Tool> {
    let state: String = r.get(2)?;
    Ok(Tool {
        server: r.get(0)?,
        name: r.get(1)?,
        // An unreadable state is treated as the most restrictive one.
        state: State::parse(&state).unwrap_or(State::Rejected),
        pin: r.get(3)?,
        definition: json(r.get(4)?).unwrap_or(Value::Null),
        approved_pin: r.get(5)?,
        approved_definition: json(r.get(6)?),
        renamed_from: r.get(7)?,
        first_seen_us: r.get(8)?,
        last_seen_us: r.get(9)?,
        decided_us: r.get(10)?,
        decided_by: r.get(11)?,
        reason: r.get(12)?,
        label: r.get(13)?,
        reviewed_us: r.get(14)?,
        reviewed_by: r.get(15)?,
    })
}

fn get(c: &Connection, server: &str, tool: &str) -> rusqlite::Result<Option<Tool>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM catalog_tools WHERE server = ?1 AND tool = ?2"),
        params![server, tool],
        row,
    )
    .optional()
}

fn server_tools(c: &Connection, server: &str) -> rusqlite::Result<Vec<Tool>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM catalog_tools WHERE server = ?1 ORDER BY tool"
    ))?;
    st.query_map([server], row)?.collect()
}

fn put(tx: &Transaction<'_>, t: &Tool) -> rusqlite::Result<()> {
    tx.execute(
        &format!(
            "INSERT OR REPLACE INTO catalog_tools ({COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
        ),
        params![
            t.server,
            t.name,
            t.state.as_str(),
            t.pin,
            t.definition.to_string(),
            t.approved_pin,
            t.approved_definition.as_ref().map(ToString::to_string),
            t.renamed_from,
            t.first_seen_us,
            t.last_seen_us,
            t.decided_us,
            t.decided_by,
            t.reason,
            t.label,
            t.reviewed_us,
            t.reviewed_by,
        ],
    )
    .map(|_| ())
}

/// A tool first seen: approved, `new` or `rejected` as the intake says, and `new` in any case
/// when it looks like a removed tool renamed.
fn first(
    server: &str,
    def: &Value,
    pin: String,
    intake: Intake,
    baseline: bool,
    renamed: Option<String>,
    now_us: i64,
) -> Tool {
    let state = match (renamed.is_some(), baseline, intake.new) {
        (true, _, _) => State::New,
        (false, true, _) | (false, false, NewTools::Allow) => State::Approved,
        (false, false, NewTools::Quarantine) => State::New,
        (false, false, NewTools::Deny) => State::Rejected,
    };
    let approved = state == State::Approved;
    Tool {
        server: server.to_owned(),
        name: tooldef::name(def).unwrap_or_default().to_owned(),
        state,
        approved_pin: approved.then(|| pin.clone()),
        approved_definition: approved.then(|| def.clone()),
        pin,
        definition: def.clone(),
        renamed_from: renamed,
        first_seen_us: now_us,
        last_seen_us: now_us,
        decided_us: approved.then_some(now_us),
        decided_by: approved.then(|| {
            if baseline {
                "warden (baseline)".into()
            } else {
                "warden (new: allow)".into()
            }
        }),
        reason: None,
        label: None,
        reviewed_us: None,
        reviewed_by: None,
    }
}

impl CatalogStore for SqliteCatalog {
    fn observe(
        &self,
        server: &str,
        label: &str,
        tools: &[Value],
        complete: bool,
        intake: Intake,
        now_us: i64,
    ) -> Result<Vec<Seen>, String> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err())?;
        let known = server_tools(&tx, server).map_err(self.err())?;
        let baseline = intake.baseline && known.is_empty();
        let listed: Vec<&str> = tools.iter().filter_map(tooldef::name).collect();
        // Tools catalogued but missing from a complete list: candidates a new tool renames.
        let removed: Vec<&Value> = if complete {
            known
                .iter()
                .filter(|t| !listed.contains(&t.name.as_str()))
                .map(|t| &t.definition)
                .collect()
        } else {
            Vec::new()
        };
        let mut out = Vec::with_capacity(tools.len());
        for def in tools {
            let Some(name) = tooldef::name(def) else {
                continue;
            };
            let pin = tooldef::pin(def);
            let mut seen = match known.iter().find(|t| t.name == name) {
                None => {
                    let renamed = tooldef::renamed_from(def, &removed)
                        .and_then(tooldef::name)
                        .map(str::to_owned);
                    Seen::First(first(server, def, pin, intake, baseline, renamed, now_us))
                }
                Some(t) => {
                    let mut t = t.clone();
                    t.last_seen_us = now_us;
                    let was = t.pin.clone();
                    t.pin = pin.clone();
                    t.definition = def.clone();
                    let approved = t.approved_pin.as_deref() == Some(pin.as_str());
                    match t.state {
                        State::Approved if !approved => {
                            t.state = State::Changed;
                            Seen::Changed(t)
                        }
                        State::Changed if approved => {
                            t.state = State::Approved;
                            Seen::Restored(t)
                        }
                        State::Changed if was != pin => Seen::Changed(t),
                        _ => Seen::Same(t),
                    }
                }
            };
            seen.tool_mut().label = Some(label.to_owned());
            put(&tx, seen.tool()).map_err(self.err())?;
            out.push(seen);
        }
        tx.commit().map_err(self.err())?;
        Ok(out)
    }

    fn decide(
        &self,
        server: &str,
        tool: &str,
        approve: bool,
        by: &str,
        reason: Option<&str>,
        now_us: i64,
    ) -> Result<Tool, String> {
        let d = Decide {
            approve,
            by,
            reason,
            now_us,
        };
        self.decide_if(server, tool, None, &d)?
            .ok_or_else(|| format!("no tool {tool} of server {server} in the catalog"))
    }

    fn approve_pinned(
        &self,
        server: &str,
        tool: &str,
        pin: &str,
        by: &str,
        reason: Option<&str>,
        now_us: i64,
    ) -> Result<Option<Tool>, String> {
        let d = Decide {
            approve: true,
            by,
            reason,
            now_us,
        };
        self.decide_if(server, tool, Some(pin), &d)
    }

    fn review(&self, server: &str, tool: &str, by: &str, now_us: i64) -> Result<Tool, String> {
        let conn = self.conn();
        let n = conn
            .execute(
                "UPDATE catalog_tools SET reviewed_us = ?3, reviewed_by = ?4 \
                 WHERE server = ?1 AND tool = ?2",
                params![server, tool, now_us, by],
            )
            .map_err(self.err())?;
        if n == 0 {
            return Err(format!("no tool {tool} of server {server} in the catalog"));
        }
        get(&conn, server, tool)
            .map_err(self.err())?
            .ok_or_else(|| format!("no tool {tool} of server {server} in the catalog"))
    }

    fn get(&self, server: &str, tool: &str) -> Result<Option<Tool>, String> {
        get(&self.conn(), server, tool).map_err(self.err())
    }

    fn list(&self, server: Option<&str>) -> Result<Vec<Tool>, String> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM catalog_tools WHERE (?1 IS NULL OR server = ?1) \
                 ORDER BY state = 'approved', server, tool"
            ))
            .map_err(self.err())?;
        st.query_map([server], row)
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())
    }
}
