//! The safe-migration rules ([`crate::migration_rules`]) on the schema changes running now:
//! for each, the shapes of its statements judged against the size of the tables it locks (as
//! of their last VACUUM or ANALYZE, read without a lock), so `CREATE INDEX` without
//! `CONCURRENTLY` on a large table is a risk while it runs and its safe twin is not. A running
//! `SET NOT NULL` is a risk unless a valid `CHECK (column IS NOT NULL)` already proves the
//! column (`queries/migration_not_null_proof.sql`, asked only when there is one).

use std::collections::HashSet;

use serde::Deserialize;

use crate::config::LargeTable;
use crate::migration_rules::{judge, shape, Action, Context, Risk, Shape};
use crate::queries;

/// A table a session holds or awaits a schema-change lock on (`migration_sessions.sql`).
#[derive(Debug, Clone, Deserialize)]
pub struct LockedTable {
    /// Schema.
    pub schema: String,
    /// Table.
    pub table: String,
    /// relpages × block_size.
    #[serde(default)]
    pub bytes: f64,
    /// reltuples.
    #[serde(default)]
    pub rows: f64,
}

impl LockedTable {
    /// Whether a statement's table name (`t` or `schema.t`, as [`crate::migration_rules`]
    /// reads it) is this table.
    fn is(&self, name: &str) -> bool {
        match name.split_once('.') {
            Some((schema, table)) => schema == self.schema && table == self.table,
            None => name == self.table,
        }
    }
}

/// The statement shapes of a running session's query.
pub fn shapes(query: &str) -> Vec<Shape> {
    crate::ddl::split(query)
        .iter()
        .map(|p| shape(&p.text))
        .filter(|s| !matches!(s, Shape::Begin | Shape::End | Shape::Other))
        .collect()
}

/// The (table, column) pairs of the `SET NOT NULL`s among `shapes`.
pub fn set_not_null(shapes: &[Shape]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in shapes {
        if let Shape::AlterTable { table, actions } = s {
            for a in actions {
                if let Action::SetNotNull(column) = a {
                    out.push((table.clone(), column.clone()));
                }
            }
        }
    }
    out
}

/// Which of `pairs` a valid CHECK already proves not null.
pub async fn proven(
    client: &tokio_postgres::Client,
    version: i32,
    pairs: &[(String, String)],
) -> Result<HashSet<(String, String)>, tokio_postgres::Error> {
    if pairs.is_empty() {
        return Ok(HashSet::new());
    }
    let tables: Vec<String> = pairs
        .iter()
        .map(|(t, _)| {
            t.split('.')
                .map(queries::quote_identifier)
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    let columns: Vec<String> = pairs.iter().map(|(_, c)| c.clone()).collect();
    let sql = queries::MIGRATION_NOT_NULL_PROOF
        .sql(version)
        .expect("13+ checked at connect");
    let rows = client.query(sql, &[&tables, &columns]).await?;
    let mut out = HashSet::new();
    for (row, pair) in rows.iter().zip(pairs) {
        if row.try_get::<_, bool>("proven")? {
            out.insert(pair.clone());
        }
    }
    Ok(out)
}

struct Live<'a> {
    tables: &'a [LockedTable],
    proven: &'a HashSet<(String, String)>,
    large: LargeTable,
}

impl Context for Live<'_> {
    fn is_large(&self, table: &str) -> bool {
        self.tables
            .iter()
            .any(|t| t.is(table) && self.large.is_large(t.bytes, t.rows))
    }
    fn proven_not_null(&self, table: &str, column: &str) -> bool {
        self.proven
            .contains(&(table.to_string(), column.to_string()))
    }
    fn in_transaction(&self) -> bool {
        // PostgreSQL itself refuses what this would catch.
        false
    }
    fn added_not_valid_in_this_transaction(&self, _: &str, _: &str) -> bool {
        false
    }
}

/// The risks of one running schema change; each names the schema of the locked table it is on.
pub fn risks(
    shapes: &[Shape],
    tables: &[LockedTable],
    proven: &HashSet<(String, String)>,
    large: LargeTable,
) -> Vec<(String, Risk)> {
    let cx = Live {
        tables,
        proven,
        large,
    };
    shapes
        .iter()
        .flat_map(|s| judge(s, &cx))
        .map(|r| {
            let schema = tables
                .iter()
                .find(|t| t.is(&r.table))
                .map(|t| t.schema.clone())
                .unwrap_or_default();
            (schema, r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_risk_needs_a_large_locked_table() {
        let big = LockedTable {
            schema: "public".into(),
            table: "events".into(),
            bytes: 8192.0,
            rows: 2_000_000.0,
        };
        let small = LockedTable {
            rows: 10.0,
            ..big.clone()
        };
        let none = HashSet::new();
        let s = shapes("CREATE INDEX e_at ON public.events (at)");
        assert_eq!(
            risks(&s, std::slice::from_ref(&big), &none, LargeTable::default())[0]
                .1
                .rule,
            "create_index_not_concurrently"
        );
        assert_eq!(
            risks(&s, std::slice::from_ref(&big), &none, LargeTable::default())[0].0,
            "public"
        );
        assert!(risks(&s, &[small], &none, LargeTable::default()).is_empty());
        let s = shapes("CREATE INDEX CONCURRENTLY e_at ON events (at)");
        assert!(risks(&s, std::slice::from_ref(&big), &none, LargeTable::default()).is_empty());
        let s = shapes("ALTER TABLE events ALTER COLUMN note SET NOT NULL");
        assert_eq!(
            set_not_null(&s),
            [("events".to_string(), "note".to_string())]
        );
        assert_eq!(
            risks(&s, std::slice::from_ref(&big), &none, LargeTable::default()).len(),
            1
        );
        let proven = HashSet::from([("events".to_string(), "note".to_string())]);
        assert!(risks(&s, &[big], &proven, LargeTable::default()).is_empty());
    }
}
