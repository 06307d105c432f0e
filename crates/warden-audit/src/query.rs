//! Queries of the admin plane over a read-only store: filtered record pages with keyset
//! cursors, sessions, usage statistics, and a summary of each log's integrity.
//!
//! Pages are ordered by `(ts_us, rowid)` and continue from a cursor naming the last row
//! seen, so rows committed while someone pages never shift a page (no duplicates, no gaps
//! among the rows that existed). The live tail follows `rowid`, which only grows.

use rusqlite::types::Value;

use crate::store::{RecordRow, Store, StoreError};

/// Most rows one page may hold.
pub const MAX_PAGE: u32 = 1000;

pub use crate::status::{OUTCOMES, STATUSES, answered, status_of, status_outcomes, status_sql};

/// A position in an ordered page: the last row seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub ts_us: i64,
    pub rowid: i64,
}

impl Cursor {
    /// The cursor as sent to clients: `ts_us.rowid`, both in base 36.
    pub fn encode(self) -> String {
        format!("{}.{}", base36(self.ts_us), base36(self.rowid))
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let (t, r) = s.split_once('.')?;
        Some(Cursor {
            ts_us: i64::from_str_radix(t, 36).ok()?,
            rowid: i64::from_str_radix(r, 36).ok()?,
        })
    }
}

fn base36(mut n: i64) -> String {
    if n <= 0 {
        return n.to_string();
    }
    let mut out = Vec::new();
    while n > 0 {
        let d = (n % 36) as u8;
        out.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Filters shared by record pages, the live tail, sessions and reports.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub since_us: Option<i64>,
    pub until_us: Option<i64>,
    pub server: Option<String>,
    pub tool: Option<String>,
    pub method: Option<String>,
    pub direction: Option<String>,
    /// Stored outcomes, any of which matches (statuses are expanded with [`status_outcomes`]).
    pub outcomes: Vec<String>,
    pub session: Option<String>,
    pub kind: Option<String>,
    pub principal: Option<String>,
    pub agent: Option<String>,
}

impl Query {
    /// The WHERE clause (starting with ` AND`, or empty) and its parameters.
    fn clause(&self) -> (String, Vec<Value>) {
        let mut sql = String::new();
        let mut args: Vec<Value> = Vec::new();
        if let Some(v) = self.since_us {
            args.push(Value::Integer(v));
            sql.push_str(&format!(" AND ts_us >= ?{}", args.len()));
        }
        if let Some(v) = self.until_us {
            args.push(Value::Integer(v));
            sql.push_str(&format!(" AND ts_us < ?{}", args.len()));
        }
        for (col, v) in [
            ("server", &self.server),
            ("target", &self.tool),
            ("method", &self.method),
            ("dir", &self.direction),
            ("session", &self.session),
            ("kind", &self.kind),
            ("principal", &self.principal),
            ("agent", &self.agent),
        ] {
            if let Some(v) = v {
                args.push(Value::Text(v.clone()));
                sql.push_str(&format!(" AND {col} = ?{}", args.len()));
            }
        }
        if !self.outcomes.is_empty() {
            let mut marks = Vec::new();
            for o in &self.outcomes {
                args.push(Value::Text(o.clone()));
                marks.push(format!("?{}", args.len()));
            }
            sql.push_str(&format!(" AND outcome IN ({})", marks.join(",")));
        }
        (sql, args)
    }
}

/// Which way a page runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// One page of records and the cursor of the next (none when this was the last).
#[derive(Debug)]
pub struct Page {
    pub rows: Vec<RecordRow>,
    pub next: Option<Cursor>,
}

const COLUMNS: &str = "rowid, log_id, seq, id, ts_us, session, dir, kind, method, target, exchange, \
     server, outcome, duration_us, leaf, principal, agent";

/// A `records` row read as `RecordRow`, from the columns in the order `search` and the
/// pages select them.
pub(crate) fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordRow> {
    Ok(RecordRow {
        rowid: r.get(0)?,
        log_id: r.get(1)?,
        seq: r.get::<_, i64>(2)? as u64,
        id: r.get(3)?,
        ts_us: r.get(4)?,
        session: r.get(5)?,
        dir: r.get(6)?,
        kind: r.get(7)?,
        method: r.get(8)?,
        target: r.get(9)?,
        exchange: r.get(10)?,
        server: r.get(11)?,
        outcome: r.get(12)?,
        duration_us: r.get(13)?,
        leaf: r.get(14)?,
        principal: r.get(15)?,
        agent: r.get(16)?,
    })
}

/// One session as listed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SessionSummary {
    pub session: String,
    pub started_us: i64,
    pub last_us: i64,
    pub records: u64,
    /// Closed tool calls (`tools/call` exchanges that ended, however).
    pub calls: u64,
    /// Closed exchanges of any method that did not end `ok`.
    pub problems: u64,
    pub server: Option<String>,
    pub principal: Option<String>,
    pub agent: Option<String>,
}

