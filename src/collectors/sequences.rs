//! `sequences` collector: how much of each sequence is used, against the end of its own range
//! *and* of the column it feeds, whichever comes first.
//!
//! Per database. Reads `queries/sequences.sql`: every sequence with its type's range, and the
//! column it is owned by (serial, identity, `OWNED BY`) with that column's integer range. A
//! `bigint` sequence feeding an `integer` column fails at 2³¹ − 1 although the sequence itself
//! has 2⁶³ values. The `top_n` most used are exported one by one; every sequence past
//! `thresholds.sequence_used` is a `/findings` entry (kind `sequence_exhaustion`). PostgreSQL
//! shows a sequence's value only to a role with SELECT or USAGE on it: a bare `pg_monitor`
//! role reads none, which `pgvitals_sequences{state="unreadable"}` and a warning in the log
//! say (grant `SELECT ON ALL SEQUENCES IN SCHEMA …`).

use std::sync::Arc;

use super::{BoxFuture, CollectResult, Collector, Output, PollContext};
use crate::detail::{Finding, FindingsReport, Report};
use crate::metrics::Family;
use crate::queries;

/// The `/findings` kind of a sequence near the end of its range.
pub const FINDING_KIND: &str = "sequence_exhaustion";

/// One sequence, as read.
#[derive(Debug, Clone, PartialEq)]
struct SequenceRow {
    schema: String,
    name: String,
    sequence_type: String,
    last_value: Option<f64>,
    min_value: f64,
    max_value: f64,
    increment: f64,
    cycle: bool,
    readable: bool,
    /// `schema.table.column` and its type, when the sequence is owned by a column.
    column: Option<(String, String)>,
    column_min: Option<f64>,
    column_max: Option<f64>,
}

/// Where a sequence stands: the fraction used and the value it fails at.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Usage {
    used_ratio: f64,
    limit: f64,
    /// The column's type ends the range before the sequence's own does.
    column_bound: bool,
}

impl SequenceRow {
    /// `None` for a sequence never used or not readable.
    fn usage(&self) -> Option<Usage> {
        let last = self.last_value?;
        // An ascending sequence runs from its minimum toward its maximum, a descending one the
        // other way; its column's type may end the range first.
        let (start, own_end, column_end, toward) = if self.increment > 0.0 {
            (self.min_value, self.max_value, self.column_max, 1.0)
        } else {
            (self.max_value, self.min_value, self.column_min, -1.0)
        };
        let column_end = column_end.filter(|c| (own_end - c) * toward > 0.0);
        let limit = column_end.unwrap_or(own_end);
        let span = (limit - start).abs();
        let used = if span > 0.0 {
            (last - start).abs() / span
        } else {
            1.0
        };
        Some(Usage {
            used_ratio: used.clamp(0.0, 1.0),
            limit,
            column_bound: column_end.is_some(),
        })
    }
}

fn read(row: &tokio_postgres::Row) -> Result<SequenceRow, tokio_postgres::Error> {
    let column = match (
        row.try_get::<_, Option<String>>("table_schema")?,
        row.try_get::<_, Option<String>>("table_name")?,
        row.try_get::<_, Option<String>>("column_name")?,
    ) {
        (Some(s), Some(t), Some(c)) => Some((
            format!("{s}.{t}.{c}"),
            row.try_get::<_, Option<String>>("column_type")?
                .unwrap_or_default(),
        )),
        _ => None,
    };
    Ok(SequenceRow {
        schema: row.try_get("schema")?,
        name: row.try_get("sequence")?,
        sequence_type: row.try_get("sequence_type")?,
        last_value: row.try_get("last_value")?,
        min_value: row.try_get("min_value")?,
        max_value: row.try_get("max_value")?,
        increment: row.try_get("increment")?,
        cycle: row.try_get("cycle")?,
        readable: row.try_get("readable")?,
        column,
        column_min: row.try_get("column_min")?,
        column_max: row.try_get("column_max")?,
    })
}

/// What to do about a sequence near its end, for people.
fn advice(s: &SequenceRow, u: Usage) -> String {
    let value = s.last_value.unwrap_or(0.0);
    let of = match (&s.column, u.column_bound) {
        (Some((column, ty)), true) => format!(
            "the {ty} column {column} it feeds holds at most {:.0} (the {} sequence itself goes further)",
            u.limit, s.sequence_type
        ),
        (Some((column, _)), false) => {
            format!("its {} range ends at {:.0}; it feeds {column}", s.sequence_type, u.limit)
        }
        (None, _) => format!("its {} range ends at {:.0}", s.sequence_type, u.limit),
    };
    let fix = match (&s.column, u.column_bound) {
        (Some((column, _)), true) => format!(
            "widen {column} to bigint before inserts fail (ALTER COLUMN … TYPE bigint rewrites the table: plan it)"
        ),
        _ if s.cycle => "it cycles: values will repeat".to_string(),
        _ => "widen the sequence and its column to bigint before nextval fails".to_string(),
    };
    format!(
        "{:.1} % used: last value {value:.0}, {of}; {fix}",
        u.used_ratio * 100.0
    )
}

/// Polls sequences.
#[derive(Debug)]
pub struct SequencesCollector {
    top_n: usize,
    /// `thresholds.sequence_used`.
    used_threshold: f64,
    /// Whether the unreadable sequences were logged already (once per count).
    warned: Option<usize>,
}

