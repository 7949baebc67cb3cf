//! `replication` collector: how far behind each standby is, seen from the primary and from the
//! standby itself, and what each replication slot keeps on disk.
//!
//! Cluster-wide. Reads `queries/replication.sql` (a primary's `pg_stat_replication`, or a
//! standby's own receive/replay position) and `queries/replication_slots.sql`. PostgreSQL's
//! `replay_lag` is measured only as replay advances: a standby whose replay is stuck (paused,
//! or blocked by a conflict) keeps showing its last, small lag. So on a primary the replay lag
//! is also timed by pgvitals: the age of the oldest of its own readings of the primary's WAL
//! position that the standby has not replayed yet, and the larger of the two is exported. On a
//! standby the lag is `now() − pg_last_xact_replay_timestamp()` while WAL is received and not
//! replayed, 0 when it is caught up.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{BoxFuture, CollectResult, Collector, PollContext};
use crate::metrics::Family;
use crate::queries;

/// How long the primary's WAL positions are kept to time a standby's lag by.
const POSITIONS_KEPT: Duration = Duration::from_secs(3600);

/// Polls replication and slots.
#[derive(Debug, Default)]
pub struct ReplicationCollector {
    /// The primary's WAL position (bytes) as read each poll, oldest first.
    positions: VecDeque<(Instant, f64)>,
}

impl ReplicationCollector {
    /// How long ago the primary was first seen past `replayed`: a lower bound of how old the
    /// oldest WAL the standby has not replayed is. 0 when nothing is pending.
    fn pending_since(&self, replayed: f64, now: Instant) -> f64 {
        self.positions
            .iter()
            .find(|(_, lsn)| *lsn > replayed)
            .map_or(0.0, |(at, _)| now.duration_since(*at).as_secs_f64())
    }

    fn remember(&mut self, now: Instant, lsn: f64) {
        self.positions.push_back((now, lsn));
        while self
            .positions
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > POSITIONS_KEPT)
        {
            self.positions.pop_front();
        }
    }
}

