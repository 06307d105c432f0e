//! Unit tests of the `sql` condition: reading its settings, and each check on the syntactic
//! forms a query can take.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{SqlRules, rules};

fn cond(body: Value) -> SqlRules {
    rules(&body).unwrap()
}

/// Every check at once, for one dialect (`None`: every dialect).
fn all(dialect: Option<&str>) -> SqlRules {
    let mut body = json!({
        "read_only": true,
        "blocked_tables": ["users.credentials", "billing.payment_methods"],
        "max_rows": 100,
        "require_where_clause": true,
    });
    if let Some(d) = dialect {
        body["dialect"] = json!(d);
    }
    cond(body)
}

fn blocked(dialect: &str) -> SqlRules {
    cond(
        json!({"blocked_tables": ["users.credentials", "billing.payment_methods"], "dialect": dialect}),
    )
}

#[track_caller]
fn denied(c: &SqlRules, sql: &str, why: &str) {
    match c.check(sql) {
        Ok(()) => panic!("{sql:?} passed, expected: {why}"),
        Err(e) => assert!(e.contains(why), "{sql:?}: {e:?} does not say {why:?}"),
    }
}

#[track_caller]
fn passes(c: &SqlRules, sql: &str) {
    if let Err(e) = c.check(sql) {
        panic!("{sql:?} refused: {e}");
    }
}

const CREDS: &str = "blocked table users.credentials referenced";

#[test]
fn blocked_tables_in_every_position() {
    let c = blocked("postgres");
    for sql in [
        "SELECT * FROM users.credentials",
        r#"SELECT * FROM "users"."credentials""#,
        r#"SELECT * FROM users."credentials""#,
        "select * from USERS.Credentials",
        "SELECT * FROM credentials",
        "SELECT * FROM app.users.credentials",
        "SELECT c.password FROM users.credentials AS c",
        "SELECT c.password FROM credentials c",
        "SELECT * FROM accounts a JOIN users.credentials c ON a.id = c.user_id",
        "SELECT * FROM accounts a LEFT OUTER JOIN credentials ON true",
        "SELECT * FROM accounts, credentials",
        "SELECT * FROM accounts CROSS JOIN LATERAL (SELECT * FROM credentials) x",
        "SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT password FROM credentials) a) b) c",
        "SELECT * FROM accounts WHERE id IN (SELECT user_id FROM users.credentials)",
        "SELECT * FROM accounts WHERE EXISTS (SELECT 1 FROM credentials WHERE true)",
        "SELECT (SELECT max(password) FROM credentials) AS p FROM accounts",
        "SELECT coalesce((SELECT count(*) FROM credentials), 0)",
        "WITH x AS (SELECT * FROM users.credentials) SELECT * FROM x",
        "WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT 1 FROM credentials) SELECT * FROM r",
        "WITH credentials AS (SELECT 1 AS a) SELECT * FROM credentials",
        "SELECT name FROM accounts UNION SELECT password FROM credentials",
        "SELECT name FROM accounts INTERSECT SELECT password FROM credentials",
        "(SELECT name FROM accounts) EXCEPT (SELECT password FROM credentials)",
        "SELECT * FROM accounts UNION TABLE credentials",
        "INSERT INTO stolen SELECT * FROM users.credentials",
        "INSERT INTO users.credentials (id) VALUES (1)",
        "UPDATE accounts SET pw = c.password FROM credentials c WHERE c.id = accounts.id",
        "UPDATE users.credentials SET password = 'x' WHERE id = 1",
        "DELETE FROM accounts USING credentials WHERE credentials.id = accounts.id",
        "DELETE FROM users.credentials WHERE id = 1",
        "MERGE INTO users.credentials c USING src s ON c.id = s.id WHEN MATCHED THEN DELETE",
        "SELECT * INTO users.credentials FROM accounts",
        "EXPLAIN SELECT * FROM credentials",
        "DROP TABLE users.credentials",
        "TRUNCATE credentials",
        "ALTER TABLE users.credentials ADD COLUMN x int",
        "COPY users.credentials TO STDOUT",
        "GRANT SELECT ON users.credentials TO bob",
        "CREATE VIEW v AS SELECT * FROM credentials",
        "CREATE TABLE copy AS SELECT * FROM users.credentials",
        "COMMENT ON TABLE users.credentials IS 'x'",
        "SELECT * FROM users/* a comment */./* another */credentials",
        "SELECT * FROM users . credentials",
        "SELECT * FROM accounts; SELECT * FROM credentials",
    ] {
        denied(&c, sql, CREDS);
    }
    denied(
        &c,
        "SELECT * FROM billing.Payment_Methods pm",
        "blocked table billing.payment_methods referenced",
    );
    denied(
        &blocked("mysql"),
        "SELECT * FROM `users`.`credentials`",
        CREDS,
    );
    denied(&blocked("mysql"), "SHOW COLUMNS FROM credentials", CREDS);
    denied(
        &blocked("sqlite"),
        "PRAGMA table_info('credentials')",
        CREDS,
    );
    denied(
        &blocked("sqlite"),
        "PRAGMA main.index_list(\"Credentials\")",
        CREDS,
    );
    denied(
        &blocked("sqlite"),
        "SELECT * FROM [users].[credentials]",
        CREDS,
    );
}

