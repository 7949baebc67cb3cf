//! `pgvitals lint-migration`: the safe-migration rules ([`crate::migration_rules`]) over SQL
//! files, before they run — `alembic upgrade --sql` output, Flyway's `V*.sql`, any script.
//!
//! The text is split into statements by [`crate::ddl::split`] (comments, string literals and
//! dollar-quoted bodies are never mistaken for DDL). Statements between `BEGIN` and `COMMIT`
//! are one transaction; any other statement is its own (psql's autocommit). A table created
//! earlier in the same input is new, so small; any other table counts as large unless live sizes
//! say otherwise ([`live_sizes`], `--dsn`, by `standards.large_table`).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::ddl;
use crate::migration_rules::{judge, shape, Action, Context, Shape};

/// One finding, where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// 1-based line of the statement's first character.
    pub line: usize,
    /// 1-based column (in characters) of it.
    pub column: usize,
    /// The rule.
    pub rule: &'static str,
    /// The table the statement locks.
    pub table: String,
    /// What happens.
    pub message: String,
    /// The safe recipe.
    pub fix: &'static str,
}

/// What the statements before the current one established.
struct State<'a> {
    sizes: &'a dyn Fn(&str) -> Option<bool>,
    created: HashSet<String>,
    proven_not_null: HashSet<(String, String)>,
    /// NOT VALID CHECK (col IS NOT NULL) constraints by (table, name): validating proves col.
    pending_not_null: HashMap<(String, String), String>,
    in_transaction: bool,
    not_valid_in_transaction: HashSet<(String, String)>,
}

impl Context for State<'_> {
    fn is_large(&self, table: &str) -> bool {
        !self.created.contains(table) && (self.sizes)(table).unwrap_or(true)
    }
    fn proven_not_null(&self, table: &str, column: &str) -> bool {
        self.proven_not_null
            .contains(&(table.to_string(), column.to_string()))
    }
    fn in_transaction(&self) -> bool {
        self.in_transaction
    }
    fn added_not_valid_in_this_transaction(&self, table: &str, constraint: &str) -> bool {
        self.not_valid_in_transaction
            .contains(&(table.to_string(), constraint.to_string()))
    }
}