impl Collector for ReplicationCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(async move {
            let v = cx.server_version;
            let rows = cx.client.query(queries::REPLICATION.sql(v)?, &[]).await?;
            let now = Instant::now();
            let mut replay = Family::gauge(
                "pgvitals_replication_replay_lag_seconds",
                "How old the oldest WAL a standby has not replayed is (role=standby: a standby of this primary, the larger of pg_stat_replication.replay_lag and pgvitals' own timing; role=self: this server is the standby). What ReplicationLagHigh fires on.",
            );
            let mut write = Family::gauge(
                "pgvitals_replication_write_lag_seconds",
                "pg_stat_replication.write_lag of each standby of this primary (absent: no recent WAL).",
            );
            let mut flush = Family::gauge(
                "pgvitals_replication_flush_lag_seconds",
                "pg_stat_replication.flush_lag of each standby of this primary (absent: no recent WAL).",
            );
            let mut bytes = Family::gauge(
                "pgvitals_replication_lag_bytes",
                "WAL bytes a standby has yet to send, write, flush or replay (stage); role=self: received and not yet replayed.",
            );
            let mut paused = Family::gauge(
                "pgvitals_standby_replay_paused",
                "1 while replay is paused on this standby (pg_wal_replay_pause()).",
            );
            let mut receiving = Family::gauge(
                "pgvitals_standby_wal_receiver_streaming",
                "1 while this standby's WAL receiver streams from its primary.",
            );
            let mut last_replay = Family::gauge(
                "pgvitals_standby_last_replay_timestamp_seconds",
                "Unix time of the last transaction this standby replayed.",
            );
            let mut standbys = 0.0;
            let mut current = None;
            for row in &rows {
                let role: String = row.try_get("role")?;
                let name: String = row.try_get("standby")?;
                let labels = [("role", role.clone()), ("standby", name.clone())];
                let reported: Option<f64> = row.try_get("replay_lag_seconds")?;
                if role == "standby" {
                    standbys += 1.0;
                    let lsn: f64 = row.try_get("current_lsn_bytes")?;
                    current = Some(lsn);
                    let replayed: Option<f64> = row.try_get("replay_lsn_bytes")?;
                    let timed = replayed.map_or(0.0, |r| self.pending_since(r, now));
                    replay.push(labels.clone(), reported.unwrap_or(0.0).max(timed));
                    for (column, family) in [
                        ("write_lag_seconds", &mut write),
                        ("flush_lag_seconds", &mut flush),
                    ] {
                        if let Some(s) = row.try_get::<_, Option<f64>>(column)? {
                            family.push(labels.clone(), s);
                        }
                    }
                    for stage in ["sent", "write", "flush", "replay"] {
                        if let Some(b) =
                            row.try_get::<_, Option<f64>>(format!("{stage}_lag_bytes").as_str())?
                        {
                            bytes.push(
                                [
                                    ("role", role.clone()),
                                    ("standby", name.clone()),
                                    ("stage", stage.to_string()),
                                ],
                                b,
                            );
                        }
                    }
                } else {
                    replay.push(labels.clone(), reported.unwrap_or(0.0).max(0.0));
                    if let Some(b) = row.try_get::<_, Option<f64>>("replay_lag_bytes")? {
                        bytes.push(
                            [
                                ("role", role.clone()),
                                ("standby", name.clone()),
                                ("stage", "replay".to_string()),
                            ],
                            b,
                        );
                    }
                    let flag = |b: Option<bool>| f64::from(u8::from(b.unwrap_or(false)));
                    paused.push([], flag(row.try_get("replay_paused")?));
                    receiving.push([], flag(row.try_get("receiving")?));
                    if let Some(t) = row.try_get::<_, Option<f64>>("last_replay_seconds")? {
                        last_replay.push([], t);
                    }
                }
            }
            // This poll's position is remembered after the standbys were timed against the
            // earlier ones (kept while standbys stream).
            let slots = cx
                .client
                .query(queries::REPLICATION_SLOTS.sql(v)?, &[])
                .await?;
            let mut retained = Family::gauge(
                "pgvitals_replication_slot_retained_bytes",
                "WAL bytes kept on disk for the replication slot (active: whether a consumer is connected). What ReplicationSlotInactive fires on.",
            );
            let mut safe = Family::gauge(
                "pgvitals_replication_slot_safe_wal_size_bytes",
                "WAL bytes that can still be written before the slot is lost (max_slot_wal_keep_size).",
            );
            let mut status = Family::gauge(
                "pgvitals_replication_slot_wal_status",
                "The slot's wal_status (reserved, extended, unreserved, lost) as a label; value 1.",
            );
            for row in &slots {
                let slot: String = row.try_get("slot")?;
                if let Some(b) = row.try_get::<_, Option<f64>>("retained_bytes")? {
                    retained.push(
                        [
                            ("slot", slot.clone()),
                            ("slot_type", row.try_get("slot_type")?),
                            ("database", row.try_get("database")?),
                            ("active", row.try_get::<_, bool>("active")?.to_string()),
                        ],
                        b,
                    );
                }
                if let Some(b) = row.try_get::<_, Option<f64>>("safe_wal_size")? {
                    safe.push([("slot", slot.clone())], b);
                }
                let s: String = row.try_get("wal_status")?;
                if !s.is_empty() {
                    status.push([("slot", slot), ("status", s)], 1.0);
                }
            }
            if let Some(lsn) = current {
                self.remember(now, lsn);
            } else {
                self.positions.clear();
            }
            let mut count = Family::gauge(
                "pgvitals_replication_standbys",
                "Standbys streaming from this server (pg_stat_replication rows).",
            );
            count.push([], standbys);
            Ok(vec![
                replay,
                write,
                flush,
                bytes,
                count,
                paused,
                receiving,
                last_replay,
                retained,
                safe,
                status,
            ]
            .into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stuck_standby_is_as_far_behind_as_the_oldest_position_it_has_not_replayed() {
        let mut c = ReplicationCollector::default();
        let t0 = Instant::now();
        c.remember(t0, 100.0);
        c.remember(t0 + Duration::from_secs(10), 200.0);
        c.remember(t0 + Duration::from_secs(20), 300.0);
        let now = t0 + Duration::from_secs(30);
        assert_eq!(c.pending_since(300.0, now), 0.0, "caught up");
        assert_eq!(c.pending_since(150.0, now), 20.0, "200 was read 20 s ago");
        assert_eq!(c.pending_since(50.0, now), 30.0);
    }
}
