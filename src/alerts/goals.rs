//! The four performance targets of every configured target, judged at each evaluation against
//! `thresholds:` — query performance, index effectiveness, connection efficiency, migration
//! speed — beside what the target is (up, server version) and which of its collectors fail.
//! The console's overview and `pgvitals report` show this; the alert rules judge the same
//! series with their `for` durations.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::engine::Inputs;
use crate::config::Config;
use crate::template::{humanize_duration, humanize_percentage};

const UNDER: &str = "pgvitals_statements_under_threshold_ratio";
const HIT: &str = "pgvitals_database_index_hit_ratio";
const MIGRATION: &str = "pgvitals_migration_longest_running_seconds";
const UP: &str = "pgvitals_up";
const SERVER: &str = "pgvitals_server_info";
const COLLECTOR: &str = "pgvitals_collector_success";

/// The series [`judge`] reads, whatever the rules ask for.
pub const METRICS: [&str; 6] = [UNDER, HIT, MIGRATION, UP, SERVER, COLLECTOR];

/// The thresholds of the four targets (`thresholds:`).
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// `query_latency.under`.
    pub under: Duration,
    /// `query_latency.fraction`.
    pub fraction: f64,
    /// `index_hit_ratio`.
    pub index_hit_ratio: f64,
    /// `connection_acquisition`.
    pub acquisition: Duration,
    /// The window its 95th percentile is taken over (`alerts.connection_acquisition_window`).
    pub acquisition_window: Duration,
    /// `migration_duration`.
    pub migration: Duration,
}

impl Thresholds {
    /// From the configuration.
    pub fn from_config(c: &Config) -> Thresholds {
        let t = &c.thresholds;
        Thresholds {
            under: t.query_latency.under.0,
            fraction: t.query_latency.fraction,
            index_hit_ratio: t.index_hit_ratio,
            acquisition: t.connection_acquisition.0,
            acquisition_window: c.alerts.connection_acquisition_window.0,
            migration: t.migration_duration.0,
        }
    }
}

/// One target's state and its four targets.
#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    /// The target's name.
    pub target: String,
    /// Whether its last connection probe succeeded (`None`: not probed yet).
    pub up: Option<bool>,
    /// `server_version` (`None`: not polled yet).
    pub version: Option<String>,
    /// Query performance, index effectiveness, connection efficiency, migration speed.
    pub goals: Vec<Goal>,
    /// Collector polls (per database) whose last poll succeeded.
    pub collectors_ok: usize,
    /// Those whose last poll failed, as `collector` or `collector on database`.
    pub collectors_failing: Vec<String>,
}

impl TargetStatus {
    /// Whether every target with a value is met.
    pub fn all_met(&self) -> bool {
        self.goals.iter().all(|g| g.met != Some(false))
    }
}

/// One performance target of one configured target.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    /// `query_performance`, `index_effectiveness`, `connection_efficiency`, `migration_speed`.
    pub name: &'static str,
    /// For people: "Query performance".
    pub title: &'static str,
    /// The worst value among the target's databases (`None`: nothing measured yet).
    pub value: Option<f64>,
    /// The value for people: "97.1% under 100ms".
    pub value_text: String,
    /// The target for people: "≥ 95% under 100ms".
    pub target_text: String,
    /// Met, missed, or (`None`) no value to judge.
    pub met: Option<bool>,
    /// The database the worst value comes from.
    pub database: Option<String>,
}

/// The lowest (`lowest`) or highest value of `metric` per target, with its database.
fn worst(inputs: &Inputs, metric: &str, lowest: bool) -> BTreeMap<String, (f64, Option<String>)> {
    let mut out: BTreeMap<String, (f64, Option<String>)> = BTreeMap::new();
    for s in inputs.series.get(metric).into_iter().flatten() {
        if s.value.is_nan() {
            continue;
        }
        let Some(target) = s.labels.get("target") else {
            continue;
        };
        let db = s.labels.get("database").cloned();
        let e = out.entry(target.clone()).or_insert((s.value, db.clone()));
        if (lowest && s.value < e.0) || (!lowest && s.value > e.0) {
            *e = (s.value, db);
        }
    }
    out
}

