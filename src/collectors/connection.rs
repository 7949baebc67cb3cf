//! `connection` collector: who is connected, in which state, for how long, against the limit.
//!
//! Cluster-wide (runs on the DSN's database). Reads `queries/connection_settings.sql` and
//! `queries/connection_activity.sql`. `pgvitals_up` and the connection-acquisition histogram are
//! not here: they come from the scheduler's connection probe, which runs even when this
//! collector's queries cannot.

use super::{BoxFuture, CollectResult, Collector, PollContext};
use crate::metrics::Family;
use crate::queries;

const SERVER_INFO: &str = "pgvitals_server_info";
const START_TIME: &str = "pgvitals_postmaster_start_time_seconds";
const IN_RECOVERY: &str = "pgvitals_in_recovery";
const MAX: &str = "pgvitals_connections_max";
const RESERVED: &str = "pgvitals_connections_reserved";
const CONNECTIONS: &str = "pgvitals_connections";
const USED: &str = "pgvitals_connections_used_ratio";
const LONGEST_XACT: &str = "pgvitals_transaction_longest_seconds";
const LONGEST_IDLE_XACT: &str = "pgvitals_idle_in_transaction_longest_seconds";

/// Polls `pg_stat_activity` and the connection settings.
#[derive(Debug, Default)]
pub struct ConnectionCollector;

impl Collector for ConnectionCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(async move {
            let settings_sql = queries::CONNECTION_SETTINGS.sql(cx.server_version)?;
            let activity_sql = queries::CONNECTION_ACTIVITY.sql(cx.server_version)?;
            let (settings, activity) = tokio::try_join!(
                cx.client.query_one(settings_sql, &[]),
                cx.client.query(activity_sql, &[])
            )?;

            let max_connections = settings.try_get::<_, i64>("max_connections")? as f64;
            let reserved = settings.try_get::<_, i64>("reserved_connections")? as f64;
            let version: String = settings.try_get("server_version")?;
            let version_num: i32 = settings.try_get("server_version_num")?;
            let mut out = vec![
                Family::gauge(
                    SERVER_INFO,
                    "PostgreSQL server version, as labels; value 1.",
                )
                .with(
                    [
                        ("version", version),
                        ("version_num", version_num.to_string()),
                    ],
                    1.0,
                ),
                Family::gauge(START_TIME, "Unix time the PostgreSQL server started.")
                    .with([], settings.try_get::<_, f64>("start_time_seconds")?),
                Family::gauge(
                    IN_RECOVERY,
                    "1 if the server is a standby (in recovery), else 0.",
                )
                .with(
                    [],
                    f64::from(u8::from(settings.try_get::<_, bool>("in_recovery")?)),
                ),
                Family::gauge(MAX, "max_connections of the server.").with([], max_connections),
                Family::gauge(RESERVED, "superuser_reserved_connections of the server.")
                    .with([], reserved),
            ];

            let mut connections = Family::gauge(
                CONNECTIONS,
                "Client sessions per database and state (pg_stat_activity).",
            );
            let mut longest_xact = Family::gauge(
                LONGEST_XACT,
                "Age of the oldest open transaction per database, 0 when none.",
            );
            let mut longest_idle = Family::gauge(
                LONGEST_IDLE_XACT,
                "Longest time a session of the database has sat idle in a transaction, 0 when none.",
            );
            let mut current_db: Option<(String, f64)> = None;
            let mut sessions = 0.0;
            for row in &activity {
                let db: String = row.try_get("database")?;
                let state: String = row.try_get("state")?;
                let n: i64 = row.try_get("connections")?;
                sessions += n as f64;
                let xact: f64 = row.try_get("longest_transaction_seconds")?;
                let in_state: f64 = row.try_get("longest_in_state_seconds")?;
                connections.push(
                    [("database", db.clone()), ("state", state.clone())],
                    n as f64,
                );
                if state == "idle_in_transaction" {
                    longest_idle.push([("database", db.clone())], in_state);
                }
                // Rows come ordered by database: fold the per-state maxima per database.
                match &mut current_db {
                    Some((d, max)) if *d == db => *max = max.max(xact),
                    _ => {
                        if let Some((d, max)) = current_db.take() {
                            longest_xact.push([("database", d)], max);
                        }
                        current_db = Some((db, xact));
                    }
                }
            }
            if let Some((d, max)) = current_db {
                longest_xact.push([("database", d)], max);
            }
            let used = Family::gauge(
                USED,
                "Client sessions / (max_connections − superuser_reserved_connections): at 1 ordinary roles are refused (what ConnectionsNearMax fires on).",
            )
            .with([], sessions / (max_connections - reserved).max(1.0));
            out.extend([connections, longest_xact, longest_idle, used]);
            Ok(out.into())
        })
    }
}
