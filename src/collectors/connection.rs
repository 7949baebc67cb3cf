//! `connection` collector: who is connected, in which state, for how long, against the limit.
//!
//! Cluster-wide (runs on the DSN's database). Reads `queries/connection_settings.sql`,
//! `queries/connection_activity.sql`, `queries/connection_holders.sql` (sessions per
//! application, user, client and state: who to blame when the server runs out) and
//! `queries/idle_in_transaction.sql` (the sessions doing nothing inside a transaction, listed
//! in `/connections`). `pgvitals_up` and the connection-acquisition histogram are not here:
//! they come from the scheduler's connection probe, which runs even when this collector's
//! queries cannot.

use std::sync::Arc;

use super::{BoxFuture, CollectResult, Collector, Output, PollContext};
use crate::detail::{ConnectionsReport, Holder, IdleSession, Report};
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
const HOLDERS: &str = "pgvitals_connection_holders";

/// Polls `pg_stat_activity` and the connection settings.
#[derive(Debug)]
pub struct ConnectionCollector {
    /// Holders exported one by one; idle-in-transaction sessions listed.
    pub top_n: u32,
}

impl Collector for ConnectionCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(async move {
            let settings_sql = queries::CONNECTION_SETTINGS.sql(cx.server_version)?;
            let activity_sql = queries::CONNECTION_ACTIVITY.sql(cx.server_version)?;
            let holders_sql = queries::CONNECTION_HOLDERS.sql(cx.server_version)?;
            let idle_sql = queries::IDLE_IN_TRANSACTION.sql(cx.server_version)?;
            let limit = i64::from(self.top_n);
            let idle_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&limit];
            let (settings, activity, holder_rows, idle_rows) = tokio::try_join!(
                cx.client.query_one(settings_sql, &[]),
                cx.client.query(activity_sql, &[]),
                cx.client.query(holders_sql, &[]),
                cx.client.query(idle_sql, &idle_params)
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
            let used_ratio = sessions / (max_connections - reserved).max(1.0);
            let used = Family::gauge(
                USED,
                "Client sessions / (max_connections − superuser_reserved_connections): at 1 ordinary roles are refused (what ConnectionsNearMax fires on).",
            )
            .with([], used_ratio);
            out.extend([connections, longest_xact, longest_idle, used]);

            let mut holders = Vec::new();
            let mut other_sessions = 0;
            for row in &holder_rows {
                let n: i64 = row.try_get("sessions")?;
                if holders.len() < self.top_n as usize {
                    holders.push(Holder {
                        application: row.try_get("application")?,
                        user: row.try_get("user")?,
                        client: row.try_get("client")?,
                        state: row.try_get("state")?,
                        sessions: n,
                    });
                } else {
                    other_sessions += n;
                }
            }
            let mut holder_family = Family::gauge(
                HOLDERS,
                "Client sessions per application_name, user, client address and state, the collectors.connection.top_n largest; the rest summed under application, user, client and state `other`.",
            );
            for h in &holders {
                holder_family.push(
                    [
                        ("application", h.application.clone()),
                        ("user", h.user.clone()),
                        ("client", h.client.clone()),
                        ("state", h.state.clone()),
                    ],
                    h.sessions as f64,
                );
            }
            if other_sessions > 0 {
                let other = || "other".to_string();
                holder_family.push(
                    [
                        ("application", other()),
                        ("user", other()),
                        ("client", other()),
                        ("state", other()),
                    ],
                    other_sessions as f64,
                );
            }
            out.push(holder_family);
            let idle_in_transaction = idle_rows
                .iter()
                .map(|r| {
                    Ok(IdleSession {
                        pid: r.try_get("pid")?,
                        database: r.try_get("database")?,
                        application: r.try_get("application")?,
                        user: r.try_get("user")?,
                        client: r.try_get("client")?,
                        idle_seconds: r.try_get("state_seconds")?,
                        transaction_seconds: r.try_get("transaction_seconds")?,
                        query: r.try_get("query")?,
                    })
                })
                .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
            let report = ConnectionsReport {
                sessions: sessions as i64,
                max_connections: max_connections as i64,
                reserved_connections: reserved as i64,
                used_ratio,
                holders,
                other_sessions,
                idle_in_transaction,
            };
            Ok(Output {
                families: out,
                report: Some(Report::Connections(Arc::new(report))),
            })
        })
    }
}