#[test]
fn what_is_not_a_reference() {
    let c = blocked("postgres");
    for sql in [
        "SELECT 'users.credentials' AS s",
        "SELECT * FROM notes WHERE body = 'SELECT * FROM credentials'",
        "SELECT * FROM notes WHERE body = $$DROP TABLE users.credentials$$",
        "SELECT 1 -- FROM users.credentials",
        "SELECT 1 /* FROM users.credentials */",
        "SELECT 1 /* nested /* FROM credentials */ still comment */",
        "SELECT * FROM billing.credentials",
        "SELECT * FROM credentials_archive",
        "SELECT * FROM users.credentials_old",
        "SELECT credentials FROM accounts",
        "SELECT a.credentials FROM accounts a",
        r#"SELECT * FROM "users.credentials""#,
    ] {
        passes(&c, sql);
    }
    // Outside a query, every identifier chain counts: a column named like the table is refused.
    denied(&c, "CREATE TABLE accounts (credentials text)", CREDS);
}

#[test]
fn read_only() {
    let pg = cond(json!({"read_only": true, "dialect": "postgres"}));
    for sql in [
        "SELECT 1",
        "  select\n\t*  FROM   t  ;  ",
        "VALUES (1), (2)",
        "WITH a AS (SELECT 1) SELECT * FROM a",
        "SELECT 1; SELECT 2;",
        "EXPLAIN SELECT * FROM t",
        "EXPLAIN DELETE FROM t",
        "EXPLAIN ANALYZE SELECT * FROM t",
        "SHOW search_path",
        "SELECT * FROM t WHERE s = 'DELETE FROM t'",
    ] {
        passes(&pg, sql);
    }
    let not_read = "not a read (read_only)";
    for sql in [
        "INSERT INTO t VALUES (1)",
        "UPDATE t SET a = 1 WHERE id = 2",
        "DELETE FROM t WHERE id = 2",
        "DROP TABLE t",
        "CREATE TABLE t (a int)",
        "ALTER TABLE t ADD COLUMN b int",
        "TRUNCATE t",
        "SET search_path = evil",
        "CALL do_things()",
        "COPY t FROM STDIN",
        "GRANT ALL ON t TO bob",
        "BEGIN",
        "SELECT * INTO newtable FROM t",
        "SELECT * FROM t FOR UPDATE",
        "SELECT * FROM t FOR SHARE",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM i",
        "WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM u",
        "EXPLAIN ANALYZE DELETE FROM t",
        "EXPLAIN (ANALYZE) DELETE FROM t",
        "EXPLAIN (ANALYZE false) DELETE FROM t",
        "WITH x AS (SELECT 1) DELETE FROM t WHERE a = 1",
        "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
        "WITH x AS (SELECT 1) UPDATE t SET a = 1 WHERE a = 2",
        "SELECT 1; COMMIT",
    ] {
        denied(&pg, sql, not_read);
    }
    denied(
        &pg,
        "SELECT 1; DROP TABLE x",
        "statement 2 of 2: DROP is not a read",
    );
    denied(
        &pg,
        "select 1;\n--\ndrop table x; select 2",
        "statement 2 of 3",
    );
    let lite = cond(json!({"read_only": true, "dialect": "sqlite"}));
    passes(&lite, "PRAGMA table_info('t')");
    passes(&lite, "PRAGMA integrity_check");
    passes(&lite, "EXPLAIN QUERY PLAN SELECT * FROM t");
    denied(
        &lite,
        "PRAGMA foreign_keys = 0",
        "PRAGMA foreign_keys is not a read",
    );
    denied(&lite, "PRAGMA wal_checkpoint", "not a read");
    denied(&lite, "ATTACH DATABASE 'x.db' AS x", not_read);
    denied(&lite, "VACUUM", not_read);
    denied(&lite, "REPLACE INTO t VALUES (1)", not_read);
    let my = cond(json!({"read_only": true, "dialect": "mysql"}));
    passes(&my, "SHOW TABLES");
    passes(&my, "DESCRIBE t");
    // Not understood by the parser: refused all the same.
    denied(
        &my,
        "SELECT * FROM t INTO OUTFILE '/tmp/x'",
        "does not parse",
    );
    denied(&my, "LOCK TABLES t WRITE", not_read);
}

