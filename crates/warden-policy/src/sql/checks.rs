//! The checks of an `sql` condition on one parsed statement: what is a read, which tables a
//! statement names, whether an UPDATE or DELETE has a WHERE, and the bound a LIMIT puts on a
//! read. Walks the parser's tree with its visitor; never looks at the SQL as text.
//!
//! # Table references
//!
//! In a query, INSERT, UPDATE, DELETE, MERGE or EXPLAIN of one, a reference is every table
//! name in the tree: FROM, JOIN, subqueries at any depth, CTE bodies, set-operation branches,
//! INSERT targets and sources, UPDATE ... FROM, DELETE ... USING, `TABLE t`, `SELECT ... INTO
//! t`. A CTE named like a blocked table is referenced by that name, so it counts (a CTE
//! cannot be told from the table it shadows without knowing the schema). In any other
//! statement (DDL, COPY, GRANT, PRAGMA, SHOW, ...), where the parser's tree has no single
//! notion of "table", every dotted identifier chain in the whole input counts, wherever the
//! table name appears in it: a column named like a blocked table is refused there too.
//! Identifiers in string literals and comments are never references.

use std::ops::ControlFlow;

use sqlparser::ast::{
    self, Expr, ObjectName, ObjectNamePart, Query, Select, SetExpr, Value, Visit, Visitor,
};
use sqlparser::tokenizer::Token;

use super::{Blocked, SqlRules};

/// The dotted identifier chains of an input's tokens (`users.credentials` is one chain of two
/// parts), for statements judged by their tokens. Strings and comments are not words.
pub(super) struct Words(Vec<Vec<String>>);

impl Words {
    pub(super) fn new<'t>(tokens: impl Iterator<Item = &'t Token>) -> Words {
        let mut chains: Vec<Vec<String>> = Vec::new();
        let mut after_period = false;
        let mut in_chain = false;
        for t in tokens {
            match t {
                Token::Whitespace(_) => continue,
                Token::Word(w) => {
                    match chains.last_mut() {
                        Some(last) if in_chain && after_period => last.push(w.value.clone()),
                        _ => chains.push(vec![w.value.clone()]),
                    }
                    in_chain = true;
                    after_period = false;
                }
                Token::Period => after_period = in_chain,
                _ => {
                    in_chain = false;
                    after_period = false;
                }
            }
        }
        Words(chains)
    }

    /// The first blocked table some chain names, the table's name anywhere in the chain.
    fn blocked<'b>(&self, blocked: &'b [Blocked]) -> Option<&'b Blocked> {
        blocked.iter().find(|b| {
            let table = b.parts.last().map(String::as_str).unwrap_or_default();
            self.0.iter().any(|chain| {
                (0..chain.len())
                    .filter(|&j| chain[j].to_lowercase() == table)
                    .any(|j| b.named_by(&chain[..=j]))
            })
        })
    }
}

/// One statement to judge, with the words of the input it came from.
pub(super) struct Statement<'a> {
    pub(super) st: &'a ast::Statement,
    pub(super) words: &'a Words,
}

impl Statement<'_> {
    /// `Err(why)` naming every check the statement breaks (`; ` between them), blocked
    /// tables first.
    pub(super) fn judge(&self, rules: &SqlRules) -> Result<(), String> {
        let mut broken = Vec::new();
        if !rules.blocked.is_empty()
            && let Err(w) = self.tables(&rules.blocked)
        {
            broken.push(w);
        }
        if rules.read_only
            && let Err(w) = read_only(self.st)
        {
            broken.push(format!("{w} (read_only)"));
        }
        if rules.require_where
            && let Err(w) = where_clause(self.st)
        {
            broken.push(format!("{w} (require_where_clause)"));
        }
        if let Some(max) = rules.max_rows
            && let Err(w) = max_rows(self.st, max)
        {
            broken.push(format!("{w} (max_rows {max})"));
        }
        match broken.is_empty() {
            true => Ok(()),
            false => Err(broken.join("; ")),
        }
    }

    fn tables(&self, blocked: &[Blocked]) -> Result<(), String> {
        let mut refs = Refs {
            blocked,
            opaque: false,
        };
        let hit = match self.st.visit(&mut refs) {
            ControlFlow::Break(b) => Some(b),
            ControlFlow::Continue(()) if refs.opaque => self.words.blocked(blocked),
            ControlFlow::Continue(()) => None,
        };
        match hit {
            Some(b) => Err(format!("blocked table {} referenced", b.show())),
            None => Ok(()),
        }
    }
}

/// The statements whose table references the tree names precisely.
fn understood(st: &ast::Statement) -> bool {
    use ast::Statement as S;
    matches!(
        st,
        S::Query(_)
            | S::Insert(_)
            | S::Update(_)
            | S::Delete(_)
            | S::Merge(_)
            | S::Explain { .. }
            | S::ExplainTable { .. }
    )
}

