//! `vacuum` collector: the tables autovacuum has fallen behind on, judged by each table's own
//! thresholds, and the tables closest to an anti-wraparound vacuum.
//!
//! Per database. Reads `queries/vacuum.sql`, which computes each table's thresholds the way
//! autovacuum does (`autovacuum_vacuum_threshold + scale_factor × reltuples`, the insert
//! threshold, `autovacuum_freeze_max_age`), with the table's reloptions over the server's
//! settings. A table past one of them is overdue from the first poll that saw it so (PostgreSQL
//! does not say since when); `/findings` lists every overdue table (kind `autovacuum_overdue`),
//! and the `top_n` worst are exported one by one. Dead tuples and vacuum times per table are
//! the indexes collector's (`pgvitals_table_dead_tuples`, `pgvitals_table_last_vacuum_…`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::{BoxFuture, CollectResult, Collector, Output, PollContext};
use crate::detail::{Finding, FindingsReport, Report};
use crate::metrics::Family;
use crate::plan::whole;
use crate::queries;

/// The `/findings` kind of a table past its autovacuum threshold.
pub const FINDING_KIND: &str = "autovacuum_overdue";

/// Why a table is due: which threshold it is past.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Due {
    DeadTuples,
    Inserts,
    Freeze,
}

impl Due {
    fn label(self) -> &'static str {
        match self {
            Due::DeadTuples => "dead_tuples",
            Due::Inserts => "inserts",
            Due::Freeze => "transaction_id_age",
        }
    }
}

/// One table's standing.
#[derive(Debug)]
struct TableRow {
    schema: String,
    table: String,
    live: f64,
    dead: f64,
    inserted: f64,
    vacuum_threshold: f64,
    insert_threshold: Option<f64>,
    autovacuum_enabled: bool,
    xid_age: f64,
    freeze_max_age: f64,
    last_vacuum: Option<f64>,
}

impl TableRow {
    fn due(&self) -> Vec<Due> {
        let mut due = Vec::new();
        if self.dead > self.vacuum_threshold {
            due.push(Due::DeadTuples);
        }
        if self.insert_threshold.is_some_and(|t| self.inserted > t) {
            due.push(Due::Inserts);
        }
        if self.xid_age > self.freeze_max_age {
            due.push(Due::Freeze);
        }
        due
    }

    fn dead_ratio(&self) -> f64 {
        let all = self.live + self.dead;
        if all > 0.0 {
            self.dead / all
        } else {
            0.0
        }
    }
}

/// Polls autovacuum's standing per table.
#[derive(Debug)]
pub struct VacuumCollector {
    top_n: usize,
    /// Since when each table has been past each threshold (as first seen).
    overdue_since: HashMap<(String, String, Due), Instant>,
}

impl VacuumCollector {
    /// Exports the `top_n` worst tables one by one.
    pub fn new(top_n: u32) -> VacuumCollector {
        VacuumCollector {
            top_n: top_n as usize,
            overdue_since: HashMap::new(),
        }
    }
}

fn read(row: &tokio_postgres::Row) -> Result<TableRow, tokio_postgres::Error> {
    Ok(TableRow {
        schema: row.try_get("schema")?,
        table: row.try_get("table_name")?,
        live: row.try_get("live")?,
        dead: row.try_get("dead")?,
        inserted: row.try_get("inserted")?,
        vacuum_threshold: row.try_get("vacuum_threshold")?,
        insert_threshold: row.try_get("insert_threshold")?,
        autovacuum_enabled: row.try_get("autovacuum_enabled")?,
        xid_age: row.try_get("xid_age")?,
        freeze_max_age: row.try_get("freeze_max_age")?,
        last_vacuum: row.try_get("last_vacuum")?,
    })
}

/// What to do about an overdue table, for people.
fn advice(t: &TableRow, due: Due, seconds: f64) -> String {
    let why = match due {
        Due::DeadTuples => format!(
            "{} dead rows ({:.0} % of the table) against its autovacuum threshold of {}",
            whole(t.dead),
            t.dead_ratio() * 100.0,
            whole(t.vacuum_threshold)
        ),
        Due::Inserts => format!(
            "{} rows inserted since its last vacuum against its insert threshold of {}",
            whole(t.inserted),
            whole(t.insert_threshold.unwrap_or(0.0))
        ),
        Due::Freeze => format!(
            "transaction ID age {} past autovacuum_freeze_max_age {}",
            whole(t.xid_age),
            whole(t.freeze_max_age)
        ),
    };
    let cause = if t.autovacuum_enabled {
        "autovacuum has not got to it (workers busy elsewhere, or the xmin horizon held back: see pgvitals_xmin_horizon_holder_age_seconds)"
    } else {
        "autovacuum is off for it (reloptions autovacuum_enabled = false, or autovacuum = off)"
    };
    format!(
        "{why}, overdue for {}: {cause}; VACUUM (ANALYZE) it",
        crate::template::humanize_duration(seconds)
    )
}