#[test]
fn require_where_clause() {
    let c = cond(json!({"require_where_clause": true, "dialect": "postgres"}));
    for sql in [
        "UPDATE t SET a = 1 WHERE id = 2",
        "DELETE FROM t WHERE id = 2",
        "DELETE FROM t WHERE 1 = 1",
        "UPDATE t SET a = 1 WHERE true",
        "INSERT INTO t VALUES (1)",
        "SELECT * FROM t",
        "EXPLAIN DELETE FROM t",
    ] {
        passes(&c, sql);
    }
    denied(
        &c,
        "UPDATE t SET a = 1",
        "UPDATE without a WHERE clause (require_where_clause)",
    );
    denied(
        &c,
        "delete from t",
        "DELETE without a WHERE clause (require_where_clause)",
    );
    denied(&c, "DELETE FROM t USING u", "DELETE without a WHERE clause");
    denied(&c, "TRUNCATE t", "TRUNCATE removes every row");
    denied(
        &c,
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "DELETE without a WHERE",
    );
    denied(
        &c,
        "EXPLAIN ANALYZE UPDATE t SET a = 1",
        "UPDATE without a WHERE",
    );
    denied(
        &c,
        "DELETE FROM t WHERE id = 1; DELETE FROM t",
        "statement 2 of 2: DELETE without",
    );
    // The WHERE of a subquery is not the statement's.
    denied(
        &c,
        "DELETE FROM t -- WHERE id = 1",
        "DELETE without a WHERE",
    );
    denied(
        &c,
        "UPDATE t SET a = (SELECT 1 FROM u WHERE u.x = 1)",
        "UPDATE without a WHERE",
    );
}