/// Finds the first blocked table a statement's tree names.
struct Refs<'b> {
    blocked: &'b [Blocked],
    /// Some statement (or a name) is not understood: judge the input's words instead.
    opaque: bool,
}

impl<'b> Refs<'b> {
    fn name<S: AsRef<str>>(&self, parts: &[S]) -> ControlFlow<&'b Blocked> {
        match self.blocked.iter().find(|b| b.named_by(parts)) {
            Some(b) => ControlFlow::Break(b),
            None => ControlFlow::Continue(()),
        }
    }

    fn set_expr(&self, body: &SetExpr) -> ControlFlow<&'b Blocked> {
        match body {
            SetExpr::Table(t) => {
                let parts: Vec<&str> = [&t.schema_name, &t.table_name]
                    .into_iter()
                    .flatten()
                    .map(|i| i.value.as_str())
                    .collect();
                self.name(&parts)
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left)?;
                self.set_expr(right)
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

impl<'b> Visitor for Refs<'b> {
    type Break = &'b Blocked;

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<&'b Blocked> {
        let mut parts = Vec::with_capacity(relation.0.len());
        for p in &relation.0 {
            match p {
                ObjectNamePart::Identifier(i) => parts.push(i.value.as_str()),
                ObjectNamePart::Function(_) => {
                    self.opaque = true;
                    return ControlFlow::Continue(());
                }
            }
        }
        self.name(&parts)
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<&'b Blocked> {
        self.set_expr(&query.body)
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<&'b Blocked> {
        for target in select.into.iter().flat_map(|i| &i.targets) {
            match target {
                Expr::Identifier(i) => self.name(&[i.value.as_str()])?,
                Expr::CompoundIdentifier(ids) => {
                    let parts: Vec<&str> = ids.iter().map(|i| i.value.as_str()).collect();
                    self.name(&parts)?;
                }
                _ => self.opaque = true,
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, st: &ast::Statement) -> ControlFlow<&'b Blocked> {
        if !understood(st) {
            self.opaque = true;
        }
        // SQLite names the table of `PRAGMA table_info('t')` with a string.
        if let ast::Statement::Pragma { value: Some(v), .. } = st
            && let Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) = &v.value
        {
            return self.name(&[s.as_str()]);
        }
        ControlFlow::Continue(())
    }
}

/// The statement's first keyword, for messages (`DROP`, `PRAGMA`).
fn keyword(st: &ast::Statement) -> String {
    let text = st.to_string();
    text.split_whitespace()
        .next()
        .unwrap_or("the statement")
        .to_ascii_uppercase()
}

/// SQLite pragmas that only report (with or without an argument naming what to report on).
const READ_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
    "database_list",
    "collation_list",
    "function_list",
    "module_list",
    "pragma_list",
    "compile_options",
];

