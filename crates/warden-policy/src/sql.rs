//! SQL constraints (`sql` conditions): which argument holds the SQL, which checks apply
//! (`read_only`, `blocked_tables`, `require_where_clause`, `max_rows`), and the verdict on a
//! query, parsed by a real SQL parser (`sqlparser`), never matched with patterns. Pure: no I/O.
//!
//! Everything fails closed: SQL that does not parse, an empty or non-string argument, a call
//! without the argument, input with no statement at all, or a query one of the dialects
//! reads differently is a broken constraint, with a message saying why.
//!
//! # Dialects
//!
//! `dialect: postgres | sqlite | mysql | generic` parses with that dialect only. With no
//! `dialect` (or `any`), the query must parse and pass under **each** of the four: databases
//! disagree on where a string or a comment ends (`'\'` closes a string in PostgreSQL, not in
//! MySQL; `/* /* */ */` nests in PostgreSQL, not in SQLite), and a query read one way by warden
//! and another by the database could hide a statement. Checking every reading closes that, at
//! the price of refusing syntax only some databases accept: name the dialect to accept it.
//!
//! # Depth
//!
//! Parsing recurses (sqlparser's recursion limit, [`RECURSION_LIMIT`], and its stack growth
//! on the heap guard it), and so do walking and dropping the tree it builds. Before parsing,
//! the tokens are measured ([`shape`]): brackets nested deeper than [`MAX_NESTING`], or an
//! expression longer than [`MAX_PATH`] tokens without a comma, is refused unparsed.
//!
//! The per-statement checks are in [`checks`].

mod checks;

use serde_json::Value;
use sqlparser::dialect::{Dialect, GenericDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::condition::ArgPath;

/// How deep the parser may recurse (sqlparser's own default is 50). A query nested deeper
/// does not parse, so it is refused rather than walked.
const RECURSION_LIMIT: usize = 50;

/// Brackets may nest this deep before the query is refused unparsed: the parser's recursion
/// limit does not count every kind of nesting, and nothing here may recurse without bound.
const MAX_NESTING: usize = 64;

/// The longest path of tokens (see [`shape`]) a query may have: it bounds how deep the
/// parsed tree can be, so walking and dropping it cannot exhaust a thread's stack.
const MAX_PATH: usize = 2000;

/// The arguments a query is looked for in, in order, when `arg` is not written.
const DEFAULT_ARGS: &[&str] = &["sql", "query"];

/// The keys an `sql` condition's body may have (with `type` in the seed form).
const KEYS: &[&str] = &[
    "type",
    "arg",
    "dialect",
    "read_only",
    "blocked_tables",
    "require_where_clause",
    "max_rows",
    "not",
];

/// A SQL dialect warden can parse with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqlDialect {
    Postgres,
    Sqlite,
    MySql,
    Generic,
}

impl SqlDialect {
    const ALL: [SqlDialect; 4] = [
        SqlDialect::Postgres,
        SqlDialect::Sqlite,
        SqlDialect::MySql,
        SqlDialect::Generic,
    ];

    fn name(self) -> &'static str {
        match self {
            SqlDialect::Postgres => "PostgreSQL",
            SqlDialect::Sqlite => "SQLite",
            SqlDialect::MySql => "MySQL",
            SqlDialect::Generic => "generic SQL",
        }
    }

    fn parser(self) -> Box<dyn Dialect> {
        match self {
            SqlDialect::Postgres => Box::new(PostgreSqlDialect {}),
            SqlDialect::Sqlite => Box::new(SQLiteDialect {}),
            SqlDialect::MySql => Box::new(MySqlDialect {}),
            SqlDialect::Generic => Box::new(GenericDialect {}),
        }
    }
}

/// A blocked table: its name's parts (`[users, credentials]`), lowercased.
#[derive(Debug, Clone)]
pub(crate) struct Blocked {
    parts: Vec<String>,
}

impl Blocked {
    /// Whether `name` (a reference's parts, any case) names this table: the parts present on
    /// both sides agree from the right. `credentials` and `app.users.credentials` name
    /// `users.credentials`; `billing.credentials` does not.
    fn named_by<S: AsRef<str>>(&self, name: &[S]) -> bool {
        !name.is_empty()
            && self
                .parts
                .iter()
                .rev()
                .zip(name.iter().rev())
                .all(|(b, n)| *b == n.as_ref().to_lowercase())
    }

    fn show(&self) -> String {
        self.parts.join(".")
    }
}