#[test]
fn max_rows() {
    let c = cond(json!({"max_rows": 100, "dialect": "postgres"}));
    for sql in [
        "SELECT * FROM t LIMIT 10",
        "SELECT * FROM t LIMIT 100",
        "SELECT * FROM t ORDER BY a LIMIT 10 OFFSET 500",
        "SELECT * FROM t LIMIT (10)",
        "SELECT * FROM t FETCH FIRST 10 ROWS ONLY",
        "SELECT * FROM t FETCH FIRST ROW ONLY",
        "(SELECT * FROM t LIMIT 5)",
        "WITH a AS (SELECT * FROM t) SELECT * FROM a LIMIT 5",
        "SELECT a FROM t UNION SELECT a FROM u LIMIT 50",
        "INSERT INTO t VALUES (1)",
        "DELETE FROM t WHERE id = 1",
        "EXPLAIN SELECT * FROM t",
        "SELECT 1 LIMIT 1; SELECT 2 LIMIT 2",
    ] {
        passes(&c, sql);
    }
    let why = |s: &str| format!("{s} (max_rows 100)");
    denied(&c, "SELECT * FROM t", &why("a read without a LIMIT"));
    denied(&c, "VALUES (1), (2)", &why("a read without a LIMIT"));
    denied(
        &c,
        "SELECT * FROM t LIMIT 101",
        &why("LIMIT 101 is more than 100 rows"),
    );
    denied(
        &c,
        "SELECT * FROM t LIMIT 100000000000000000000000",
        "not a whole number",
    );
    denied(&c, "SELECT * FROM t LIMIT ALL", "a read without a LIMIT");
    denied(&c, "SELECT * FROM t LIMIT $1", "not a literal number");
    denied(&c, "SELECT * FROM t LIMIT -1", "not a literal number");
    denied(&c, "SELECT * FROM t LIMIT 1e2", "not a whole number");
    denied(
        &c,
        "SELECT * FROM t LIMIT (SELECT 5)",
        "not a literal number",
    );
    denied(&c, "SELECT * FROM t LIMIT '10'", "not a literal number");
    denied(
        &c,
        "SELECT * FROM t FETCH FIRST 1000 ROWS ONLY",
        "more than 100 rows",
    );
    denied(
        &c,
        "SELECT * FROM t ORDER BY a FETCH FIRST 10 ROWS WITH TIES",
        "WITH TIES",
    );
    denied(
        &c,
        "SELECT * FROM (SELECT * FROM t LIMIT 5) s",
        "a read without a LIMIT",
    );
    denied(
        &c,
        "(SELECT a FROM t LIMIT 5) UNION (SELECT a FROM u LIMIT 5)",
        "without a LIMIT",
    );
    denied(
        &c,
        "SELECT 1 LIMIT 1; SELECT * FROM t",
        "statement 2 of 2: a read without a LIMIT",
    );
    denied(
        &c,
        "DELETE FROM t WHERE a = 1 RETURNING *",
        "RETURNING returns rows",
    );
    let my = cond(json!({"max_rows": 100, "dialect": "mysql"}));
    passes(&my, "SELECT * FROM t LIMIT 500, 10");
    denied(
        &my,
        "SELECT * FROM t LIMIT 5, 1000",
        "LIMIT 1000 is more than 100 rows",
    );
    denied(&my, "SELECT * FROM t LIMIT ?", "not a literal number");
    let lite = cond(json!({"max_rows": 100, "dialect": "sqlite"}));
    denied(&lite, "SELECT * FROM t LIMIT -1", "not a literal number");
    passes(&lite, "select * from t limit 10 offset 10");
}

#[test]
fn what_does_not_parse_is_denied() {
    let c = all(Some("postgres"));
    denied(
        &c,
        "SELEC * FORM t",
        "the SQL does not parse: sql parser error:",
    );
    denied(&c, "SELECT 'unterminated", "the SQL does not parse");
    denied(&c, "SELECT * FROM t WHERE", "the SQL does not parse");
    denied(&c, "-- only a comment", "the SQL holds no statement");
    denied(&c, ";;", "the SQL holds no statement");
    denied(
        &c,
        "/* unterminated comment SELECT 1",
        "the SQL does not parse",
    );
}

#[test]
fn the_argument_holding_the_sql() {
    let c = all(None);
    let judge = |args: Value| c.judge(Some(&args));
    assert_eq!(judge(json!({"sql": "SELECT 1 LIMIT 1"})), Some(Ok(())));
    assert_eq!(judge(json!({"query": "SELECT 1 LIMIT 1"})), Some(Ok(())));
    // `sql` first: a harmless `query` does not hide it.
    let both = judge(json!({"sql": "DROP TABLE x", "query": "SELECT 1 LIMIT 1"}));
    assert!(matches!(both, Some(Err(e)) if e.contains("DROP is not a read")));
    let err = |args: Value| match judge(args) {
        Some(Err(e)) => e,
        other => panic!("{other:?}"),
    };
    assert!(err(json!({"sql": ""})).contains("argument `sql` is empty"));
    assert!(err(json!({"query": "  \n "})).contains("argument `query` is empty"));
    assert!(err(json!({"sql": 42})).contains("argument `sql` is not a string"));
    assert!(err(json!({"sql": ["SELECT 1"]})).contains("not a string"));
    assert!(err(json!({"statement": "SELECT 1 LIMIT 1"})).contains("no `sql` or `query` argument"));
    assert_eq!(c.judge(None), None, "no arguments: nothing to judge");
    let named = cond(json!({"arg": "/request/text", "read_only": true}));
    let args = json!({"request": {"text": "DELETE FROM t WHERE a = 1"}});
    assert!(matches!(named.judge(Some(&args)), Some(Err(e)) if e.contains("DELETE is not a read")));
    assert!(matches!(named.judge(Some(&json!({"sql": "SELECT 1"}))),
        Some(Err(e)) if e.contains("no argument `/request/text`")));
}