/// `Ok` if the statement only reads.
fn read_only(st: &ast::Statement) -> Result<(), String> {
    use ast::Statement as S;
    match st {
        S::Query(_) => {}
        S::Explain {
            analyze,
            statement,
            options,
            ..
        } => {
            // Any ANALYZE option counts, whatever its value: EXPLAIN ANALYZE runs the statement.
            let analyze = *analyze
                || options
                    .iter()
                    .flatten()
                    .any(|o| o.name.value.eq_ignore_ascii_case("analyze"));
            return match analyze {
                true => read_only(statement).map_err(|w| format!("EXPLAIN ANALYZE runs it: {w}")),
                false => Ok(()),
            };
        }
        S::ExplainTable { .. }
        | S::ShowFunctions { .. }
        | S::ShowVariable { .. }
        | S::ShowStatus { .. }
        | S::ShowVariables { .. }
        | S::ShowCreate { .. }
        | S::ShowColumns { .. }
        | S::ShowCatalogs { .. }
        | S::ShowDatabases { .. }
        | S::ShowProcessList { .. }
        | S::ShowSchemas { .. }
        | S::ShowCharset(_)
        | S::ShowObjects(_)
        | S::ShowTables { .. }
        | S::ShowViews { .. }
        | S::ShowCollation { .. } => return Ok(()),
        S::Pragma { name, is_eq, .. } => {
            let last = name
                .0
                .last()
                .and_then(ObjectNamePart::as_ident)
                .map(|i| i.value.to_ascii_lowercase());
            return match last {
                Some(p) if !is_eq && READ_PRAGMAS.contains(&p.as_str()) => Ok(()),
                _ => Err(format!("PRAGMA {name} is not a read")),
            };
        }
        other => return Err(format!("{} is not a read", keyword(other))),
    }
    match st.visit(&mut Writes { depth: 0 }) {
        ControlFlow::Break(why) => Err(why),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Finds a write inside a query: a data-modifying statement (a CTE's DELETE), `SELECT ...
/// INTO`, or row locks (`FOR UPDATE`, refused in a read-only transaction too).
struct Writes {
    depth: usize,
}

impl Visitor for Writes {
    type Break = String;

    fn pre_visit_statement(&mut self, st: &ast::Statement) -> ControlFlow<String> {
        self.depth += 1;
        if self.depth > 1 && !matches!(st, ast::Statement::Query(_)) {
            return ControlFlow::Break(format!(
                "the query holds a data-modifying {}: not a read",
                keyword(st)
            ));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, _: &ast::Statement) -> ControlFlow<String> {
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        if !query.locks.is_empty() {
            return ControlFlow::Break("SELECT ... FOR UPDATE/SHARE locks rows: not a read".into());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<String> {
        if select.into.is_some() {
            return ControlFlow::Break("SELECT ... INTO writes: not a read".into());
        }
        ControlFlow::Continue(())
    }
}

/// `Ok` if every UPDATE and DELETE in the statement has a WHERE (TRUNCATE never does).
fn where_clause(st: &ast::Statement) -> Result<(), String> {
    if let ast::Statement::Explain {
        analyze: false,
        options: None,
        ..
    } = st
    {
        return Ok(()); // not run
    }
    struct Wheres;
    impl Visitor for Wheres {
        type Break = String;
        fn pre_visit_statement(&mut self, st: &ast::Statement) -> ControlFlow<String> {
            use ast::Statement as S;
            match st {
                S::Update(u) if u.selection.is_none() => {
                    ControlFlow::Break("UPDATE without a WHERE clause".into())
                }
                S::Delete(d) if d.selection.is_none() => {
                    ControlFlow::Break("DELETE without a WHERE clause".into())
                }
                S::Truncate(_) => {
                    ControlFlow::Break("TRUNCATE removes every row (no WHERE clause)".into())
                }
                _ => ControlFlow::Continue(()),
            }
        }
    }
    match st.visit(&mut Wheres) {
        ControlFlow::Break(why) => Err(why),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// `Ok` if a query's outermost LIMIT (or FETCH FIRST) bounds it to `max` rows. Statements
/// that are not queries return no table rows, except through RETURNING.
fn max_rows(st: &ast::Statement, max: u64) -> Result<(), String> {
    use ast::Statement as S;
    let returning = match st {
        S::Query(q) => return query_rows(q, max),
        S::Insert(i) => i.returning.is_some(),
        S::Update(u) => u.returning.is_some(),
        S::Delete(d) => d.returning.is_some(),
        _ => false,
    };
    match returning {
        true => Err(format!(
            "{} ... RETURNING returns rows without a LIMIT",
            keyword(st)
        )),
        false => Ok(()),
    }
}

fn query_rows(q: &Query, max: u64) -> Result<(), String> {
    if !q.pipe_operators.is_empty() {
        return Err("a query in pipe syntax is not judged for its rows".into());
    }
    let bounds = bounds(q);
    if bounds.iter().any(|b| matches!(b, Ok(n) if *n <= max)) {
        return Ok(());
    }
    if let Some(Ok(n)) = bounds.iter().find(|b| b.is_ok()) {
        return Err(format!("LIMIT {n} is more than {max} rows"));
    }
    if let Some(Err(why)) = bounds.into_iter().next() {
        return Err(why);
    }
    // `(SELECT ... LIMIT 5)`: the parenthesized query is the outermost one that limits.
    match &*q.body {
        SetExpr::Query(inner) if q.with.is_none() && q.order_by.is_none() => query_rows(inner, max),
        _ => Err("a read without a LIMIT".into()),
    }
}

/// Every bound a query's LIMIT and FETCH clauses put on its rows (or why one is no bound).
fn bounds(q: &Query) -> Vec<Result<u64, String>> {
    let mut out = Vec::new();
    match &q.limit_clause {
        None => {}
        Some(ast::LimitClause::LimitOffset {
            limit, limit_by, ..
        }) => out.push(match limit {
            _ if !limit_by.is_empty() => {
                Err("LIMIT ... BY limits rows per group, not in all".into())
            }
            None => Err("LIMIT ALL is no limit".into()),
            Some(e) => literal(e),
        }),
        Some(ast::LimitClause::OffsetCommaLimit { limit, .. }) => out.push(literal(limit)),
    }
    if let Some(f) = &q.fetch {
        out.push(match &f.quantity {
            _ if f.percent => Err("FETCH ... PERCENT is no fixed number of rows".into()),
            _ if f.with_ties => Err("FETCH ... WITH TIES may return more rows".into()),
            None => Ok(1),
            Some(e) => literal(e),
        });
    }
    out
}

/// A LIMIT that is a whole number written out (`LIMIT 10`, `LIMIT (10)`).
fn literal(e: &Expr) -> Result<u64, String> {
    match e {
        Expr::Nested(inner) => literal(inner),
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n
                .parse::<u64>()
                .map_err(|_| format!("LIMIT {n} is not a whole number of rows")),
            other => Err(format!("LIMIT {other} is not a literal number")),
        },
        other => Err(format!("LIMIT {other} is not a literal number")),
    }
}
