//! `thresholds:`: the team's performance targets.

use serde::{Deserialize, Serialize};

use super::Dur;

/// The team's four performance targets.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// `fraction` of query executions must finish `under` this time.
    pub query_latency: QueryLatencyThreshold,
    /// Index hit ratio must stay above this (0..1).
    pub index_hit_ratio: f64,
    /// Connection acquisition must take less than this.
    pub connection_acquisition: Dur,
    /// A schema change must run for less than this.
    pub migration_duration: Dur,
    /// Sessions queued behind a schema change's lock longer than this fire
    /// `MigrationBlockingQueries` (a waiting `ALTER` blocks every reader behind it).
    pub migration_lock_wait: Dur,
    /// A statement whose mean execution time in an interval exceeds this is slow (`SlowQuery`).
    pub slow_query: Dur,
    /// A statement whose interval mean exceeds `factor` × its baseline is regressed
    /// (`QueryRegressed`).
    pub query_regression: RegressionThreshold,
    /// Fraction of the 2³¹ transaction ID limit a database's oldest unfrozen ID may use
    /// (`TransactionIdWraparoundRisk`).
    pub transaction_id_wraparound: WraparoundThreshold,
    /// Fraction of a sequence's range (its own type's or its column's) it may use
    /// (`SequenceNearExhaustion`, finding `sequence_exhaustion`).
    pub sequence_used: f64,
    /// How long a table may stay past its autovacuum threshold (`AutovacuumOverdue`).
    pub autovacuum_overdue: Dur,
    /// How long the oldest xmin may hold vacuum's horizon back (`XminHorizonHeld`).
    pub xmin_horizon_age: Dur,
    /// Fraction of `max_connections − superuser_reserved_connections` in use
    /// (`ConnectionsNearMax`).
    pub connections_used: f64,
    /// How far behind its primary a standby's replay may be (`ReplicationLagHigh`).
    pub replication_lag: Dur,
    /// WAL an inactive replication slot may keep, bytes (`ReplicationSlotInactive`).
    pub replication_slot_retained_bytes: f64,
}

/// `TransactionIdWraparoundRisk` fires as a warning past `warning` and as critical past
/// `critical` (fractions of 2³¹).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WraparoundThreshold {
    /// Fraction of the limit for a warning.
    pub warning: f64,
    /// Fraction of the limit for a critical alert.
    pub critical: f64,
}

impl Default for WraparoundThreshold {
    fn default() -> Self {
        WraparoundThreshold {
            warning: 0.5,
            critical: 0.75,
        }
    }
}

/// "Regressed": the interval mean over `factor` × the median of the last hour's 1-minute means
/// (minutes with at least `min_calls` executions, at least `min_minutes` of them).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegressionThreshold {
    /// How many times slower than the baseline.
    pub factor: f64,
    /// Executions a minute (and the interval) needs to count.
    pub min_calls: u64,
    /// Minutes of baseline needed before anything is called regressed.
    pub min_minutes: usize,
}

impl Default for RegressionThreshold {
    fn default() -> Self {
        RegressionThreshold {
            factor: 2.0,
            min_calls: 10,
            min_minutes: 5,
        }
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            query_latency: QueryLatencyThreshold::default(),
            index_hit_ratio: 0.90,
            connection_acquisition: Dur::millis(50),
            migration_duration: Dur::secs(300),
            migration_lock_wait: Dur::secs(10),
            slow_query: Dur::millis(100),
            query_regression: RegressionThreshold::default(),
            transaction_id_wraparound: WraparoundThreshold::default(),
            sequence_used: 0.75,
            autovacuum_overdue: Dur::secs(3600),
            xmin_horizon_age: Dur::secs(3600),
            connections_used: 0.8,
            replication_lag: Dur::secs(30),
            replication_slot_retained_bytes: 1024.0 * 1024.0 * 1024.0,
        }
    }
}

/// "`fraction` of executions under `under`".
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryLatencyThreshold {
    /// The latency bound.
    pub under: Dur,
    /// The fraction of executions that must be under it (0..1).
    pub fraction: f64,
}

impl Default for QueryLatencyThreshold {
    fn default() -> Self {
        QueryLatencyThreshold {
            under: Dur::millis(100),
            fraction: 0.95,
        }
    }
}
