//! A PgBouncer reading as metric families: per pool (database, user) the clients and servers
//! by state, the longest client wait and the saturation; per database PgBouncer's counters as
//! they are (for `rate()`) and, from two readings, the interval's mean query, transaction and
//! wait times. A counter that went down (PgBouncer restarted) starts a new baseline: that
//! database has no means for the interval, never a negative one.

use std::collections::HashMap;

use super::admin::{Reading, Stats};
use crate::metrics::Family;

/// Metric of the longest client wait per pool; `ConnectionAcquisitionSlow` reads it.
pub const LONGEST_WAIT: &str = "pgvitals_pgbouncer_client_wait_longest_seconds";
/// Metric of a pool's saturation; `ConnectionAcquisitionSlow` names it in its annotation.
pub const SATURATION: &str = "pgvitals_pgbouncer_pool_saturation_ratio";

/// The previous `SHOW STATS`, by database.
#[derive(Debug, Default)]
pub struct Baseline {
    stats: HashMap<String, Stats>,
}

impl Baseline {
    /// Forgets every database (the connection was lost: PgBouncer may have restarted).
    pub fn clear(&mut self) {
        self.stats.clear();
    }
}

/// The families of one reading; `baseline` becomes this reading's counters.
pub fn families(reading: &Reading, baseline: &mut Baseline) -> Vec<Family> {
    let mut out = pools(reading);
    out.extend(stats(reading, baseline));
    out.extend(databases(reading));
    let mut lists = Family::gauge(
        "pgvitals_pgbouncer_list_items",
        "Items in each of PgBouncer's internal lists (SHOW LISTS): databases, users, pools, free and used clients and servers, DNS.",
    );
    for (list, items) in &reading.lists {
        lists.push([("list", list.clone())], *items);
    }
    out.push(lists);
    out
}

fn pools(reading: &Reading) -> Vec<Family> {
    let pool_size: HashMap<&str, f64> = reading
        .databases
        .iter()
        .map(|d| (d.name.as_str(), d.pool_size))
        .collect();
    let mut active = Family::gauge(
        "pgvitals_pgbouncer_clients_active",
        "Clients of the pool linked to a server or idle with no query waiting (cl_active).",
    );
    let mut waiting = Family::gauge(
        "pgvitals_pgbouncer_clients_waiting",
        "Clients of the pool that sent a query and wait for a server (cl_waiting): the application is waiting for a connection.",
    );
    let mut cancel = Family::gauge(
        "pgvitals_pgbouncer_clients_cancel_waiting",
        "Cancel requests of the pool's clients waiting to be forwarded (cl_waiting_cancel_req; cl_cancel_req before 1.18).",
    );
    let mut servers = Family::gauge(
        "pgvitals_pgbouncer_servers",
        "Server connections of the pool by state: active (linked to a client), idle, used (idle, to be checked), tested, login.",
    );
    let mut longest = Family::gauge(
        LONGEST_WAIT,
        "How long the pool's oldest waiting client has waited for a server (maxwait + maxwait_us); 0 when none waits. Over thresholds.connection_acquisition fires ConnectionAcquisitionSlow.",
    );
    let mut size = Family::gauge(
        "pgvitals_pgbouncer_pool_size",
        "Servers the pool may open (its database's pool_size in SHOW DATABASES).",
    );
    let mut saturation = Family::gauge(
        SATURATION,
        "Servers of the pool linked to a client / its pool size: 1 means every server is in use and new transactions wait.",
    );
    for p in &reading.pools {
        let labels = || [("database", p.database.clone()), ("user", p.user.clone())];
        active.push(labels(), p.cl_active);
        waiting.push(labels(), p.cl_waiting);
        if let Some(v) = p.cl_cancel_waiting {
            cancel.push(labels(), v);
        }
        for (state, v) in [
            ("active", p.sv_active),
            ("idle", p.sv_idle),
            ("used", p.sv_used),
            ("tested", p.sv_tested),
            ("login", p.sv_login),
        ] {
            let [d, u] = labels();
            servers.push([d, u, ("state", state.to_string())], v);
        }
        longest.push(labels(), p.maxwait_seconds);
        if let Some(&n) = pool_size.get(p.database.as_str()) {
            size.push(labels(), n);
            if n > 0.0 {
                saturation.push(labels(), p.sv_active / n);
            }
        }
    }
    vec![active, waiting, cancel, servers, longest, size, saturation]
}