/// A compiled `sql` condition.
#[derive(Debug)]
pub(crate) struct SqlRules {
    /// The argument holding the SQL; `None`: the first of [`DEFAULT_ARGS`] present.
    arg: Option<(ArgPath, String)>,
    /// `None`: every dialect must accept the query.
    dialect: Option<SqlDialect>,
    read_only: bool,
    blocked: Vec<Blocked>,
    require_where: bool,
    max_rows: Option<u64>,
    /// A call with no arguments at all breaks the constraints (the guide's form, whose rule
    /// only denies) instead of leaving the condition unjudged.
    pub(crate) absent_breaks: bool,
}

fn flag(body: &Value, key: &str) -> Result<bool, String> {
    body.get(key)
        .map(|v| v.as_bool().ok_or(format!("`{key}` is true or false")))
        .transpose()
        .map(|b| b.unwrap_or(false))
}

/// Reads `{arg?, dialect?, read_only?, blocked_tables?, require_where_clause?, max_rows?}`.
pub(crate) fn rules(body: &Value) -> Result<SqlRules, String> {
    let obj = body.as_object().ok_or(
        "sql takes a mapping of checks: read_only, blocked_tables, require_where_clause, max_rows",
    )?;
    if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "sql has an unknown check {k:?} (known: arg, dialect, read_only, blocked_tables, require_where_clause, max_rows)"
        ));
    }
    let arg = match obj.get("arg") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() => Some((ArgPath::parse(s), s.clone())),
        Some(_) => {
            return Err(
                "`arg` names the argument holding the SQL (a name or a JSON pointer)".into(),
            );
        }
    };
    let dialect = match obj
        .get("dialect")
        .map(|d| d.as_str().map(str::to_ascii_lowercase))
    {
        None => None,
        Some(Some(d)) => match d.as_str() {
            "any" => None,
            "postgres" | "postgresql" => Some(SqlDialect::Postgres),
            "sqlite" => Some(SqlDialect::Sqlite),
            "mysql" | "mariadb" => Some(SqlDialect::MySql),
            "generic" => Some(SqlDialect::Generic),
            other => {
                return Err(format!(
                    "dialect {other:?} is not one of postgres, sqlite, mysql, generic, any"
                ));
            }
        },
        Some(None) => {
            return Err("`dialect` is one of postgres, sqlite, mysql, generic, any".into());
        }
    };
    let blocked = match obj.get("blocked_tables") {
        None => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|t| {
                let s = t.as_str().ok_or("`blocked_tables` holds table names")?;
                let parts: Vec<String> = s.split('.').map(|p| p.trim().to_lowercase()).collect();
                if parts.iter().any(String::is_empty) {
                    return Err(format!(
                        "blocked table {s:?} is not like table or schema.table"
                    ));
                }
                Ok(Blocked { parts })
            })
            .collect::<Result<_, String>>()?,
        Some(_) => {
            return Err(
                "`blocked_tables` is a list of table names, like [users.credentials]".into(),
            );
        }
    };
    let max_rows = match obj.get("max_rows") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(0) => {
                return Err(
                    "`max_rows` of 0 would refuse every read: use read_only or a deny rule".into(),
                );
            }
            Some(n) => Some(n),
            None => return Err("`max_rows` is a whole number of rows, at least 1".into()),
        },
    };
    Ok(SqlRules {
        arg,
        dialect,
        read_only: flag(body, "read_only")?,
        blocked,
        require_where: flag(body, "require_where_clause")?,
        max_rows,
        absent_breaks: false,
    })
}

impl SqlRules {
    /// The row limit (`max_rows`), if written.
    pub(crate) fn max_rows(&self) -> Option<u64> {
        self.max_rows
    }

    /// True if some table is blocked.
    pub(crate) fn blocks_tables(&self) -> bool {
        !self.blocked.is_empty()
    }
}

