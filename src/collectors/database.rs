//! `database` collector: pg_stat_database's counters per database (commits, rollbacks,
//! deadlocks, temp files, conflicts, blocks, checksum failures, and on 14+ sessions and their
//! time), and each database's size on its own, longer schedule.
//!
//! Cluster-wide (one query on the DSN's database covers every connectable database). Reads
//! `queries/database_stats.sql` (13) or `database_stats.pg14.sql` (14+: the session counters)
//! each poll, and `queries/database_size.sql` every `size_interval` (pg_database_size stats
//! every file: the sizes in between are the last ones read). The counters are PostgreSQL's
//! own, exported as they are for `rate()`: a stats reset shows as a counter reset, which
//! `rate()` handles. A column PostgreSQL leaves NULL (checksum failures with checksums off, the
//! session counters on 13) gives no sample.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::{BoxFuture, CollectResult, Collector, PollContext};
use crate::metrics::Family;
use crate::queries;

/// The counters, by column: (column, metric, help, scale to the metric's unit).
const COUNTERS: &[(&str, &str, &str, f64)] = &[
    (
        "commits",
        "pgvitals_database_commits_total",
        "Transactions committed in the database (pg_stat_database.xact_commit).",
        1.0,
    ),
    (
        "rollbacks",
        "pgvitals_database_rollbacks_total",
        "Transactions rolled back in the database (xact_rollback).",
        1.0,
    ),
    (
        "deadlocks",
        "pgvitals_database_deadlocks_total",
        "Deadlocks detected in the database.",
        1.0,
    ),
    (
        "temp_files",
        "pgvitals_database_temp_files_total",
        "Temporary files written by queries of the database (work_mem exceeded).",
        1.0,
    ),
    (
        "temp_bytes",
        "pgvitals_database_temp_bytes_total",
        "Bytes written to temporary files by queries of the database.",
        1.0,
    ),
    (
        "conflicts",
        "pgvitals_database_conflicts_total",
        "Queries cancelled by a recovery conflict (standbys only).",
        1.0,
    ),
    (
        "blocks_hit",
        "pgvitals_database_blocks_hit_total",
        "Block reads of the database served from shared buffers.",
        1.0,
    ),
    (
        "blocks_read",
        "pgvitals_database_blocks_read_total",
        "Block reads of the database that went to the OS (not in shared buffers).",
        1.0,
    ),
    (
        "checksum_failures",
        "pgvitals_database_checksum_failures_total",
        "Data page checksum failures in the database (absent when data checksums are off).",
        1.0,
    ),
    (
        "sessions",
        "pgvitals_database_sessions_total",
        "Sessions established to the database (14+); rate() is the session churn.",
        1.0,
    ),
    (
        "sessions_abandoned",
        "pgvitals_database_sessions_abandoned_total",
        "Sessions that ended because the client went away (14+).",
        1.0,
    ),
    (
        "sessions_fatal",
        "pgvitals_database_sessions_fatal_total",
        "Sessions that ended with a fatal error (14+).",
        1.0,
    ),
    (
        "sessions_killed",
        "pgvitals_database_sessions_killed_total",
        "Sessions terminated by an operator (14+).",
        1.0,
    ),
    (
        "session_ms",
        "pgvitals_database_session_seconds_total",
        "Time sessions of the database spent connected (14+).",
        1e-3,
    ),
    (
        "active_ms",
        "pgvitals_database_active_seconds_total",
        "Time sessions of the database spent running statements (14+).",
        1e-3,
    ),
    (
        "idle_in_transaction_ms",
        "pgvitals_database_idle_in_transaction_seconds_total",
        "Time sessions of the database spent idle in a transaction (14+).",
        1e-3,
    ),
];

const SIZE: &str = "pgvitals_database_size_bytes";
const RECENT_DEADLOCKS: &str = "pgvitals_database_deadlocks_last_5m";
/// The window of [`RECENT_DEADLOCKS`].
const RECENT: Duration = Duration::from_secs(300);