/// (metric, help, counter of SHOW STATS, scale to the metric's unit).
type Counter = (&'static str, &'static str, fn(&Stats) -> Option<f64>, f64);

const COUNTERS: &[Counter] = &[
    ("pgvitals_pgbouncer_transactions_total", "Transactions PgBouncer pooled for the database (total_xact_count).", |s| Some(s.xacts), 1.0),
    ("pgvitals_pgbouncer_queries_total", "Queries PgBouncer pooled for the database (total_query_count).", |s| Some(s.queries), 1.0),
    ("pgvitals_pgbouncer_received_bytes_total", "Bytes PgBouncer received from the database's clients.", |s| Some(s.received), 1.0),
    ("pgvitals_pgbouncer_sent_bytes_total", "Bytes PgBouncer sent to the database's clients.", |s| Some(s.sent), 1.0),
    ("pgvitals_pgbouncer_transaction_seconds_total", "Time the database's clients spent in transactions through PgBouncer, idle in transaction included.", |s| Some(s.xact_us), 1e-6),
    ("pgvitals_pgbouncer_query_seconds_total", "Time the database's clients spent in queries through PgBouncer.", |s| Some(s.query_us), 1e-6),
    ("pgvitals_pgbouncer_client_wait_seconds_total", "Time the database's clients waited for a server connection.", |s| Some(s.wait_us), 1e-6),
    ("pgvitals_pgbouncer_server_assignments_total", "Times a server was assigned to a client of the database (PgBouncer 1.23+).", |s| s.server_assignments, 1.0),
];

fn stats(reading: &Reading, baseline: &mut Baseline) -> Vec<Family> {
    let mut counters: Vec<Family> = COUNTERS
        .iter()
        .map(|(name, help, _, _)| Family::counter(name, help))
        .collect();
    let mut query_mean = Family::gauge(
        "pgvitals_pgbouncer_interval_query_mean_seconds",
        "Mean query time through PgBouncer for the database since the previous poll (no sample when no query ran).",
    );
    let mut xact_mean = Family::gauge(
        "pgvitals_pgbouncer_interval_transaction_mean_seconds",
        "Mean transaction time through PgBouncer for the database since the previous poll (no sample when none ran).",
    );
    let mut wait_mean = Family::gauge(
        "pgvitals_pgbouncer_interval_client_wait_mean_seconds",
        "Mean time a client of the database waited for a server since the previous poll: wait time over server assignments (1.23+) or over transactions (older).",
    );
    let mut next = HashMap::new();
    for s in &reading.stats {
        let db = || [("database", s.database.clone())];
        for (family, (_, _, get, scale)) in counters.iter_mut().zip(COUNTERS) {
            if let Some(v) = get(s) {
                family.push(db(), v * scale);
            }
        }
        if let Some(prev) = baseline.stats.get(&s.database) {
            let d = |f: fn(&Stats) -> f64| f(s) - f(prev);
            let restarted = [
                d(|s| s.xacts),
                d(|s| s.queries),
                d(|s| s.xact_us),
                d(|s| s.query_us),
                d(|s| s.wait_us),
            ]
            .iter()
            .any(|v| *v < 0.0);
            if !restarted {
                let (queries, xacts) = (d(|s| s.queries), d(|s| s.xacts));
                if queries > 0.0 {
                    query_mean.push(db(), d(|s| s.query_us) / queries * 1e-6);
                }
                if xacts > 0.0 {
                    xact_mean.push(db(), d(|s| s.xact_us) / xacts * 1e-6);
                }
                let waits = match (s.server_assignments, prev.server_assignments) {
                    (Some(now), Some(before)) => now - before,
                    _ => xacts,
                };
                if waits > 0.0 {
                    wait_mean.push(db(), d(|s| s.wait_us) / waits * 1e-6);
                }
            }
        }
        next.insert(s.database.clone(), s.clone());
    }
    baseline.stats = next;
    counters.extend([query_mean, xact_mean, wait_mean]);
    counters
}

