//! `wraparound` collector: how close each database is to transaction ID and multixact ID
//! wraparound, and what holds back the xmin horizon (the reason vacuum cannot clean or freeze).
//!
//! Cluster-wide (one poll on the DSN's database covers every database, template0 included).
//! Reads `queries/wraparound.sql` (the ages of `datfrozenxid` and `datminmxid`, the freeze
//! settings, autovacuum workers busy) and `queries/xmin_horizon.sql` (the 20 oldest holders:
//! sessions, prepared transactions, replication slots, standbys with feedback). The used
//! fraction is the age over 2³¹, where PostgreSQL stops assigning IDs. How long a slot or a
//! standby has held its xmin is not in the catalog; pgvitals counts it from the first poll that
//! saw that same xmin.

use std::collections::HashMap;
use std::time::Instant;

use super::{BoxFuture, CollectResult, Collector, PollContext};
use crate::metrics::Family;
use crate::queries;

/// Transaction (and multixact) IDs are compared modulo 2³²: at an age of 2³¹ the oldest would
/// look newer than the newest, so the server refuses new IDs before that.
pub const ID_LIMIT: f64 = 2_147_483_648.0;

/// Which holder, holding which ID: timed from when pgvitals first saw it.
type HeldId = (String, String, String);

/// Polls the ages and the xmin horizon.
#[derive(Debug, Default)]
pub struct WraparoundCollector {
    /// Slots and standbys (no start time in the catalog): when their xmin was first seen.
    first_seen: HashMap<HeldId, Instant>,
}

impl Collector for WraparoundCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(async move {
            let v = cx.server_version;
            let rows = cx.client.query(queries::WRAPAROUND.sql(v)?, &[]).await?;
            let mut xid = Family::gauge(
                "pgvitals_database_transaction_id_age",
                "age(datfrozenxid): transactions since the database's oldest unfrozen transaction ID; anti-wraparound vacuum starts at autovacuum_freeze_max_age.",
            );
            let mut mxid = Family::gauge(
                "pgvitals_database_multixact_id_age",
                "mxid_age(datminmxid): multixacts since the database's oldest unfrozen multixact ID.",
            );
            let mut xid_used = Family::gauge(
                "pgvitals_database_transaction_id_used_ratio",
                "The database's transaction ID age over 2^31, where PostgreSQL stops assigning IDs (what TransactionIdWraparoundRisk fires on).",
            );
            let mut mxid_used = Family::gauge(
                "pgvitals_database_multixact_id_used_ratio",
                "The database's multixact ID age over 2^31.",
            );
            let mut settings = Vec::new();
            for row in &rows {
                let db: String = row.try_get("database")?;
                let x: f64 = row.try_get("xid_age")?;
                let m: f64 = row.try_get("mxid_age")?;
                xid.push([("database", db.clone())], x);
                mxid.push([("database", db.clone())], m);
                xid_used.push([("database", db.clone())], x / ID_LIMIT);
                mxid_used.push([("database", db)], m / ID_LIMIT);
                if settings.is_empty() {
                    for (column, name, help) in [
                        ("freeze_max_age", "pgvitals_autovacuum_freeze_max_age", "autovacuum_freeze_max_age: the transaction ID age at which a table gets an anti-wraparound vacuum."),
                        ("mxid_freeze_max_age", "pgvitals_autovacuum_multixact_freeze_max_age", "autovacuum_multixact_freeze_max_age."),
                        ("workers_busy", "pgvitals_autovacuum_workers_busy", "Autovacuum workers running now (all databases)."),
                        ("max_workers", "pgvitals_autovacuum_max_workers", "autovacuum_max_workers: with all of them busy, tables wait their turn."),
                    ] {
                        let mut f = Family::gauge(name, help);
                        f.push([], row.try_get::<_, f64>(column)?);
                        settings.push(f);
                    }
                }
            }

            let holders = cx.client.query(queries::XMIN_HORIZON.sql(v)?, &[]).await?;
            let mut oldest = Family::gauge(
                "pgvitals_xmin_horizon_age_transactions",
                "Age of the oldest transaction ID anything holds (0: nothing holds one): vacuum keeps every row version newer than it.",
            );
            let mut held = Family::gauge(
                "pgvitals_xmin_horizon_holder_age_seconds",
                "How long each of the oldest xmin holders (kind: session, prepared_transaction, replication_slot, standby) has held it: its transaction's age, or since pgvitals first saw the same xmin (slots, standbys). What XminHorizonHeld fires on.",
            );
            let mut held_xids = Family::gauge(
                "pgvitals_xmin_horizon_holder_age_transactions",
                "Age of the transaction ID each of the oldest xmin holders holds.",
            );
            let now = Instant::now();
            let mut seen = HashMap::new();
            let mut max_age = 0.0f64;
            for row in &holders {
                let kind: String = row.try_get("kind")?;
                let holder: String = row.try_get("holder")?;
                let xid_age: f64 = row.try_get("xid_age")?;
                let xmin: String = row
                    .try_get::<_, Option<String>>("xmin")?
                    .unwrap_or_default();
                let seconds = match row.try_get::<_, Option<f64>>("seconds")? {
                    Some(s) => s,
                    None => {
                        let key = (kind.clone(), holder.clone(), xmin);
                        let since = *self.first_seen.get(&key).unwrap_or(&now);
                        seen.insert(key, since);
                        now.duration_since(since).as_secs_f64()
                    }
                };
                max_age = max_age.max(xid_age);
                let pid = row
                    .try_get::<_, Option<i32>>("pid")?
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                let labels = [
                    ("kind", kind),
                    ("holder", holder),
                    ("pid", pid),
                    ("application", row.try_get("application")?),
                    ("user", row.try_get("user")?),
                    ("database", row.try_get("database")?),
                ];
                held.push(labels.clone(), seconds);
                held_xids.push(labels, xid_age);
            }
            self.first_seen = seen;
            oldest.push([], max_age);
            let mut families = vec![xid, mxid, xid_used, mxid_used, oldest, held, held_xids];
            families.extend(settings);
            Ok(families.into())
        })
    }
}
