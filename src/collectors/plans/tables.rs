//! The tables a plan reads, as the catalog says now (`queries/plan_tables.sql`): estimated
//! rows, the leading column of each valid index, every column. The index advisor reads them
//! at each capture; the rows are also kept, latest per table, so that a statement that turns
//! slow or regressed can say how much its tables grew since.

use std::collections::HashMap;

use tokio_postgres::Client;

use super::explain::reason;
use crate::plan::Relation;
use crate::queries;

/// Tables whose latest rows one database keeps, at most (the longest unread go).
const KEPT: usize = 2000;

/// A table as the catalog says now.
#[derive(Debug, Clone)]
pub(super) struct TableInfo {
    pub relation: Relation,
    /// Estimated rows: reltuples, or the live rows when higher.
    pub rows: f64,
    /// The first column of each valid index.
    pub leading: Vec<String>,
    /// Every column, in order.
    pub columns: Vec<String>,
}

/// Reads `relations` from the catalog (one query, by name through pg_class's index).
pub(super) async fn read(
    client: &Client,
    version: i32,
    relations: &[Relation],
) -> Result<Vec<TableInfo>, String> {
    if relations.is_empty() {
        return Ok(Vec::new());
    }
    let schemas: Vec<&str> = relations.iter().map(|r| r.schema.as_str()).collect();
    let tables: Vec<&str> = relations.iter().map(|r| r.table.as_str()).collect();
    let sql = queries::PLAN_TABLES
        .sql(version)
        .map_err(|e| e.to_string())?;
    let rows = client
        .query(sql, &[&schemas, &tables])
        .await
        .map_err(|e| reason(&e))?;
    rows.iter()
        .map(|r| {
            Ok(TableInfo {
                relation: Relation {
                    schema: r.try_get("schema").map_err(|e| reason(&e))?,
                    table: r.try_get("table_name").map_err(|e| reason(&e))?,
                },
                rows: r.try_get("rows").map_err(|e| reason(&e))?,
                leading: r.try_get("leading_columns").map_err(|e| reason(&e))?,
                columns: r.try_get("columns").map_err(|e| reason(&e))?,
            })
        })
        .collect()
}

/// A table's rows when read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct RowsAt {
    /// Unix time.
    pub at: f64,
    pub rows: f64,
}

/// The latest rows read of each table of one database.
#[derive(Debug, Default)]
pub(super) struct TableRows {
    latest: HashMap<Relation, RowsAt>,
}

impl TableRows {
    /// Keeps what was read at `at`.
    pub fn record(&mut self, tables: &[TableInfo], at: f64) {
        for t in tables {
            self.latest
                .insert(t.relation.clone(), RowsAt { at, rows: t.rows });
        }
        if self.latest.len() > KEPT {
            let mut by_age: Vec<(f64, Relation)> =
                self.latest.iter().map(|(r, v)| (v.at, r.clone())).collect();
            by_age.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (_, r) in by_age.iter().take(self.latest.len() - KEPT) {
                self.latest.remove(r);
            }
        }
    }

    /// The latest rows read of `relation`.
    pub fn get(&self, relation: &Relation) -> Option<RowsAt> {
        self.latest.get(relation).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, rows: f64) -> TableInfo {
        TableInfo {
            relation: Relation {
                schema: "public".into(),
                table: name.into(),
            },
            rows,
            leading: Vec::new(),
            columns: Vec::new(),
        }
    }

    #[test]
    fn the_latest_read_is_kept_and_the_longest_unread_go_first() {
        let mut rows = TableRows::default();
        rows.record(&[table("a", 10.0)], 1.0);
        rows.record(&[table("a", 20.0)], 2.0);
        let a = table("a", 0.0).relation;
        assert_eq!(
            rows.get(&a),
            Some(RowsAt {
                at: 2.0,
                rows: 20.0
            })
        );
        let many: Vec<TableInfo> = (0..KEPT).map(|i| table(&format!("t{i}"), 1.0)).collect();
        rows.record(&many, 3.0);
        assert_eq!(rows.latest.len(), KEPT);
        assert_eq!(rows.get(&a), None, "the longest unread table went");
    }
}
