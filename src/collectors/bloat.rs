//! `bloat` collector: space tables and B-tree indexes waste on dead rows and free space, and
//! what a rewrite (VACUUM FULL, pg_repack, REINDEX CONCURRENTLY) would give back.
//!
//! Per database. The estimate is the well-known statistical one, no extension needed: from
//! each table's (or index's) rows and its columns' average width in `pg_stats`, the pages it
//! would take packed at its fillfactor, against the pages it has (`queries/bloat_tables.sql`,
//! `queries/bloat_indexes.sql`). Figures are as fresh as the last ANALYZE. A role that may not
//! read a table's columns sees no `pg_stats` for them: such tables are counted, not guessed.
//! Where the `pgstattuple` extension is installed, the `top_n` tables the estimate ranks
//! first are measured with `pgstattuple_approx` instead (`method="pgstattuple_approx"`), which
//! reads every page the visibility map does not mark all-visible: bounded by `top_n`, the
//! collector's timeout and its long interval, and off with `pgstattuple: false`.

use std::sync::Arc;

use super::{BoxFuture, CollectResult, Collector, Output, PollContext};
use crate::config::BloatConfig;
use crate::detail::{Finding, FindingsReport, Report};
use crate::metrics::Family;
use crate::queries;

/// The `/findings` kinds.
pub const TABLE_FINDING: &str = "table_bloat";
pub const INDEX_FINDING: &str = "index_bloat";

const MAXALIGN: f64 = 8.0;
const PAGE_HEADER: f64 = 24.0;
/// A B-tree page's special space (BTPageOpaqueData).
const BTREE_SPECIAL: f64 = 16.0;
/// A line pointer (ItemIdData).
const LINE_POINTER: f64 = 4.0;

fn align(n: f64) -> f64 {
    (n / MAXALIGN).ceil() * MAXALIGN
}

/// What the estimate reads of one table or index.
#[derive(Debug, Clone, PartialEq)]
struct Sizing {
    schema: String,
    table: String,
    index: Option<String>,
    pages: f64,
    tuples: f64,
    fillfactor: f64,
    columns: i32,
    with_stats: i32,
    has_nulls: bool,
    data_width: f64,
    block_size: f64,
}

impl Sizing {
    fn estimable(&self) -> bool {
        self.with_stats == self.columns
    }

    /// The pages its rows would take, packed at its fillfactor.
    fn expected_pages(&self) -> f64 {
        let (header, usable, extra_pages) = match self.index {
            // IndexTupleData, and the null bitmap when a column has nulls; the metapage.
            Some(_) => (
                8.0 + if self.has_nulls { 4.0 } else { 0.0 },
                self.block_size - PAGE_HEADER - BTREE_SPECIAL,
                1.0,
            ),
            // HeapTupleHeaderData, and the null bitmap when a column has nulls.
            None => (
                23.0 + if self.has_nulls {
                    (f64::from(self.columns) / 8.0).ceil()
                } else {
                    0.0
                },
                self.block_size - PAGE_HEADER,
                0.0,
            ),
        };
        let per_tuple = LINE_POINTER + align(align(header) + self.data_width);
        let per_page = (usable * self.fillfactor / 100.0 / per_tuple)
            .floor()
            .max(1.0);
        (self.tuples / per_page).ceil() + extra_pages
    }

    /// Bytes beyond what its rows need.
    fn wasted_bytes(&self) -> f64 {
        ((self.pages - self.expected_pages()) * self.block_size).max(0.0)
    }
}

fn read(row: &tokio_postgres::Row, index: bool) -> Result<Sizing, tokio_postgres::Error> {
    Ok(Sizing {
        schema: row.try_get("schema")?,
        table: row.try_get("table_name")?,
        index: if index {
            Some(row.try_get("index_name")?)
        } else {
            None
        },
        pages: row.try_get("pages")?,
        tuples: row.try_get("tuples")?,
        fillfactor: row.try_get("fillfactor")?,
        columns: row.try_get("columns")?,
        with_stats: row.try_get("with_stats")?,
        has_nulls: row.try_get("has_nulls")?,
        data_width: row.try_get("data_width")?,
        block_size: row.try_get("block_size")?,
    })
}