#[test]
fn every_dialect_must_agree_without_one() {
    // PostgreSQL ends the string at `\'`; MySQL reads on to the last quote.
    let hidden = r"SELECT '\'; DROP TABLE x; -- ' LIMIT 1";
    let ro = |d: Option<&str>| {
        let mut b = json!({"read_only": true});
        if let Some(d) = d {
            b["dialect"] = json!(d);
        }
        cond(b)
    };
    passes(&ro(Some("mysql")), hidden);
    denied(&ro(Some("postgres")), hidden, "DROP is not a read");
    denied(&ro(None), hidden, "DROP is not a read (read_only)");
    // SQLite does not nest comments: what PostgreSQL skips, SQLite runs.
    let nested = "SELECT 1 /* /* */ ; DELETE FROM t; /* */ */";
    passes(&ro(Some("postgres")), nested);
    assert!(ro(Some("sqlite")).check(nested).is_err());
    assert!(ro(None).check(nested).is_err());
    // PostgreSQL finds nothing; SQLite ends the comment early and runs a DELETE: the finding
    // names the dialect that disagrees.
    let split = "SELECT 1 /* /* */ ; DELETE FROM t; -- */";
    passes(&ro(Some("postgres")), split);
    assert_eq!(
        ro(None).check(split),
        Err("statement 2 of 2: DELETE is not a read (read_only) (read as SQLite)".into())
    );
    passes(
        &all(None),
        "SELECT id, name FROM accounts WHERE id > 10 ORDER BY id LIMIT 20",
    );
    // Syntax one database has and another lacks needs its dialect named.
    let ticks = "SELECT * FROM `accounts` LIMIT 1";
    denied(&all(None), ticks, "does not parse (read as PostgreSQL)");
    passes(&all(Some("mysql")), ticks);
    denied(
        &all(None),
        "SELECT * FROM t LIMIT 5, 10",
        "(read as PostgreSQL)",
    );
    passes(&all(Some("sqlite")), "SELECT * FROM t LIMIT 5, 10");
}

#[test]
fn huge_and_deep_input_is_denied_not_crashed() {
    let c = all(None);
    let deep = |open: &str, close: &str, n: usize| {
        format!("SELECT {}1{} LIMIT 1", open.repeat(n), close.repeat(n))
    };
    for (sql, why) in [
        (deep("(", ")", 500_000), "brackets nest deeper than 64"),
        (deep("ARRAY[", "]", 100_000), "brackets nest deeper than 64"),
        (
            format!(
                "SELECT * FROM t{} LIMIT 1",
                " WHERE a IN (SELECT a FROM t".repeat(60_000)
            ),
            "brackets nest deeper than 64",
        ),
        (
            format!("SELECT 1{} LIMIT 1", "+1".repeat(500_000)),
            "longer than 2000 tokens",
        ),
        (
            format!(
                "SELECT * FROM t WHERE a{} LIMIT 1",
                " AND a".repeat(150_000)
            ),
            "longer than 2000",
        ),
        (
            format!("SELECT {}1 LIMIT 1", "NOT ".repeat(250_000)),
            "longer than 2000",
        ),
        (
            format!("SELECT 1{} LIMIT 1", " UNION SELECT 1".repeat(70_000)),
            "longer than 2000",
        ),
        (
            format!("SELECT 1{} LIMIT 1", "::int".repeat(200_000)),
            "longer than 2000",
        ),
        (
            format!("SELECT a{} LIMIT 1", "[1]".repeat(300_000)),
            "longer than 2000",
        ),
        (
            format!("SELECT {}1 LIMIT 1", "- ".repeat(500_000)),
            "longer than 2000",
        ),
        (deep("(", ")", 60), "recursion limit exceeded"),
    ] {
        assert!(sql.len() > 300 || why.contains("recursion"));
        denied(&c, &sql, why);
    }
    // Just under the bounds: parsed and walked without exhausting a test thread's stack.
    let c = all(Some("postgres"));
    passes(&c, &format!("SELECT 1{} LIMIT 1", "+1".repeat(990)));
    passes(
        &c,
        &format!(
            "SELECT * FROM t WHERE a = 1{} LIMIT 1",
            " AND a = 1".repeat(490)
        ),
    );
    passes(
        &c,
        &format!("SELECT 1{} LIMIT 1", " UNION SELECT 1".repeat(600)),
    );
    // A megabyte of flat SQL is judged whole.
    let wide = format!("SELECT 1{} LIMIT 1", ", 1".repeat(350_000));
    assert!(wide.len() > 1_000_000);
    passes(&c, &wide);
}