/// Polls pg_stat_database, and database sizes now and then.
#[derive(Debug)]
pub struct DatabaseCollector {
    size_interval: Duration,
    /// The sizes last read, and when.
    sizes: Option<(Instant, Vec<(String, f64)>)>,
    /// Each database's deadlock counter over the last [`RECENT`], oldest first.
    deadlocks: HashMap<String, VecDeque<(Instant, f64)>>,
}

/// Deadlocks counted over a run of readings of the counter: the sum of its increases (a
/// reading below the one before is a stats reset, counted from zero).
fn increase(readings: &VecDeque<(Instant, f64)>) -> f64 {
    readings
        .iter()
        .zip(readings.iter().skip(1))
        .map(|((_, a), (_, b))| if b >= a { b - a } else { *b })
        .sum()
}

impl DatabaseCollector {
    /// Sizes are read every `size_interval`.
    pub fn new(size_interval: Duration) -> DatabaseCollector {
        DatabaseCollector {
            size_interval,
            sizes: None,
            deadlocks: HashMap::new(),
        }
    }
}

impl Collector for DatabaseCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(async move {
            let rows = cx
                .client
                .query(queries::DATABASE_STATS.sql(cx.server_version)?, &[])
                .await?;
            let mut families: Vec<Family> = COUNTERS
                .iter()
                .map(|(_, name, help, _)| Family::counter(name, help))
                .collect();
            let now = Instant::now();
            let mut recent = Family::gauge(
                RECENT_DEADLOCKS,
                "Deadlocks detected in the database over the last 5 minutes (from pgvitals' readings of pg_stat_database.deadlocks; what DeadlocksDetected fires on).",
            );
            let mut seen = Vec::new();
            for row in &rows {
                let db: String = row.try_get("database")?;
                if let Some(d) = row.try_get::<_, Option<f64>>("deadlocks")? {
                    let readings = self.deadlocks.entry(db.clone()).or_default();
                    readings.push_back((now, d));
                    // Keep one reading at or before the window's start, to count from it.
                    while readings.len() > 2 && now.duration_since(readings[1].0) >= RECENT {
                        readings.pop_front();
                    }
                    recent.push([("database", db.clone())], increase(readings));
                    seen.push(db.clone());
                }
                for ((column, _, _, scale), family) in COUNTERS.iter().zip(&mut families) {
                    if let Some(v) = row.try_get::<_, Option<f64>>(*column)? {
                        family.push([("database", db.clone())], v * scale);
                    }
                }
            }
            if self
                .sizes
                .as_ref()
                .is_none_or(|(at, _)| at.elapsed() >= self.size_interval)
            {
                let rows = cx
                    .client
                    .query(queries::DATABASE_SIZE.sql(cx.server_version)?, &[])
                    .await?;
                let sizes = rows
                    .iter()
                    .map(|r| Ok((r.try_get("database")?, r.try_get("bytes")?)))
                    .collect::<Result<Vec<(String, f64)>, tokio_postgres::Error>>()?;
                self.sizes = Some((Instant::now(), sizes));
            }
            let mut size = Family::gauge(
                SIZE,
                "Bytes on disk of the database (pg_database_size), read every collectors.database.size_interval.",
            );
            for (db, bytes) in self.sizes.iter().flat_map(|(_, s)| s) {
                size.push([("database", db.clone())], *bytes);
            }
            self.deadlocks.retain(|db, _| seen.contains(db));
            families.push(size);
            families.push(recent);
            Ok(families.into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlocks_are_counted_across_a_stats_reset() {
        let t = Instant::now();
        let r = |v: &[f64]| v.iter().map(|v| (t, *v)).collect::<VecDeque<_>>();
        assert_eq!(increase(&r(&[3.0])), 0.0);
        assert_eq!(increase(&r(&[3.0, 3.0, 4.0])), 1.0);
        assert_eq!(
            increase(&r(&[3.0, 5.0, 1.0, 2.0])),
            4.0,
            "2, then reset to 1, then 1"
        );
    }
}