fn databases(reading: &Reading) -> Vec<Family> {
    let mut current = Family::gauge(
        "pgvitals_pgbouncer_database_connections",
        "Server connections PgBouncer has open for the database, all its pools together.",
    );
    let mut max = Family::gauge(
        "pgvitals_pgbouncer_database_max_connections",
        "Most server connections PgBouncer opens for the database (0: no limit).",
    );
    let mut reserve = Family::gauge(
        "pgvitals_pgbouncer_database_reserve_pool_size",
        "Extra servers a pool of the database may open when its clients wait.",
    );
    let mut paused = Family::gauge(
        "pgvitals_pgbouncer_database_paused",
        "1 while the database is PAUSEd in PgBouncer: its clients wait.",
    );
    let mut disabled = Family::gauge(
        "pgvitals_pgbouncer_database_disabled",
        "1 while the database is DISABLEd in PgBouncer: new clients are refused.",
    );
    for d in &reading.databases {
        for (family, v) in [
            (&mut current, d.current_connections),
            (&mut max, d.max_connections),
            (&mut reserve, d.reserve_pool),
            (&mut paused, d.paused),
            (&mut disabled, d.disabled),
        ] {
            if let Some(v) = v {
                family.push([("database", d.name.clone())], v);
            }
        }
    }
    vec![current, max, reserve, paused, disabled]
}

#[cfg(test)]
mod tests {
    use super::super::admin::{Database, Pool};
    use super::*;

    fn reading(xacts: f64, wait_us: f64) -> Reading {
        Reading {
            pools: vec![Pool {
                database: "app".into(),
                user: "u".into(),
                cl_waiting: 8.0,
                sv_active: 2.0,
                maxwait_seconds: 0.25,
                ..Pool::default()
            }],
            stats: vec![Stats {
                database: "app".into(),
                xacts,
                queries: xacts * 2.0,
                query_us: xacts * 2000.0,
                xact_us: xacts * 5000.0,
                wait_us,
                ..Stats::default()
            }],
            databases: vec![Database {
                name: "app".into(),
                pool_size: 2.0,
                ..Database::default()
            }],
            lists: vec![("pools".into(), 1.0)],
        }
    }

    fn value(fs: &[Family], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        fs.iter().find(|f| f.name == name)?.value(labels)
    }

    #[test]
    fn interval_means_come_from_two_readings_and_a_restart_starts_over() {
        let mut b = Baseline::default();
        let app = [("database", "app")];
        let first = families(&reading(10.0, 0.0), &mut b);
        assert_eq!(
            value(
                &first,
                "pgvitals_pgbouncer_interval_query_mean_seconds",
                &app
            ),
            None
        );
        assert_eq!(
            value(&first, LONGEST_WAIT, &[("database", "app"), ("user", "u")]),
            Some(0.25)
        );
        assert_eq!(
            value(&first, SATURATION, &[("database", "app"), ("user", "u")]),
            Some(1.0)
        );
        // 10 more transactions, 20 more queries of 1 ms each, 3 s of waits.
        let second = families(&reading(20.0, 3e6), &mut b);
        assert_eq!(
            value(
                &second,
                "pgvitals_pgbouncer_interval_query_mean_seconds",
                &app
            ),
            Some(0.001)
        );
        assert_eq!(
            value(
                &second,
                "pgvitals_pgbouncer_interval_transaction_mean_seconds",
                &app
            ),
            Some(0.005)
        );
        assert_eq!(
            value(
                &second,
                "pgvitals_pgbouncer_interval_client_wait_mean_seconds",
                &app
            ),
            Some(0.3)
        );
        assert_eq!(
            value(
                &second,
                "pgvitals_pgbouncer_client_wait_seconds_total",
                &app
            ),
            Some(3.0)
        );
        // PgBouncer restarted: counters went down, no means this time, the next interval has.
        let restarted = families(&reading(1.0, 0.0), &mut b);
        assert_eq!(
            value(
                &restarted,
                "pgvitals_pgbouncer_interval_query_mean_seconds",
                &app
            ),
            None
        );
        let after = families(&reading(3.0, 0.0), &mut b);
        assert_eq!(
            value(
                &after,
                "pgvitals_pgbouncer_interval_query_mean_seconds",
                &app
            ),
            Some(0.001)
        );
        assert_eq!(
            value(
                &after,
                "pgvitals_pgbouncer_interval_client_wait_mean_seconds",
                &app
            ),
            Some(0.0)
        );
    }
}