impl Collector for VacuumCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(async move {
            let sql = queries::VACUUM.sql(cx.server_version)?;
            let tables = super::collect_rows(cx.client, sql, read).await?;
            let now = Instant::now();
            let mut since = HashMap::new();
            let mut overdue: Vec<(&TableRow, Due, f64)> = Vec::new();
            for t in &tables {
                for due in t.due() {
                    let key = (t.schema.clone(), t.table.clone(), due);
                    let at = *self.overdue_since.get(&key).unwrap_or(&now);
                    since.insert(key, at);
                    overdue.push((t, due, now.duration_since(at).as_secs_f64()));
                }
            }
            self.overdue_since = since;
            // Longest overdue first; then the most dead rows.
            overdue.sort_by(|a, b| b.2.total_cmp(&a.2).then(b.0.dead.total_cmp(&a.0.dead)));

            let mut overdue_seconds = Family::gauge(
                "pgvitals_table_autovacuum_overdue_seconds",
                "A table past one of its own autovacuum thresholds (reason: dead_tuples, inserts, transaction_id_age), for this long as pgvitals has seen it; top_n longest. What AutovacuumOverdue fires on.",
            );
            for (t, due, seconds) in overdue.iter().take(self.top_n) {
                overdue_seconds.push(
                    [
                        ("schema", t.schema.clone()),
                        ("table", t.table.clone()),
                        ("reason", due.label().to_string()),
                    ],
                    *seconds,
                );
            }
            let mut by_dead: Vec<&TableRow> = tables.iter().filter(|t| t.dead > 0.0).collect();
            by_dead.sort_by(|a, b| b.dead.total_cmp(&a.dead));
            let mut dead_ratio = Family::gauge(
                "pgvitals_table_dead_tuple_ratio",
                "Dead rows / (live + dead) of the top_n tables with the most dead rows.",
            );
            let mut threshold_ratio = Family::gauge(
                "pgvitals_table_autovacuum_threshold_ratio",
                "Dead rows / the table's autovacuum vacuum threshold (1: due) of the top_n tables with the most dead rows.",
            );
            for t in by_dead.iter().take(self.top_n) {
                let labels = [("schema", t.schema.clone()), ("table", t.table.clone())];
                dead_ratio.push(labels.clone(), t.dead_ratio());
                threshold_ratio.push(labels, t.dead / t.vacuum_threshold.max(1.0));
            }
            let mut by_age: Vec<&TableRow> = tables.iter().collect();
            by_age.sort_by(|a, b| b.xid_age.total_cmp(&a.xid_age));
            let mut xid_age = Family::gauge(
                "pgvitals_table_transaction_id_age",
                "age(relfrozenxid) of the top_n oldest tables (their TOAST tables included): an anti-wraparound vacuum starts at autovacuum_freeze_max_age.",
            );
            for t in by_age.iter().take(self.top_n) {
                xid_age.push(
                    [("schema", t.schema.clone()), ("table", t.table.clone())],
                    t.xid_age,
                );
            }
            let mut counts = Family::gauge(
                "pgvitals_tables_autovacuum",
                "Tables of the database by autovacuum standing (state: overdue, disabled).",
            );
            let overdue_tables = {
                let mut names: Vec<(&str, &str)> = overdue
                    .iter()
                    .map(|(t, _, _)| (t.schema.as_str(), t.table.as_str()))
                    .collect();
                names.sort();
                names.dedup();
                names.len()
            };
            counts.push([("state", "overdue".into())], overdue_tables as f64);
            let disabled = tables.iter().filter(|t| !t.autovacuum_enabled).count();
            counts.push([("state", "disabled".into())], disabled as f64);
            let findings: Vec<Finding> = overdue
                .iter()
                .map(|(t, due, seconds)| Finding {
                    kind: FINDING_KIND,
                    schema: t.schema.clone(),
                    table: t.table.clone(),
                    figures: [
                        ("dead_tuples", t.dead),
                        ("dead_tuple_ratio", t.dead_ratio()),
                        ("vacuum_threshold", t.vacuum_threshold),
                        ("inserted_since_vacuum", t.inserted),
                        ("transaction_id_age", t.xid_age),
                        ("overdue_seconds", *seconds),
                    ]
                    .into_iter()
                    .chain(t.insert_threshold.map(|v| ("insert_threshold", v)))
                    .chain(t.last_vacuum.map(|v| ("last_vacuum", v)))
                    .collect(),
                    detail: advice(t, *due, *seconds),
                    ..Finding::default()
                })
                .collect();
            let findings_count = super::findings_family(&[FINDING_KIND], &findings);
            Ok(Output {
                families: vec![
                    overdue_seconds,
                    dead_ratio,
                    threshold_ratio,
                    xid_age,
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

    fn table(dead: f64, threshold: f64) -> TableRow {
        TableRow {
            schema: "public".into(),
            table: "t".into(),
            live: 100.0,
            dead,
            inserted: 0.0,
            vacuum_threshold: threshold,
            insert_threshold: Some(1000.0),
            autovacuum_enabled: false,
            xid_age: 10.0,
            freeze_max_age: 200_000_000.0,
            last_vacuum: None,
        }
    }

    #[test]
    fn a_table_is_due_past_each_of_its_own_thresholds() {
        assert!(
            table(70.0, 70.0).due().is_empty(),
            "at the threshold: not yet"
        );
        assert_eq!(table(71.0, 70.0).due(), vec![Due::DeadTuples]);
        let mut t = table(0.0, 70.0);
        t.inserted = 1001.0;
        t.xid_age = 200_000_001.0;
        assert_eq!(t.due(), vec![Due::Inserts, Due::Freeze]);
        t.insert_threshold = None;
        assert_eq!(t.due(), vec![Due::Freeze], "no insert threshold: off");
        let a = advice(&table(100.0, 70.0), Due::DeadTuples, 4000.0);
        assert!(
            a.starts_with("100 dead rows (50 % of the table) against its autovacuum threshold of 70, overdue for 1h 6m 40s: autovacuum is off for it"),
            "{a}"
        );
    }
}
