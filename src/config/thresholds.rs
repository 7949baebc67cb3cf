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
    /// A statement whose mean execution time in an interval exceeds this is slow (`SlowQuery`).
    pub slow_query: Dur,
    /// A statement whose interval mean exceeds `factor` × its baseline is regressed
    /// (`QueryRegressed`).
    pub query_regression: RegressionThreshold,
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
            slow_query: Dur::millis(100),
            query_regression: RegressionThreshold::default(),
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