impl State<'_> {
    /// Notes what a judged statement changed.
    fn after(&mut self, s: &Shape) {
        match s {
            Shape::Begin => {
                self.in_transaction = true;
                self.not_valid_in_transaction.clear();
            }
            Shape::End => {
                self.in_transaction = false;
                self.not_valid_in_transaction.clear();
            }
            Shape::CreateTable(t) => {
                self.created.insert(t.clone());
            }
            Shape::AlterTable { table, actions } => {
                for a in actions {
                    match a {
                        Action::AddConstraint {
                            name,
                            not_valid,
                            not_null_of,
                            ..
                        } => {
                            let key = (table.clone(), name.clone().unwrap_or_default());
                            match (not_valid, not_null_of) {
                                (false, Some(col)) => {
                                    self.proven_not_null.insert((table.clone(), col.clone()));
                                }
                                (true, Some(col)) => {
                                    self.pending_not_null.insert(key.clone(), col.clone());
                                }
                                _ => {}
                            }
                            if *not_valid && self.in_transaction {
                                self.not_valid_in_transaction.insert(key);
                            }
                        }
                        Action::Validate(name) => {
                            let key = (table.clone(), name.clone());
                            if let Some(col) = self.pending_not_null.remove(&key) {
                                self.proven_not_null.insert((table.clone(), col));
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// The tables the statements of `sql` lock (for asking their sizes once).
pub fn tables(sql: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for piece in ddl::split(sql) {
        let table = match shape(&piece.text) {
            Shape::CreateIndex { table, .. }
            | Shape::AlterTable { table, .. }
            | Shape::Rewrite { table, .. } => table,
            _ => continue,
        };
        if !out.contains(&table) {
            out.push(table);
        }
    }
    out
}

/// The findings of `sql`, in order. `sizes` says whether a table is large (`None`: unknown,
/// counted as large).
pub fn lint(sql: &str, sizes: &dyn Fn(&str) -> Option<bool>) -> Vec<Finding> {
    let mut state = State {
        sizes,
        created: HashSet::new(),
        proven_not_null: HashSet::new(),
        pending_not_null: HashMap::new(),
        in_transaction: false,
        not_valid_in_transaction: HashSet::new(),
    };
    let mut out = Vec::new();
    for piece in ddl::split(sql) {
        let s = shape(&piece.text);
        let (line, column) = position(sql, piece.start);
        for r in judge(&s, &state) {
            out.push(Finding {
                line,
                column,
                rule: r.rule,
                table: r.table,
                message: r.message,
                fix: r.fix,
            });
        }
        state.after(&s);
    }
    out
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut cut = offset.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let before = &text[..cut];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Whether each of `tables` is large (by `large`) on the server of `dsn` (a table it does not
/// have is left out: unknown). Read-only, one catalog query, with pgvitals' session settings.
pub async fn live_sizes(
    dsn: &str,
    tables: &[String],
    large: crate::config::LargeTable,
) -> anyhow::Result<HashMap<String, bool>> {
    use anyhow::Context as _;
    let parsed = crate::config::parse_dsn(dsn).map_err(|e| anyhow::anyhow!("--dsn: {e}"))?;
    let mut pg = parsed.pg;
    pg.application_name("pgvitals")
        .options("-c default_transaction_read_only=on -c statement_timeout=10000");
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(std::time::Duration::from_secs(5));
    }
    let tls = crate::db::tls_connector(&parsed.tls)?;
    let (client, connection) = pg
        .connect(tls)
        .await
        .map_err(|e| anyhow::anyhow!("--dsn: {}", crate::db::error_chain(&e)))?;
    tokio::spawn(connection);
    let names: Vec<String> = tables
        .iter()
        .map(|t| {
            t.split('.')
                .map(crate::queries::quote_identifier)
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int4", &[])
        .await?
        .get(0);
    let rows = client
        .query(crate::queries::LINT_TABLE_SIZES.sql(version)?, &[&names])
        .await
        .context("reading table sizes")?;
    let mut out = HashMap::new();
    for (row, table) in rows.iter().zip(tables) {
        let bytes: Option<i64> = row.try_get("bytes")?;
        let rows: Option<f64> = row.try_get("rows")?;
        if let (Some(bytes), Some(rows)) = (bytes, rows) {
            out.insert(table.clone(), large.is_large(bytes as f64, rows));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(sql: &str) -> Vec<(usize, &'static str)> {
        lint(sql, &|_| None)
            .into_iter()
            .map(|f| (f.line, f.rule))
            .collect()
    }

    #[test]
    fn each_unsafe_shape_is_found_and_its_safe_twin_is_not() {
        let cases: &[(&str, Option<&str>)] = &[
            ("CREATE INDEX i ON orders (a)", Some("create_index_not_concurrently")),
            ("CREATE INDEX CONCURRENTLY i ON orders (a)", None),
            (
                "BEGIN; CREATE INDEX CONCURRENTLY i ON orders (a); COMMIT",
                Some("concurrently_in_transaction"),
            ),
            (
                "ALTER TABLE orders ADD CONSTRAINT c CHECK (total > 0)",
                Some("constraint_without_not_valid"),
            ),
            ("ALTER TABLE orders ADD CONSTRAINT c CHECK (total > 0) NOT VALID", None),
            (
                "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES customers (id)",
                Some("constraint_without_not_valid"),
            ),
            (
                "BEGIN; ALTER TABLE orders ADD CONSTRAINT c CHECK (x > 0) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT c; COMMIT",
                Some("validate_in_same_transaction"),
            ),
            (
                "BEGIN; ALTER TABLE orders ADD CONSTRAINT c CHECK (x > 0) NOT VALID; COMMIT; BEGIN; ALTER TABLE orders VALIDATE CONSTRAINT c; COMMIT",
                None,
            ),
            ("ALTER TABLE orders ALTER COLUMN total TYPE bigint", Some("column_type_change")),
            ("ALTER TABLE orders ALTER total SET DATA TYPE bigint", Some("column_type_change")),
            (
                "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()",
                Some("volatile_default"),
            ),
            ("ALTER TABLE orders ADD COLUMN flag boolean DEFAULT false", None),
            (
                "ALTER TABLE orders ADD COLUMN t2 numeric GENERATED ALWAYS AS (total * 2) STORED",
                Some("volatile_default"),
            ),
            ("ALTER TABLE orders ALTER COLUMN note SET NOT NULL", Some("set_not_null")),
            (
                "ALTER TABLE orders ADD CONSTRAINT nn CHECK (note IS NOT NULL) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT nn; ALTER TABLE orders ALTER COLUMN note SET NOT NULL",
                None,
            ),
            ("VACUUM FULL orders", Some("vacuum_full")),
            ("VACUUM (FULL, ANALYZE) orders", Some("vacuum_full")),
            ("VACUUM (ANALYZE) orders", None),
            ("CLUSTER orders USING orders_pkey", Some("vacuum_full")),
            // A table created in the same migration is new, so small.
            ("CREATE TABLE fresh (id int); CREATE INDEX i ON fresh (id)", None),
            ("SELECT 'CREATE INDEX i ON orders (a)'", None),
        ];
        for (sql, want) in cases {
            let got: Vec<&str> = rules(sql).into_iter().map(|(_, r)| r).collect();
            assert_eq!(got, want.iter().copied().collect::<Vec<_>>(), "{sql}");
        }
    }

    #[test]
    fn live_sizes_replace_the_guess() {
        let sql = "CREATE INDEX i ON small_table (a); CREATE INDEX j ON big_table (a); CREATE INDEX k ON unknown (a)";
        let found: Vec<String> = lint(sql, &|t| match t {
            "small_table" => Some(false),
            "big_table" => Some(true),
            _ => None,
        })
        .into_iter()
        .map(|f| f.table)
        .collect();
        assert_eq!(found, ["big_table", "unknown"]);
        assert_eq!(tables(sql), ["small_table", "big_table", "unknown"]);
    }

    #[test]
    fn positions_are_lines_and_characters() {
        let sql = "-- héllo\n  CREATE INDEX i ON \"Orders\" (a);\n\nVACUUM FULL public.orders;";
        let f = lint(sql, &|_| None);
        assert_eq!(
            (f[0].line, f[0].column, f[0].table.as_str()),
            (2, 3, "Orders")
        );
        assert_eq!(
            (f[1].line, f[1].column, f[1].table.as_str()),
            (4, 1, "public.orders")
        );
    }

    #[test]
    fn arbitrary_text_never_panics() {
        let pieces = [
            "CREATE",
            "INDEX",
            "ALTER",
            "TABLE",
            "ADD",
            "CONSTRAINT",
            "CHECK",
            "(",
            ")",
            ";",
            "'",
            "\"",
            "$$",
            "$x$",
            "--",
            "/*",
            "*/",
            "\n",
            " ",
            "NOT",
            "VALID",
            "VALIDATE",
            "COLUMN",
            "TYPE",
            "SET",
            "NULL",
            "DEFAULT",
            "random()",
            "VACUUM",
            "FULL",
            "BEGIN",
            "COMMIT",
            "é",
            "ß",
            "日本",
            ",",
            ".",
            "E'\\'",
            "IF",
            "EXISTS",
            "ON",
            "ONLY",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let n = rng.usize(0..40);
            let text: String = (0..n)
                .map(|_| {
                    if rng.u8(..) < 30 {
                        char::from_u32(rng.u32(0..0x11_0000))
                            .unwrap_or('?')
                            .to_string()
                    } else {
                        pieces[rng.usize(..pieces.len())].to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(if rng.bool() { " " } else { "" });
            let _ = lint(&text, &|_| None);
            let _ = tables(&text);
        }
    }
}
