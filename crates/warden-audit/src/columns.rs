//! The query columns of `records` and the leaf members they copy: which column holds what,
//! and the check that a stored row's columns still say what its leaf says.
//!
//! Reports, statistics, the dashboard and searches read these columns, never the leaf, so a
//! column edited in SQLite would change what they show while the leaves still verify.
//! Verification compares every column with its leaf (the leaf is the authority: it is
//! hashed, tree-linked and signed) and names the first that disagrees.

use std::borrow::Cow;

use rusqlite::types::ValueRef;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::store::{Store, StoreError};

/// The columns copied out of each leaf, in the order [`Store::scan_checked`]
/// selects them (after `seq`, `leaf` and `hashes`).
pub const COPIED: [&str; 14] = [
    "id",
    "ts_us",
    "session",
    "dir",
    "kind",
    "method",
    "target",
    "exchange",
    "server",
    "outcome",
    "duration_us",
    "principal",
    "agent",
    "content",
];

/// What verification reads of a leaf: its place in the log and every member a column copies.
/// Strings borrow from the leaf unless they hold escapes.
#[derive(Deserialize)]
pub(crate) struct Leaf<'a> {
    pub v: Option<u32>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub log: Option<Cow<'a, str>>,
    pub seq: Option<u64>,
    pub ts_us: Option<i64>,
    #[serde(borrow)]
    pub session: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub dir: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub event: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub target: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub exchange: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub server: Option<Server<'a>>,
    #[serde(borrow)]
    pub client: Option<Client<'a>>,
    #[serde(borrow)]
    pub principal: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub agent: Option<Cow<'a, str>>,
    pub duration_us: Option<u64>,
    #[serde(borrow)]
    pub outcome: Option<Cow<'a, str>>,
    /// The commitment to the record's stored content (leaf v2).
    #[serde(borrow)]
    pub content: Option<Cow<'a, str>>,
    /// Read only on the `log_opened` record.
    #[serde(borrow)]
    pub detail: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(crate) struct Server<'a> {
    #[serde(borrow)]
    pub name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct Client<'a> {
    #[serde(borrow, default)]
    pub name: Cow<'a, str>,
    #[serde(borrow, default)]
    pub version: Cow<'a, str>,
}

fn err(store: &Store) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: store.path().to_owned(),
        source,
    }
}

impl Store {
    /// Calls `f(seq, leaf, hashes, columns)` for each record of `log_id` in stored `seq`
    /// order, with its query columns ([`COPIED`], in order) as stored: what
    /// verification reads. Streams: one row in memory at a time.
    pub fn scan_checked(
        &self,
        log_id: &str,
        mut f: impl FnMut(i64, &[u8], &[u8], &[ValueRef<'_>]) -> bool,
    ) -> Result<(), StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "SELECT seq, leaf, hashes, {} FROM records WHERE log_id = ?1 ORDER BY seq",
                COPIED.join(", ")
            )
        });
        let mut st = self.conn().prepare(&SQL).map_err(err(self))?;
        let mut rows = st.query([log_id]).map_err(err(self))?;
        while let Some(r) = rows.next().map_err(err(self))? {
            let seq: i64 = r.get(0).map_err(err(self))?;
            let bytes = |i: usize| -> Result<&[u8], StoreError> {
                Ok(r.get_ref(i)
                    .map_err(err(self))?
                    .as_bytes_or_null()
                    .map_err(|e| err(self)(e.into()))?
                    .unwrap_or_default())
            };
            let (leaf, hashes) = (bytes(1)?, bytes(2)?);
            let mut columns = [ValueRef::Null; COPIED.len()];
            for (i, c) in columns.iter_mut().enumerate() {
                *c = r.get_ref(3 + i).map_err(err(self))?;
            }
            if !f(seq, leaf, hashes, &columns) {
                break;
            }
        }
        Ok(())
    }
}

/// A value a column should hold.
enum Want<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
}

/// A column that disagrees with its leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub column: &'static str,
    /// What the leaf says, as JSON (`absent` when the member is not there).
    pub leaf: String,
    /// What the column holds, as SQL shows it (`NULL`, a number, a quoted string).
    pub stored: String,
}