#[test]
fn settings_are_checked_when_compiled() {
    let err = |b: Value| rules(&b).err().unwrap_or_default();
    assert!(
        err(json!({"read_only": true, "readonly": true})).contains("unknown check \"readonly\"")
    );
    assert!(err(json!({"max_rows": 0})).contains("`max_rows` of 0"));
    assert!(err(json!({"max_rows": -5})).contains("whole number"));
    assert!(err(json!({"max_rows": "100"})).contains("whole number"));
    assert!(err(json!({"blocked_tables": "users.credentials"})).contains("is a list"));
    assert!(err(json!({"blocked_tables": [1]})).contains("holds table names"));
    assert!(err(json!({"blocked_tables": ["users..x"]})).contains("not like table"));
    assert!(err(json!({"read_only": "yes"})).contains("true or false"));
    assert!(err(json!({"dialect": "oracle"})).contains("not one of postgres"));
    assert!(err(json!({"arg": 3})).contains("`arg`"));
    assert!(err(json!(["read_only"])).contains("mapping"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,200}") {
        // Never a panic, and a refusal always says why.
        if let Err(why) = all(None).check(&s) {
            prop_assert!(!why.is_empty());
        }
    }

    #[test]
    fn sql_like_text_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("SELECT"), Just("*"), Just("FROM"), Just("users.credentials"), Just("("),
                Just(")"), Just("WITH"), Just("AS"), Just("DELETE"), Just("WHERE"), Just("LIMIT"),
                Just("10"), Just(";"), Just("'"), Just("/*"), Just("*/"), Just("--"), Just("\n"),
                Just("UNION"), Just("JOIN"), Just("ON"), Just("1"), Just("="), Just("\""),
                Just("t"), Just(","), Just("."), Just("RETURNING"), Just("INTO"), Just("$$"),
            ],
            0..60,
        )
    ) {
        let sql = parts.join(" ");
        if let Err(why) = all(None).check(&sql) {
            prop_assert!(!why.is_empty());
        }
    }
}
#[test]
fn postgres_spellings_of_a_table() {
    let c = blocked("postgres");
    denied(
        &c,
        "COPY (SELECT * FROM users.credentials) TO STDOUT",
        CREDS,
    );
    denied(&c, "SELECT * FROM ONLY users.credentials", CREDS);
    denied(&c, "SELECT * FROM users.credentials* LIMIT 1", CREDS);
    // Unicode escapes could spell the name any way: the parser does not read them, so they
    // are refused unparsed.
    denied(&c, r#"SELECT * FROM U&"cred\0065ntials""#, "does not parse");
    denied(
        &c,
        r#"SELECT * FROM users.U&"cred!0065ntials" UESCAPE '!'"#,
        "does not parse",
    );
    // A doubled quote is part of the name: `cred"entials` is another table.
    passes(&c, r#"SELECT * FROM "cred""entials""#);
}