/// One table's or index's waste, as estimated or measured.
#[derive(Debug)]
struct Waste<'a> {
    of: &'a Sizing,
    bytes: f64,
    method: &'static str,
}

impl<'s> Waste<'s> {
    fn estimate(of: &'s Sizing) -> Waste<'s> {
        Waste {
            of,
            bytes: of.wasted_bytes(),
            method: "estimate",
        }
    }

    fn ratio(&self) -> f64 {
        let size = self.of.pages * self.of.block_size;
        if size > 0.0 {
            self.bytes / size
        } else {
            0.0
        }
    }
}

/// Polls table and index bloat.
#[derive(Debug)]
pub struct BloatCollector {
    settings: BloatConfig,
}

impl BloatCollector {
    /// A collector with these settings.
    pub fn new(settings: BloatConfig) -> BloatCollector {
        BloatCollector { settings }
    }

    fn finding(&self, w: &Waste) -> Option<Finding> {
        if w.bytes < self.settings.min_bytes || w.ratio() < self.settings.min_ratio {
            return None;
        }
        let size = w.of.pages * w.of.block_size;
        let what = match &w.of.index {
            Some(i) => format!("index {i}"),
            None => format!("table {}.{}", w.of.schema, w.of.table),
        };
        let fix = match &w.of.index {
            Some(i) => format!("REINDEX INDEX CONCURRENTLY {}.{i}", w.of.schema),
            None => "pg_repack (online) or VACUUM FULL (locks the table) rewrites it; plain VACUUM only makes the space reusable".into(),
        };
        Some(Finding {
            kind: if w.of.index.is_some() {
                INDEX_FINDING
            } else {
                TABLE_FINDING
            },
            schema: w.of.schema.clone(),
            table: w.of.table.clone(),
            index: w.of.index.clone(),
            bytes: Some(w.bytes),
            figures: [
                ("wasted_bytes", w.bytes),
                ("size_bytes", size),
                ("wasted_ratio", w.ratio()),
            ]
            .into_iter()
            .collect(),
            detail: format!(
                "{what} wastes {} of its {} ({:.0} %, {}): {fix}",
                crate::template::humanize_1024(w.bytes) + "B",
                crate::template::humanize_1024(size) + "B",
                w.ratio() * 100.0,
                if w.method == "estimate" {
                    "statistical estimate"
                } else {
                    "measured by pgstattuple_approx"
                }
            ),
            ..Finding::default()
        })
    }
}

impl Collector for BloatCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(async move {
            let v = cx.server_version;
            let tables =
                super::collect_rows(cx.client, queries::BLOAT_TABLES.sql(v)?, |r| read(r, false))
                    .await?;
            let indexes =
                super::collect_rows(cx.client, queries::BLOAT_INDEXES.sql(v)?, |r| read(r, true))
                    .await?;
            let mut table_waste: Vec<Waste> = tables
                .iter()
                .filter(|t| t.estimable())
                .map(Waste::estimate)
                .collect();
            table_waste.sort_by(|a, b| b.bytes.total_cmp(&a.bytes));
            table_waste.truncate(self.settings.top_n as usize);
            let pgstattuple: Option<String> = if self.settings.pgstattuple {
                cx.client
                    .query_opt(queries::BLOAT_SETUP.sql(v)?, &[])
                    .await?
                    .map(|r| r.try_get("schema"))
                    .transpose()?
            } else {
                None
            };
            if let (Some(schema), false) = (&pgstattuple, table_waste.is_empty()) {
                let sql = queries::in_extension_schema(queries::BLOAT_EXACT.sql(v)?, schema);
                let schemas: Vec<&str> = table_waste.iter().map(|w| w.of.schema.as_str()).collect();
                let names: Vec<&str> = table_waste.iter().map(|w| w.of.table.as_str()).collect();
                for row in cx.client.query(&sql, &[&schemas, &names]).await? {
                    let (schema, table): (String, String) =
                        (row.try_get("schema")?, row.try_get("table_name")?);
                    if let Some(w) = table_waste
                        .iter_mut()
                        .find(|w| w.of.schema == schema && w.of.table == table)
                    {
                        w.bytes = row.try_get("wasted_bytes")?;
                        w.method = "pgstattuple_approx";
                    }
                }
                table_waste.sort_by(|a, b| b.bytes.total_cmp(&a.bytes));
            }
            let mut index_waste: Vec<Waste> = indexes
                .iter()
                .filter(|i| i.estimable())
                .map(Waste::estimate)
                .collect();
            index_waste.sort_by(|a, b| b.bytes.total_cmp(&a.bytes));
            index_waste.truncate(self.settings.top_n as usize);

            let mut table_bytes = Family::gauge(
                "pgvitals_table_bloat_bytes",
                "Bytes the table wastes on dead rows and free space beyond its fillfactor (method: estimate from pg_stats, or pgstattuple_approx); top_n.",
            );
            let mut table_ratio = Family::gauge(
                "pgvitals_table_bloat_ratio",
                "Wasted bytes / the table's heap size (as of its last ANALYZE or VACUUM); top_n.",
            );
            for w in &table_waste {
                let labels = [
                    ("schema", w.of.schema.clone()),
                    ("table", w.of.table.clone()),
                    ("method", w.method.to_string()),
                ];
                table_bytes.push(labels.clone(), w.bytes);
                table_ratio.push(labels, w.ratio());
            }
            let mut index_bytes = Family::gauge(
                "pgvitals_index_bloat_bytes",
                "Estimated bytes a B-tree index wastes beyond its fillfactor (REINDEX CONCURRENTLY gives them back); top_n.",
            );
            for w in &index_waste {
                index_bytes.push(
                    [
                        ("schema", w.of.schema.clone()),
                        ("table", w.of.table.clone()),
                        ("index", w.of.index.clone().unwrap_or_default()),
                    ],
                    w.bytes,
                );
            }
            let mut counts = Family::gauge(
                "pgvitals_bloat_relations",
                "Tables and B-tree indexes (relation) the estimate covers (state: estimated, or not_estimable: no pg_stats for some column, e.g. the role may not read it, or never analyzed).",
            );
            for (relation, all) in [("table", &tables), ("index", &indexes)] {
                let estimable = all.iter().filter(|s| s.estimable()).count();
                counts.push(
                    [("relation", relation.into()), ("state", "estimated".into())],
                    estimable as f64,
                );
                counts.push(
                    [
                        ("relation", relation.into()),
                        ("state", "not_estimable".into()),
                    ],
                    (all.len() - estimable) as f64,
                );
            }
            let findings: Vec<Finding> = table_waste
                .iter()
                .chain(&index_waste)
                .filter_map(|w| self.finding(w))
                .collect();
            let findings_count = super::findings_family(&[TABLE_FINDING, INDEX_FINDING], &findings);
            Ok(Output {
                families: vec![
                    table_bytes,
                    table_ratio,
                    index_bytes,
                    counts,
                    findings_count,
                ],
                report: Some(Report::Findings(Arc::new(FindingsReport { findings }))),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizing(pages: f64, tuples: f64, index: bool) -> Sizing {
        Sizing {
            schema: "public".into(),
            table: "events".into(),
            index: index.then(|| "events_pkey".to_string()),
            pages,
            tuples,
            fillfactor: if index { 90.0 } else { 100.0 },
            columns: 2,
            with_stats: 2,
            has_nulls: false,
            data_width: 109.0,
            block_size: 8192.0,
        }
    }

    #[test]
    fn a_packed_table_wastes_nothing_and_a_half_empty_one_half() {
        // 24 + 112 aligned, + 4: 140 bytes a row, 58 rows a page.
        let packed = sizing(345.0, 20_000.0, false);
        assert_eq!(packed.expected_pages(), 345.0);
        assert_eq!(packed.wasted_bytes(), 0.0);
        let half = sizing(345.0, 10_000.0, false);
        assert_eq!(half.expected_pages(), 173.0);
        assert_eq!(half.wasted_bytes(), 172.0 * 8192.0);
        let mut unreadable = half.clone();
        unreadable.with_stats = 1;
        assert!(!unreadable.estimable());
        // An index of 8-byte keys: 8 + 8 aligned, + 4 = 20 bytes an entry, 366 a page at 90 %, and the metapage.
        let mut index = sizing(100.0, 36_500.0, true);
        index.columns = 1;
        index.with_stats = 1;
        index.data_width = 8.0;
        assert_eq!(index.expected_pages(), 101.0);
    }
}
