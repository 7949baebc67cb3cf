//! `table_sizes` collector: bytes on disk per user table, top N plus a per-schema remainder.
//!
//! Per database. Reads `queries/table_sizes.sql`, which stats every table's files: keep its
//! interval long (default 5 min). Only the `top_n` largest tables are exported one by one; the
//! others are summed per schema, so the series count is bounded whatever the schema holds, and
//! the sum over both families is still the database's whole table footprint. A table held under
//! an ACCESS EXCLUSIVE lock (a running migration) is not opened; its size is the planner's
//! estimate and `pgvitals_table_sizes_estimated_tables` says how many such tables there are.

use super::{BoxFuture, CollectResult, Collector, PollContext};
use crate::metrics::Family;
use crate::queries;

const TOTAL: &str = "pgvitals_table_total_bytes";
const HEAP: &str = "pgvitals_table_heap_bytes";
const INDEX: &str = "pgvitals_table_index_bytes";
const TOAST: &str = "pgvitals_table_toast_bytes";
const ROWS: &str = "pgvitals_table_rows_estimate";
const REST_TOTAL: &str = "pgvitals_table_sizes_remainder_total_bytes";
const REST_TABLES: &str = "pgvitals_table_sizes_remainder_tables";
const ESTIMATED: &str = "pgvitals_table_sizes_estimated_tables";

/// Polls table sizes.
#[derive(Debug)]
pub struct TableSizesCollector {
    /// Tables exported individually.
    pub top_n: u32,
}

impl Collector for TableSizesCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(async move {
            let sql = queries::TABLE_SIZES.sql(cx.server_version)?;
            let rows = cx.client.query(sql, &[&i64::from(self.top_n)]).await?;

            let mut total = Family::gauge(TOTAL, "Bytes of a table with its indexes and TOAST.");
            let mut heap = Family::gauge(HEAP, "Bytes of a table's heap (main fork, FSM, VM).");
            let mut index = Family::gauge(INDEX, "Bytes of all indexes of a table.");
            let mut toast = Family::gauge(TOAST, "Bytes of a table's TOAST table and its index.");
            let mut rows_est = Family::gauge(
                ROWS,
                "Planner's row estimate of a table (reltuples); absent until first analyzed.",
            );
            let mut rest_total = Family::gauge(
                REST_TOTAL,
                "Bytes of the tables of a schema beyond the top_n largest, summed.",
            );
            let mut rest_tables = Family::gauge(
                REST_TABLES,
                "Number of tables of a schema beyond the top_n largest.",
            );
            let mut estimated_tables = 0i64;
            for row in &rows {
                let schema: String = row.try_get("schema")?;
                let table: Option<String> = row.try_get("table_name")?;
                let bytes = |col: &str| row.try_get::<_, i64>(col).map(|v| v as f64);
                estimated_tables += row.try_get::<_, i64>("estimated")?;
                match table {
                    Some(table) => {
                        let labels = || [("schema", schema.clone()), ("table", table.clone())];
                        total.push(labels(), bytes("total_bytes")?);
                        heap.push(labels(), bytes("heap_bytes")?);
                        index.push(labels(), bytes("index_bytes")?);
                        toast.push(labels(), bytes("toast_bytes")?);
                        if let Some(r) = row.try_get::<_, Option<f64>>("rows_estimate")? {
                            rows_est.push(labels(), r);
                        }
                    }
                    None => {
                        rest_total.push([("schema", schema.clone())], bytes("total_bytes")?);
                        rest_tables.push([("schema", schema)], bytes("tables")?);
                    }
                }
            }
            let estimated = Family::gauge(
                ESTIMATED,
                "Tables whose size is the planner's estimate because a migration holds them locked.",
            )
            .with([], estimated_tables as f64);
            Ok(vec![
                total,
                heap,
                index,
                toast,
                rows_est,
                rest_total,
                rest_tables,
                estimated,
            ]
            .into())
        })
    }
}