impl SqlRules {
    /// The verdict on a call: `None` when the call has no arguments at all (nothing to judge,
    /// as for every argument condition), `Some(Err(why))` when a constraint is broken.
    pub(crate) fn judge(&self, arguments: Option<&Value>) -> Option<Result<(), String>> {
        let root = match arguments {
            Some(r) => r,
            None if self.absent_breaks => {
                return Some(Err("the call has no arguments holding SQL".into()));
            }
            None => return None,
        };
        let (value, name) = match &self.arg {
            Some((path, name)) => (crate::path_cond::lookup(path, root), name.as_str()),
            None => DEFAULT_ARGS
                .iter()
                .find_map(|n| root.get(*n).map(|v| (Some(v), *n)))
                .unwrap_or((None, "sql")),
        };
        Some(match value {
            None if self.arg.is_some() => {
                Err(format!("the call has no argument `{name}` holding SQL"))
            }
            None => Err("the call has no `sql` or `query` argument holding SQL".into()),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(format!("argument `{name}` is empty"))
            }
            Some(Value::String(s)) => self.check(s),
            Some(_) => Err(format!("argument `{name}` is not a string of SQL")),
        })
    }

    /// Checks one query text under the configured dialect (or every dialect). Without a
    /// dialect, a parse error names the dialect that failed, and so does a finding when an
    /// earlier dialect found nothing (they read the query differently).
    pub(crate) fn check(&self, sql: &str) -> Result<(), String> {
        match self.dialect {
            Some(d) => self.check_as(sql, d, false, false),
            None => SqlDialect::ALL
                .iter()
                .enumerate()
                .try_for_each(|(i, d)| self.check_as(sql, *d, true, i > 0)),
        }
    }

    fn check_as(
        &self,
        sql: &str,
        dialect: SqlDialect,
        name_on_parse: bool,
        name_on_finding: bool,
    ) -> Result<(), String> {
        let read_as = |named: bool| match named {
            true => format!(" (read as {})", dialect.name()),
            false => String::new(),
        };
        let as_what = read_as(name_on_parse);
        let d = dialect.parser();
        let tokens = Tokenizer::new(d.as_ref(), sql)
            .tokenize_with_location()
            .map_err(|e| format!("the SQL does not parse{as_what}: {e}"))?;
        let (nest, path) = shape(tokens.iter().map(|t| &t.token));
        if nest > MAX_NESTING {
            return Err(format!(
                "the SQL is not judged{as_what}: brackets nest deeper than {MAX_NESTING}"
            ));
        }
        if path > MAX_PATH {
            return Err(format!(
                "the SQL is not judged{as_what}: an expression runs longer than {MAX_PATH} tokens without a comma"
            ));
        }
        let words = checks::Words::new(tokens.iter().map(|t| &t.token));
        let statements = Parser::new(d.as_ref())
            .with_recursion_limit(RECURSION_LIMIT)
            .with_tokens_with_locations(tokens)
            .parse_statements()
            .map_err(|e| format!("the SQL does not parse{as_what}: {e}"))?;
        if statements.is_empty() {
            return Err(format!("the SQL holds no statement{as_what}"));
        }
        let many = statements.len() > 1;
        for (i, st) in statements.iter().enumerate() {
            let which = if many {
                format!("statement {} of {}: ", i + 1, statements.len())
            } else {
                String::new()
            };
            let judged = checks::Statement { st, words: &words };
            judged
                .judge(self)
                .map_err(|why| format!("{which}{why}{}", read_as(name_on_finding)))?;
        }
        Ok(())
    }
}

/// How a token stream nests: the deepest bracket nesting, and the longest path of tokens from
/// the start of a statement down to any token, counting at each bracket level the tokens
/// (a bracketed group as one) since the last comma or semicolon at that level. The parser
/// builds long chains (`1+1+...`, `a AND b AND ...`, `x UNION y UNION ...`, `NOT NOT ...`) as
/// trees as deep as they are long, and walking or dropping such a tree recurses: the path
/// length bounds its depth before anything is parsed. Lists (`a, b, c`) are flat and cost
/// nothing.
fn shape<'t>(tokens: impl Iterator<Item = &'t Token>) -> (usize, usize) {
    let (mut nest, mut max_nest) = (0usize, 0usize);
    // Tokens in the current segment of each open level; `path` is their sum.
    let mut levels: Vec<usize> = vec![0];
    let (mut path, mut max_path) = (0usize, 0usize);
    for t in tokens {
        match t {
            Token::Whitespace(_) => continue,
            Token::Comma | Token::SemiColon => {
                let top = levels.last_mut().map(std::mem::take).unwrap_or(0);
                path -= top;
            }
            Token::LParen | Token::LBracket | Token::LBrace => {
                if let Some(top) = levels.last_mut() {
                    *top += 1;
                }
                path += 1;
                levels.push(0);
                nest += 1;
                max_nest = max_nest.max(nest);
            }
            Token::RParen | Token::RBracket | Token::RBrace => {
                if levels.len() > 1 {
                    path -= levels.pop().unwrap_or(0);
                }
                nest = nest.saturating_sub(1);
            }
            _ => {
                if let Some(top) = levels.last_mut() {
                    *top += 1;
                }
                path += 1;
            }
        }
        max_path = max_path.max(path);
    }
    (max_nest, max_path)
}

#[cfg(test)]
mod tests;