impl Leaf<'_> {
    /// The agent label the `agent` column holds: the named agent, else the client's
    /// `name/version` (`name` alone when the version is empty), as `SessionContext::agent_label`.
    fn agent_label(&self) -> Option<Cow<'_, str>> {
        if let Some(a) = &self.agent {
            return Some(Cow::Borrowed(a));
        }
        self.client.as_ref().map(|c| {
            if c.version.is_empty() {
                Cow::Borrowed(&*c.name)
            } else {
                Cow::Owned(format!("{}/{}", c.name, c.version))
            }
        })
    }

    /// The first of `stored` (the [`COPIED`] columns, in order) that disagrees with this leaf.
    pub(crate) fn first_mismatch(&self, stored: &[ValueRef<'_>]) -> Option<Mismatch> {
        let agent = self.agent_label();
        let wants = [
            Want::Text(self.id.as_deref()),
            Want::Int(self.ts_us),
            Want::Text(self.session.as_deref()),
            Want::Text(self.dir.as_deref()),
            Want::Text(self.kind.as_deref()),
            Want::Text(self.method.as_deref()),
            Want::Text(self.target.as_deref()),
            Want::Text(self.exchange.as_deref()),
            Want::Text(self.server.as_ref().and_then(|s| s.name.as_deref())),
            Want::Text(self.outcome.as_deref()),
            // A duration beyond i64 cannot be stored: it can never match.
            Want::Int(self.duration_us.map(|d| i64::try_from(d).unwrap_or(-1))),
            Want::Text(self.principal.as_deref()),
            Want::Text(agent.as_deref()),
            Want::Text(self.content.as_deref()),
        ];
        for ((column, want), got) in COPIED.iter().zip(wants).zip(stored) {
            let same = match (&want, got) {
                (Want::Text(None) | Want::Int(None), ValueRef::Null) => true,
                (Want::Text(Some(w)), ValueRef::Text(t)) => w.as_bytes() == *t,
                (Want::Int(Some(w)), ValueRef::Integer(i)) => w == i,
                _ => false,
            };
            if !same {
                let leaf = match want {
                    Want::Text(Some(s)) => serde_json::to_string(s).unwrap_or_default(),
                    Want::Int(Some(i)) => i.to_string(),
                    Want::Text(None) | Want::Int(None) => "absent".into(),
                };
                return Some(Mismatch {
                    column,
                    leaf,
                    stored: show(got),
                });
            }
        }
        if stored.len() != COPIED.len() {
            return Some(Mismatch {
                column: "(row)",
                leaf: format!("{} columns", COPIED.len()),
                stored: format!("{} columns", stored.len()),
            });
        }
        None
    }
}

/// A stored value as SQL would print it, cut to a readable length.
fn show(v: &ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => {
            let s = String::from_utf8_lossy(t);
            let cut: String = s.chars().take(200).collect();
            serde_json::to_string(&cut).unwrap_or_default()
        }
        ValueRef::Blob(b) => format!("a blob of {} bytes", b.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(text: &str) -> Leaf<'_> {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    const LEAF: &str = r#"{"v":1,"id":"r1","log":"l","seq":3,"ts_us":10,"session":"s\u0031","dir":"s2c","kind":"result","method":"tools/call","exchange":"x","target":"t","server":{"name":"fs","info":{"name":"n","version":"1"}},"client":{"name":"c","version":"2"},"principal":"p","size":5,"duration_us":7,"outcome":"ok","content":"abc"}"#;

    fn good() -> Vec<ValueRef<'static>> {
        vec![
            ValueRef::Text(b"r1"),
            ValueRef::Integer(10),
            ValueRef::Text(b"s1"),
            ValueRef::Text(b"s2c"),
            ValueRef::Text(b"result"),
            ValueRef::Text(b"tools/call"),
            ValueRef::Text(b"t"),
            ValueRef::Text(b"x"),
            ValueRef::Text(b"fs"),
            ValueRef::Text(b"ok"),
            ValueRef::Integer(7),
            ValueRef::Text(b"p"),
            ValueRef::Text(b"c/2"),
            ValueRef::Text(b"abc"),
        ]
    }

    #[test]
    fn matching_columns_pass_and_escaped_strings_compare_decoded() {
        assert_eq!(leaf(LEAF).first_mismatch(&good()), None);
    }

    #[test]
    fn every_column_edited_any_way_is_named() {
        let l = leaf(LEAF);
        let odd: [ValueRef<'static>; 5] = [
            ValueRef::Null,
            ValueRef::Integer(0),
            ValueRef::Real(7.0),
            ValueRef::Text(b"denied"),
            ValueRef::Blob(b"ok"),
        ];
        for (i, column) in COPIED.iter().enumerate() {
            for v in &odd {
                let mut cols = good();
                if cols[i] == *v {
                    continue;
                }
                cols[i] = *v;
                let m = l.first_mismatch(&cols).expect("an edit is found");
                assert_eq!(m.column, *column);
            }
        }
        // A text number where an integer belongs is not the integer.
        let mut cols = good();
        cols[1] = ValueRef::Text(b"10");
        assert_eq!(l.first_mismatch(&cols).map(|m| m.column), Some("ts_us"));
        assert_eq!(
            l.first_mismatch(&good()[..13]).map(|m| m.column),
            Some("(row)")
        );
    }

    #[test]
    fn absent_members_want_null_and_the_agent_falls_back_to_the_client() {
        let l = leaf(
            r#"{"v":1,"id":"r","ts_us":1,"session":"","kind":"event","event":"log_opened","client":{"name":"c","version":""}}"#,
        );
        let mut cols = vec![ValueRef::Null; 14];
        cols[0] = ValueRef::Text(b"r");
        cols[1] = ValueRef::Integer(1);
        cols[2] = ValueRef::Text(b"");
        cols[4] = ValueRef::Text(b"event");
        cols[12] = ValueRef::Text(b"c");
        assert_eq!(l.first_mismatch(&cols), None);
        cols[9] = ValueRef::Text(b"ok");
        let m = l
            .first_mismatch(&cols)
            .expect("outcome set where the leaf has none");
        assert_eq!(
            (m.column, m.leaf.as_str(), m.stored.as_str()),
            ("outcome", "absent", "\"ok\"")
        );
    }
}