/// Counts for one tool or principal in [`Stats`].
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Breakdown {
    pub name: String,
    pub invocations: u64,
    pub errors: u64,
    pub blocked: u64,
    pub rate_limited: u64,
    pub avg_latency_ms: Option<f64>,
    pub p95_latency_ms: Option<f64>,
}

/// Tool-call statistics over a window (the seed's `get_metrics`).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Stats {
    pub since_us: i64,
    pub until_us: i64,
    pub server: Option<String>,
    /// Closed `tools/call` exchanges, including those warden refused.
    pub total_invocations: u64,
    pub successes: u64,
    pub errors: u64,
    /// Percent of invocations that ended `ok` (none when there were none).
    pub success_rate: Option<f64>,
    /// Percent of invocations that failed (status `error`: `rpc_error`, `tool_error`,
    /// `gateway_error`, `cancelled`, `abandoned`); refusals by policy are counted apart.
    pub error_rate: Option<f64>,
    /// Over calls that reached the server and were answered.
    pub avg_latency_ms: Option<f64>,
    pub p95_latency_ms: Option<f64>,
    /// Denied by policy or held for approval.
    pub policy_blocks: u64,
    pub rate_limit_hits: u64,
    pub budget_exceeded: u64,
    pub by_outcome: std::collections::BTreeMap<String, u64>,
    pub by_tool: Vec<Breakdown>,
    pub by_principal: Vec<Breakdown>,
}

/// The closing record of an exchange: it carries the outcome (a refused request's own
/// record carries it too, so requests are left out to count each call once).
const CLOSED: &str = "outcome IS NOT NULL AND kind != 'request'";

/// Percentile `p` (0..=100) of `v` (reordered), nearest rank.
fn percentile(v: &mut [i64], p: f64) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    let i = rank.clamp(1, v.len()) - 1;
    let (_, x, _) = v.select_nth_unstable(i);
    Some(*x)
}

fn ms(us: i64) -> f64 {
    (us as f64 / 1000.0 * 1000.0).round() / 1000.0
}

/// How a closed call ended, for counting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ended {
    Ok,
    Failed,
    Blocked,
    Limited,
}

fn ended(outcome: &str) -> Ended {
    match status_of(outcome) {
        "success" => Ended::Ok,
        "denied" | "pending" | "refused" => Ended::Blocked,
        "rate_limited" => Ended::Limited,
        _ => Ended::Failed,
    }
}

/// FNV-1a: the statistics loop hashes a short tool and principal name per row, and
/// SipHash's defence against chosen keys buys nothing for names read from our own store.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type Names = std::collections::HashMap<String, Acc, std::hash::BuildHasherDefault<Fnv>>;

#[derive(Default)]
struct Acc {
    b: Breakdown,
    durations: Vec<i64>,
}

impl Acc {
    fn add(&mut self, how: Ended, duration: Option<i64>) {
        self.b.invocations += 1;
        match how {
            Ended::Ok => {}
            Ended::Blocked => self.b.blocked += 1,
            Ended::Limited => self.b.rate_limited += 1,
            Ended::Failed => self.b.errors += 1,
        }
        if let Some(d) = duration {
            self.durations.push(d);
        }
    }
    fn finish(mut self, name: String) -> Breakdown {
        self.b.name = name;
        if !self.durations.is_empty() {
            let sum: i64 = self.durations.iter().sum();
            self.b.avg_latency_ms = Some(ms(sum / self.durations.len() as i64));
            self.b.p95_latency_ms = percentile(&mut self.durations, 95.0).map(ms);
        }
        self.b
    }
}

fn add_to(names: &mut Names, name: &str, how: Ended, duration: Option<i64>) {
    match names.get_mut(name) {
        Some(a) => a.add(how, duration),
        None => {
            let mut a = Acc::default();
            a.add(how, duration);
            names.insert(name.to_owned(), a);
        }
    }
}

/// Each log's integrity at a glance (the full check is `export::verify_store`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct LogHead {
    pub log_id: String,
    pub origin: String,
    pub instance: String,
    pub created_us: i64,
    pub records: u64,
    pub last_checkpoint_size: Option<u64>,
    pub last_checkpoint_us: Option<i64>,
    /// The verifier key's name and key hash (`name+hex`): what a signature line names.
    pub key_fingerprint: String,
    pub vkey: String,
}