/// Every configured target's status. `acquisition_p95` is the 95th percentile of connection
/// acquisition per target over `t.acquisition_window`.
pub fn judge(
    inputs: &Inputs,
    acquisition_p95: &[(String, f64)],
    t: &Thresholds,
) -> Vec<TargetStatus> {
    let under = worst(inputs, UNDER, true);
    let hit = worst(inputs, HIT, true);
    let migration = worst(inputs, MIGRATION, false);
    let acquisition: BTreeMap<&str, f64> = acquisition_p95
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    let label = |s: &super::engine::Series, k: &str| s.labels.get(k).cloned().unwrap_or_default();
    // Each series of the per-target metrics, grouped by target once.
    let mut by_target: BTreeMap<(&str, &str), Vec<&super::engine::Series>> = BTreeMap::new();
    for metric in [UP, SERVER, COLLECTOR] {
        for s in inputs.series.get(metric).into_iter().flatten() {
            if let Some(t) = s.labels.get("target") {
                by_target.entry((t.as_str(), metric)).or_default().push(s);
            }
        }
    }
    let mut out = Vec::new();
    for target in &inputs.targets {
        let mine = |metric: &'static str| {
            by_target
                .get(&(target.as_str(), metric))
                .into_iter()
                .flatten()
                .copied()
        };
        let up = mine(UP).next().map(|s| s.value == 1.0);
        let version = mine(SERVER).next().map(|s| label(s, "version"));
        let (mut ok, mut failing) = (0, Vec::new());
        for s in mine(COLLECTOR) {
            if s.value == 1.0 {
                ok += 1;
            } else {
                let (c, db) = (label(s, "collector"), label(s, "database"));
                failing.push(if db.is_empty() {
                    c
                } else {
                    format!("{c} on {db}")
                });
            }
        }
        let under_text = humanize_duration(t.under.as_secs_f64());
        let goals = vec![
            goal(
                "query_performance",
                "Query performance",
                under.get(target),
                |v| v >= t.fraction,
                |v| format!("{} under {under_text}", humanize_percentage(v)),
                format!("≥ {} under {under_text}", humanize_percentage(t.fraction)),
            ),
            goal(
                "index_effectiveness",
                "Index effectiveness",
                hit.get(target),
                |v| v > t.index_hit_ratio,
                |v| format!("{} index hit ratio", humanize_percentage(v)),
                format!("> {}", humanize_percentage(t.index_hit_ratio)),
            ),
            goal(
                "connection_efficiency",
                "Connection efficiency",
                acquisition
                    .get(target.as_str())
                    .map(|v| (*v, None))
                    .as_ref(),
                |v| v < t.acquisition.as_secs_f64(),
                |v| format!("p95 acquisition {}", humanize_duration(v)),
                format!(
                    "< {} (p95 over {})",
                    humanize_duration(t.acquisition.as_secs_f64()),
                    humanize_duration(t.acquisition_window.as_secs_f64())
                ),
            ),
            goal(
                "migration_speed",
                "Migration speed",
                migration.get(target),
                |v| v < t.migration.as_secs_f64(),
                |v| {
                    if v == 0.0 {
                        "no schema change running".into()
                    } else {
                        format!("a schema change running for {}", humanize_duration(v))
                    }
                },
                format!(
                    "< {} per change",
                    humanize_duration(t.migration.as_secs_f64())
                ),
            ),
        ];
        out.push(TargetStatus {
            target: target.clone(),
            up,
            version,
            goals,
            collectors_ok: ok,
            collectors_failing: failing,
        });
    }
    out
}

fn goal(
    name: &'static str,
    title: &'static str,
    worst: Option<&(f64, Option<String>)>,
    meets: impl Fn(f64) -> bool,
    show: impl Fn(f64) -> String,
    target_text: String,
) -> Goal {
    Goal {
        name,
        title,
        value: worst.map(|w| w.0),
        value_text: worst.map_or("no data yet".into(), |w| show(w.0)),
        target_text,
        met: worst.map(|w| meets(w.0)),
        database: worst.and_then(|w| w.1.clone()),
    }
}