impl SequencesCollector {
    /// Exports the `top_n` most used; past `used_threshold` is a finding.
    pub fn new(top_n: u32, used_threshold: f64) -> SequencesCollector {
        SequencesCollector {
            top_n: top_n as usize,
            used_threshold,
            warned: None,
        }
    }
}

impl Collector for SequencesCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(async move {
            let sql = queries::SEQUENCES.sql(cx.server_version)?;
            let rows = super::collect_rows(cx.client, sql, read).await?;
            let unreadable = rows.iter().filter(|s| !s.readable).count();
            if unreadable > 0 && self.warned != Some(unreadable) {
                tracing::warn!(
                    unreadable,
                    sequences = rows.len(),
                    "the role may not read {unreadable} of {} sequences (pg_monitor does not grant it): their exhaustion goes unseen; GRANT SELECT ON ALL SEQUENCES IN SCHEMA … TO the monitoring role",
                    rows.len()
                );
            }
            self.warned = Some(unreadable);
            let mut used: Vec<(&SequenceRow, Usage)> = rows
                .iter()
                .filter_map(|s| s.usage().map(|u| (s, u)))
                .collect();
            used.sort_by(|a, b| b.1.used_ratio.total_cmp(&a.1.used_ratio));

            let mut ratio = Family::gauge(
                "pgvitals_sequence_used_ratio",
                "Fraction of the sequence's range used, up to its own maximum or its column's type's, whichever is smaller (column: the column it feeds); top_n most used. What SequenceNearExhaustion fires on.",
            );
            for (s, u) in used.iter().take(self.top_n) {
                ratio.push(
                    [
                        ("schema", s.schema.clone()),
                        ("sequence", s.name.clone()),
                        (
                            "column",
                            s.column.as_ref().map(|c| c.0.clone()).unwrap_or_default(),
                        ),
                    ],
                    u.used_ratio,
                );
            }
            let mut counts = Family::gauge(
                "pgvitals_sequences",
                "Sequences of the database (state: readable, unreadable: the role may not read their value, so their use is not known).",
            );
            counts.push(
                [("state", "readable".into())],
                (rows.len() - unreadable) as f64,
            );
            counts.push([("state", "unreadable".into())], unreadable as f64);

            let findings: Vec<Finding> = used
                .iter()
                .filter(|(_, u)| u.used_ratio > self.used_threshold)
                .map(|(s, u)| {
                    let (table, column) = match &s.column {
                        Some((c, _)) => {
                            let mut parts = c.splitn(3, '.');
                            let _schema = parts.next();
                            (
                                parts.next().unwrap_or_default().to_string(),
                                Some(c.clone()),
                            )
                        }
                        None => (String::new(), None),
                    };
                    Finding {
                        kind: FINDING_KIND,
                        schema: s.schema.clone(),
                        table,
                        sequence: Some(format!("{}.{}", s.schema, s.name)),
                        column,
                        figures: [
                            ("used_ratio", u.used_ratio),
                            ("last_value", s.last_value.unwrap_or(0.0)),
                            ("limit", u.limit),
                        ]
                        .into_iter()
                        .collect(),
                        detail: advice(s, *u),
                        ..Finding::default()
                    }
                })
                .collect();
            let findings_count = super::findings_family(&[FINDING_KIND], &findings);
            Ok(Output {
                families: vec![ratio, counts, findings_count],
                report: Some(Report::Findings(Arc::new(FindingsReport { findings }))),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(last: f64, column_max: Option<f64>) -> SequenceRow {
        SequenceRow {
            schema: "public".into(),
            name: "orders_id_seq".into(),
            sequence_type: "bigint".into(),
            last_value: Some(last),
            min_value: 1.0,
            max_value: 9_223_372_036_854_775_807.0,
            increment: 1.0,
            cycle: false,
            readable: true,
            column: column_max.map(|_| ("public.orders.id".into(), "integer".into())),
            column_min: column_max.map(|m| -m - 1.0),
            column_max,
        }
    }

    #[test]
    fn a_bigint_sequence_feeding_an_integer_column_ends_at_the_column() {
        let s = sequence(1_932_735_283.0, Some(2_147_483_647.0));
        let u = s.usage().unwrap();
        assert!(u.column_bound);
        assert_eq!(u.limit, 2_147_483_647.0);
        assert!((u.used_ratio - 0.9).abs() < 1e-6, "{u:?}");
        assert_eq!(
            advice(&s, u),
            "90.0 % used: last value 1932735283, the integer column public.orders.id it feeds holds at most 2147483647 (the bigint sequence itself goes further); widen public.orders.id to bigint before inserts fail (ALTER COLUMN … TYPE bigint rewrites the table: plan it)"
        );
        let own = sequence(1_932_735_283.0, None).usage().unwrap();
        assert!(!own.column_bound && own.used_ratio < 1e-9);
        let mut never = sequence(0.0, None);
        never.last_value = None;
        assert_eq!(never.usage(), None);
        let mut down = sequence(-90.0, None);
        down.increment = -1.0;
        down.max_value = -1.0;
        down.min_value = -101.0;
        assert!((down.usage().unwrap().used_ratio - 0.89).abs() < 1e-9);
    }
}