/// `name+keyhash` of a verifier key in note format (`name+hash+base64`).
pub fn key_fingerprint(vkey: &str) -> String {
    let mut parts = vkey.splitn(3, '+');
    match (parts.next(), parts.next()) {
        (Some(name), Some(hash)) => format!("{name}+{hash}"),
        _ => vkey.chars().take(32).collect(),
    }
}

impl Store {
    fn query_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path().to_owned(),
            source,
        }
    }

    /// One page of records matching `q`, after `cursor` in `order`.
    pub fn page(
        &self,
        q: &Query,
        order: Order,
        cursor: Option<Cursor>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let (mut clause, mut args) = q.clause();
        if let Some(c) = cursor {
            args.push(Value::Integer(c.ts_us));
            args.push(Value::Integer(c.rowid));
            let (a, b) = (args.len() - 1, args.len());
            clause.push_str(&match order {
                Order::NewestFirst => format!(" AND (ts_us, rowid) < (?{a}, ?{b})"),
                Order::OldestFirst => format!(" AND (ts_us, rowid) > (?{a}, ?{b})"),
            });
        }
        let dir = match order {
            Order::NewestFirst => "DESC",
            Order::OldestFirst => "ASC",
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM records WHERE 1 = 1{clause} ORDER BY ts_us {dir}, rowid {dir} LIMIT {}",
            limit + 1
        );
        let mut st = self.conn().prepare_cached(&sql).map_err(self.query_err())?;
        let mut rows = st
            .query_map(rusqlite::params_from_iter(args), row)
            .map_err(self.query_err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.query_err())?;
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| Cursor {
                ts_us: r.ts_us,
                rowid: r.rowid,
            })
        } else {
            None
        };
        Ok(Page { rows, next })
    }

    /// Records matching `q` stored after row `after` (the live tail), oldest first.
    pub fn tail_after(
        &self,
        q: &Query,
        after: i64,
        limit: u32,
    ) -> Result<Vec<RecordRow>, StoreError> {
        let (clause, mut args) = q.clause();
        args.push(Value::Integer(after));
        let sql = format!(
            "SELECT {COLUMNS} FROM records WHERE rowid > ?{}{clause} ORDER BY rowid LIMIT {}",
            args.len(),
            limit.clamp(1, MAX_PAGE)
        );
        let mut st = self.conn().prepare_cached(&sql).map_err(self.query_err())?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args), row)
            .map_err(self.query_err())?;
        rows.collect::<Result<_, _>>().map_err(self.query_err())
    }

    /// The record with this id.
    pub fn record(&self, id: &str) -> Result<Option<RecordRow>, StoreError> {
        use rusqlite::OptionalExtension;
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM records WHERE id = ?1"),
                [id],
                row,
            )
            .optional()
            .map_err(self.query_err())
    }

    /// Calls `f` for every record matching `q`, oldest first; stops when `f` returns false.
    pub fn for_each(
        &self,
        q: &Query,
        mut f: impl FnMut(RecordRow) -> bool,
    ) -> Result<(), StoreError> {
        let (clause, args) = q.clause();
        let sql =
            format!("SELECT {COLUMNS} FROM records WHERE 1 = 1{clause} ORDER BY ts_us, rowid");
        let mut st = self.conn().prepare(&sql).map_err(self.query_err())?;
        let mut rows = st
            .query(rusqlite::params_from_iter(args))
            .map_err(self.query_err())?;
        while let Some(r) = rows.next().map_err(self.query_err())? {
            if !f(row(r).map_err(self.query_err())?) {
                break;
            }
        }
        Ok(())
    }

    /// Sessions that started in `q`'s time range (newest first), one page after `cursor`.
    /// A session is found by its first record (`session_start`, or the first message of a
    /// session whose start was not recorded is not listed).
    pub fn sessions(
        &self,
        q: &Query,
        cursor: Option<Cursor>,
        limit: u32,
    ) -> Result<(Vec<SessionSummary>, Option<Cursor>), StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut starts = Query {
            since_us: q.since_us,
            until_us: q.until_us,
            server: q.server.clone(),
            principal: q.principal.clone(),
            session: q.session.clone(),
            kind: Some("event".into()),
            ..Query::default()
        };
        starts.direction = None;
        let (mut clause, mut args) = starts.clause();
        if let Some(c) = cursor {
            args.push(Value::Integer(c.ts_us));
            args.push(Value::Integer(c.rowid));
            clause.push_str(&format!(
                " AND (ts_us, rowid) < (?{}, ?{})",
                args.len() - 1,
                args.len()
            ));
        }
        let sql = format!(
            "SELECT rowid, ts_us, session, server, principal FROM records WHERE 1 = 1{clause} \
             AND method IS NULL AND instr(leaf, '\"event\":\"session_start\"') > 0 \
             ORDER BY ts_us DESC, rowid DESC LIMIT {}",
            limit + 1
        );
        let mut st = self.conn().prepare_cached(&sql).map_err(self.query_err())?;
        type Start = (i64, i64, String, Option<String>, Option<String>);
        let mut found: Vec<Start> = st
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(self.query_err())?
            .collect::<Result<_, _>>()
            .map_err(self.query_err())?;
        let next = if found.len() > limit as usize {
            found.truncate(limit as usize);
            found.last().map(|s| Cursor {
                ts_us: s.1,
                rowid: s.0,
            })
        } else {
            None
        };
        let mut out = Vec::with_capacity(found.len());
        for (_, ts, session, server, principal) in found {
            let mut s = self.session_summary(&session)?.unwrap_or(SessionSummary {
                session: session.clone(),
                started_us: ts,
                last_us: ts,
                records: 0,
                calls: 0,
                problems: 0,
                server: None,
                principal: None,
                agent: None,
            });
            s.server = s.server.or(server);
            s.principal = s.principal.or(principal);
            out.push(s);
        }
        Ok((out, next))
    }

    /// The summary of one session, or `None` if it has no records.
    pub fn session_summary(&self, session: &str) -> Result<Option<SessionSummary>, StoreError> {
        let sql = format!(
            "SELECT COUNT(*), MIN(ts_us), MAX(ts_us),
                    SUM(CASE WHEN method = 'tools/call' AND {CLOSED} THEN 1 ELSE 0 END),
                    SUM(CASE WHEN {CLOSED} AND outcome != 'ok' THEN 1 ELSE 0 END),
                    MAX(server), MAX(principal), MAX(agent)
             FROM records WHERE session = ?1"
        );
        let mut st = self.conn().prepare_cached(&sql).map_err(self.query_err())?;
        let s = st
            .query_row([session], |r| {
                let n: i64 = r.get(0)?;
                Ok((n > 0).then(|| -> rusqlite::Result<SessionSummary> {
                    Ok(SessionSummary {
                        session: session.to_owned(),
                        started_us: r.get(1)?,
                        last_us: r.get(2)?,
                        records: n as u64,
                        calls: r.get::<_, Option<i64>>(3)?.unwrap_or(0) as u64,
                        problems: r.get::<_, Option<i64>>(4)?.unwrap_or(0) as u64,
                        server: r.get(5)?,
                        principal: r.get(6)?,
                        agent: r.get(7)?,
                    })
                }))
            })
            .map_err(self.query_err())?;
        s.transpose().map_err(self.query_err())
    }

    /// Tool-call statistics from `since_us` to `until_us`, optionally for one server.
    pub fn stats(
        &self,
        since_us: i64,
        until_us: i64,
        server: Option<&str>,
    ) -> Result<Stats, StoreError> {
        let mut sql = format!(
            "SELECT target, outcome, duration_us, principal FROM records INDEXED BY records_closed
             WHERE {CLOSED} AND ts_us >= ?1 AND ts_us < ?2 AND method = 'tools/call'"
        );
        let mut args = vec![Value::Integer(since_us), Value::Integer(until_us)];
        if let Some(s) = server {
            sql.push_str(" AND server = ?3");
            args.push(Value::Text(s.to_owned()));
        }
        let mut st = self.conn().prepare_cached(&sql).map_err(self.query_err())?;
        let mut rows = st
            .query(rusqlite::params_from_iter(args))
            .map_err(self.query_err())?;
        let mut all = Acc::default();
        let mut tools = Names::default();
        let mut principals = Names::default();
        // Counts by position in OUTCOMES; anything else in the last slot.
        let mut by_outcome = [0u64; OUTCOMES.len() + 1];
        let e = self.query_err();
        while let Some(r) = rows.next().map_err(&e)? {
            let target = r.get_ref(0).map_err(&e)?.as_str_or_null().ok().flatten();
            let outcome = r.get_ref(1).map_err(&e)?.as_str().unwrap_or("ok");
            let duration: Option<i64> = r.get(2).map_err(&e)?;
            let principal = r.get_ref(3).map_err(&e)?.as_str_or_null().ok().flatten();
            let how = ended(outcome);
            // Latency is the server's: refused calls never reached it.
            let answered = answered(outcome).then_some(duration).flatten();
            all.add(how, answered);
            add_to(&mut tools, target.unwrap_or("(unnamed)"), how, answered);
            add_to(
                &mut principals,
                principal.unwrap_or("(unknown)"),
                how,
                answered,
            );
            let slot = OUTCOMES
                .iter()
                .position(|o| *o == outcome)
                .unwrap_or(OUTCOMES.len());
            by_outcome[slot] += 1;
        }
        let count = |k: &str| {
            OUTCOMES
                .iter()
                .position(|o| *o == k)
                .map_or(0, |i| by_outcome[i])
        };
        let mut stats = Stats {
            since_us,
            until_us,
            server: server.map(str::to_owned),
            policy_blocks: count("denied") + count("approval_required"),
            rate_limit_hits: count("rate_limited"),
            budget_exceeded: count("budget_exceeded"),
            ..Stats::default()
        };
        let total = all.b.invocations;
        let all = all.finish(String::new());
        stats.total_invocations = total;
        stats.successes = count("ok");
        stats.errors = all.errors;
        if total > 0 {
            let pct = |n: u64| (n as f64 * 10000.0 / total as f64).round() / 100.0;
            stats.success_rate = Some(pct(stats.successes));
            stats.error_rate = Some(pct(stats.errors));
        }
        stats.avg_latency_ms = all.avg_latency_ms;
        stats.p95_latency_ms = all.p95_latency_ms;
        stats.by_outcome = OUTCOMES
            .iter()
            .zip(by_outcome)
            .filter(|(_, n)| *n > 0)
            .map(|(o, n)| (o.to_string(), n))
            .collect();
        if by_outcome[OUTCOMES.len()] > 0 {
            stats
                .by_outcome
                .insert("other".into(), by_outcome[OUTCOMES.len()]);
        }
        let rank = |m: Names| {
            let mut v: Vec<Breakdown> = m.into_iter().map(|(k, a)| a.finish(k)).collect();
            v.sort_by(|a, b| b.invocations.cmp(&a.invocations).then(a.name.cmp(&b.name)));
            v
        };
        stats.by_tool = rank(tools);
        stats.by_principal = rank(principals);
        Ok(stats)
    }

    /// Each log with its record count, last checkpoint and key fingerprint (no re-hashing).
    pub fn log_heads(&self) -> Result<Vec<LogHead>, StoreError> {
        let logs = self.logs()?;
        let mut out = Vec::with_capacity(logs.len());
        let mut count = self
            .conn()
            .prepare_cached("SELECT COALESCE(MAX(seq) + 1, 0) FROM records WHERE log_id = ?1")
            .map_err(self.query_err())?;
        let mut last = self
            .conn()
            .prepare_cached(
                "SELECT size, ts_us FROM checkpoints WHERE log_id = ?1 ORDER BY size DESC LIMIT 1",
            )
            .map_err(self.query_err())?;
        for l in logs {
            use rusqlite::OptionalExtension;
            let records: i64 = count
                .query_row([&l.log_id], |r| r.get(0))
                .map_err(self.query_err())?;
            let cp: Option<(i64, i64)> = last
                .query_row([&l.log_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(self.query_err())?;
            out.push(LogHead {
                key_fingerprint: key_fingerprint(&l.vkey),
                log_id: l.log_id,
                origin: l.origin,
                instance: l.instance,
                created_us: l.created_us,
                records: records as u64,
                last_checkpoint_size: cp.map(|c| c.0 as u64),
                last_checkpoint_us: cp.map(|c| c.1),
                vkey: l.vkey,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for c in [
            Cursor {
                ts_us: 1_763_000_000_000_000,
                rowid: 1,
            },
            Cursor { ts_us: 0, rowid: 0 },
            Cursor {
                ts_us: 5,
                rowid: i64::MAX,
            },
        ] {
            assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
        for bad in ["", "x", "1.", ".1", "1.2.3", "zz!.1", "../etc"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_decodes_to_a_cursor_or_none_without_panicking(s in ".{0,40}") {
            let _decoded = Cursor::decode(&s);
        }

        #[test]
        fn every_cursor_round_trips(ts in 0i64.., rowid in 0i64..) {
            let c = Cursor { ts_us: ts, rowid };
            proptest::prop_assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let mut v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&mut v, 95.0), Some(95));
        assert_eq!(percentile(&mut [7], 95.0), Some(7));
        assert_eq!(percentile(&mut [], 95.0), None);
    }
}
