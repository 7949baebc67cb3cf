//! The alert rules: the built-in ones, made from `thresholds:` and overridable under
//! `alerts.builtin`, and the user-defined ones of `alerts.rules`.
//!
//! A rule is a condition over exported metrics (so it can be printed as the equivalent
//! Prometheus rule), a `for`, a `keep_firing_for`, labels and annotation templates. Two built-ins
//! add detail that a metric cannot carry: `SlowQuery` the statement's text, `IndexHitRatioLow`
//! the index that read most blocks from disk.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{BuiltinRuleConfig, Config};
use crate::rule_expr::Expr;
use crate::template::{humanize_percentage, Template};

/// What a rule compares with its threshold.
#[derive(Debug, Clone)]
pub enum Input {
    /// Every selected series of one metric, each compared with the threshold.
    Series(Expr),
    /// A quantile of `pgvitals_connection_acquisition_seconds` over a window, per target
    /// (`histogram_quantile(q, sum by (target, le) (rate(..._bucket[window])))`).
    AcquisitionQuantile {
        /// The quantile, 0..1.
        quantile: f64,
        /// The window the rate is taken over.
        window: Duration,
        /// Seconds; the alert holds above it.
        threshold: f64,
    },
}

/// Detail a built-in rule adds to its annotations from outside its own metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrich {
    /// Nothing.
    None,
    /// `query`, `plan` and `suggestion`: the statement's text, its plan in one line and the
    /// index that would serve it (from the statements and plans collectors).
    Statement,
    /// As `Statement`, and `likely_cause`: what changed before the statement regressed.
    Regression,
    /// `worst_index`: the database's index that read most blocks in the interval.
    WorstIndex,
    /// `saturation`: the PgBouncer pool's servers in use against its size.
    PoolSaturation,
}

/// An annotation: its template text and the parsed template.
#[derive(Debug, Clone)]
pub struct Annotation {
    /// The text as configured.
    pub text: String,
    /// Parsed.
    pub template: Template,
}

/// One alert rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The alert name (`alertname`).
    pub name: String,
    /// The condition.
    pub input: Input,
    /// How long the condition must hold before the alert fires.
    pub for_: Duration,
    /// How long a firing alert keeps firing after the condition stopped holding.
    pub keep_firing_for: Duration,
    /// Labels added to every alert of the rule, `severity` included.
    pub labels: BTreeMap<String, String>,
    /// Annotation templates by name.
    pub annotations: BTreeMap<String, Annotation>,
    /// Extra detail added to the annotations.
    pub enrich: Enrich,
    /// Built in (from `thresholds`) rather than user-defined.
    pub builtin: bool,
}

impl Rule {
    /// The threshold the rule compares with.
    pub fn threshold(&self) -> f64 {
        match &self.input {
            Input::Series(e) => e.threshold,
            Input::AcquisitionQuantile { threshold, .. } => *threshold,
        }
    }

    /// The equivalent PromQL expression.
    pub fn query(&self) -> String {
        match &self.input {
            Input::Series(e) => e.to_string(),
            Input::AcquisitionQuantile {
                quantile,
                window,
                threshold,
            } => format!(
                "histogram_quantile({quantile}, sum by (target, le) (rate(pgvitals_connection_acquisition_seconds_bucket[{}]))) > {threshold}",
                prom_duration(*window)
            ),
        }
    }

    /// The metric names the rule reads (for sampling only what is needed).
    pub fn metrics(&self) -> Vec<&str> {
        let mut out = match &self.input {
            Input::Series(e) => vec![e.metric.as_str()],
            Input::AcquisitionQuantile { .. } => vec![],
        };
        match self.enrich {
            Enrich::WorstIndex => out.push(WORST_INDEX_METRIC),
            Enrich::PoolSaturation => out.push(crate::pgbouncer::families::SATURATION),
            _ => {}
        }
        out
    }
}

/// The per-index metric `IndexHitRatioLow` names its worst index from.
pub const WORST_INDEX_METRIC: &str = "pgvitals_index_interval_blocks_read";

/// A duration in Prometheus' notation (`5m`, `90s`, `1500ms`).
pub fn prom_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    for (unit, n) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if s % n == 0 {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

fn wraparound_description() -> String {
    "{{ $labels.database }} has used {{ $value | humanizePercentage }} of the 2^31 transaction IDs before wraparound (pgvitals_database_transaction_id_age); at 100% PostgreSQL stops accepting writes. Anti-wraparound autovacuum should be freezing it: look for what holds the xmin horizon (XminHorizonHeld, pgvitals_xmin_horizon_holder_age_seconds) and the oldest tables (pgvitals_table_transaction_id_age), and VACUUM (FREEZE) them.".into()
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

struct Builtin {
    name: &'static str,
    input: Input,
    for_: Duration,
    severity: &'static str,
    summary: String,
    description: String,
    enrich: Enrich,
    /// Labels of the rule's own, besides `severity` (two rules of one name differ by them).
    labels: &'static [(&'static str, &'static str)],
}

fn builtins(config: &Config) -> Vec<Builtin> {
    let t = &config.thresholds;
    let series =
        |text: String| Input::Series(Expr::parse(&text).expect("built-in expressions parse"));
    let under = human(t.query_latency.under.0);
    vec![
        Builtin {
            name: "QueryLatencyTargetMissed",
            input: series(format!(
                "pgvitals_statements_under_threshold_ratio < {}",
                t.query_latency.fraction
            )),
            for_: Duration::from_secs(300),
            severity: "critical",
            summary: "Query latency target missed on {{ $labels.target }}".into(),
            description: format!(
                "{{{{ $value | humanizePercentage }}}} of query executions on {{{{ $labels.target }}}} ran under {under} in the last interval; the target is {}.",
                humanize_percentage(t.query_latency.fraction)
            ),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "SlowQuery",
            input: series(format!(
                "pgvitals_statement_interval_mean_seconds{{queryid!=\"other\"}} > {}",
                t.slow_query.0.as_secs_f64()
            )),
            for_: Duration::from_secs(120),
            severity: "warning",
            summary: "Slow query {{ $labels.queryid }} on {{ $labels.target }}/{{ $labels.database }}".into(),
            description: format!(
                "Statement {{{{ $labels.queryid }}}} (user {{{{ $labels.user }}}}) averaged {{{{ $value | humanizeDuration }}}} per execution in the last interval; slow means over {}. History, plan and suggestions: /statements/{{{{ $labels.queryid }}}}?target={{{{ $labels.target }}}}.",
                human(t.slow_query.0)
            ),
            enrich: Enrich::Statement,
            labels: &[],
        },
        Builtin {
            name: "QueryRegressed",
            input: series(format!(
                "pgvitals_statement_regression_ratio > {}",
                t.query_regression.factor
            )),
            for_: Duration::from_secs(300),
            severity: "warning",
            summary: "Query {{ $labels.queryid }} regressed on {{ $labels.target }}/{{ $labels.database }}".into(),
            description: format!(
                "Statement {{{{ $labels.queryid }}}} (user {{{{ $labels.user }}}}) ran {{{{ $value | humanize }}}}× slower in the last interval than its baseline (the median of its 1-minute means over the last hour); regressed means over {}×. History, plans and suggestions: /statements/{{{{ $labels.queryid }}}}?target={{{{ $labels.target }}}}.",
                t.query_regression.factor
            ),
            enrich: Enrich::Regression,
            labels: &[],
        },
        Builtin {
            name: "IndexHitRatioLow",
            input: series(format!(
                "pgvitals_database_index_hit_ratio < {}",
                t.index_hit_ratio
            )),
            for_: Duration::from_secs(600),
            severity: "warning",
            summary: "Index hit ratio low on {{ $labels.target }}/{{ $labels.database }}".into(),
            description: format!(
                "{{{{ $value | humanizePercentage }}}} of index block accesses in {{{{ $labels.database }}}} were served from shared buffers in the last interval; the target is above {}.",
                humanize_percentage(t.index_hit_ratio)
            ),
            enrich: Enrich::WorstIndex,
            labels: &[],
        },
        Builtin {
            name: "ConnectionAcquisitionSlow",
            input: Input::AcquisitionQuantile {
                quantile: 0.95,
                window: config.alerts.connection_acquisition_window.0,
                threshold: t.connection_acquisition.0.as_secs_f64(),
            },
            for_: Duration::from_secs(120),
            severity: "warning",
            summary: "Connection acquisition slow on {{ $labels.target }}".into(),
            description: format!(
                "The 95th percentile of connection acquisition over {} is {{{{ $value | humanizeDuration }}}}; the target is under {}.",
                human(config.alerts.connection_acquisition_window.0),
                human(t.connection_acquisition.0)
            ),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "ConnectionAcquisitionSlow",
            input: series(format!(
                "{} > {}",
                crate::pgbouncer::families::LONGEST_WAIT,
                t.connection_acquisition.0.as_secs_f64()
            )),
            for_: Duration::from_secs(120),
            severity: "warning",
            summary: "Clients wait for a connection in PgBouncer pool {{ $labels.database }}/{{ $labels.user }} on {{ $labels.target }}".into(),
            description: format!(
                "The oldest client waiting in PgBouncer pool {{{{ $labels.database }}}} (user {{{{ $labels.user }}}}) has waited {{{{ $value | humanizeDuration }}}} for a server connection; the target is under {}. Every server of the pool is busy: look for long transactions holding them (pgvitals_pgbouncer_servers{{state=\"active\"}}, /connections on the PostgreSQL target) or raise pool_size.",
                human(t.connection_acquisition.0)
            ),
            enrich: Enrich::PoolSaturation,
            labels: &[("layer", "pgbouncer")],
        },
        Builtin {
            name: "MigrationTooSlow",
            input: series(format!(
                "pgvitals_migration_longest_running_seconds > {}",
                t.migration_duration.0.as_secs_f64()
            )),
            for_: Duration::ZERO,
            severity: "warning",
            summary: "Schema change running too long on {{ $labels.target }}/{{ $labels.database }}".into(),
            description: format!(
                "A schema change has been running for {{{{ $value | humanizeDuration }}}}; schema changes should finish within {}. /migrations shows it and the sessions blocked behind it.",
                human(t.migration_duration.0)
            ),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "UnsafeMigration",
            input: series("pgvitals_migration_risk > 0".into()),
            for_: Duration::ZERO,
            severity: "warning",
            summary: "Unsafe schema change on {{ $labels.target }}/{{ $labels.database }}: {{ $labels.rule }} on {{ $labels.schema }}.{{ $labels.table }}".into(),
            description: "A running schema change breaks the safe-migration rule {{ $labels.rule }} on large table {{ $labels.schema }}.{{ $labels.table }}: it holds a lock that blocks the application for as long as it runs. /migrations shows the statement and the safe recipe; `pgvitals lint-migration` catches it before it runs.".into(),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "MigrationBlockingQueries",
            input: series(format!(
                "pgvitals_migration_blocked_longest_seconds > {}",
                t.migration_lock_wait.0.as_secs_f64()
            )),
            for_: Duration::ZERO,
            severity: "critical",
            summary: "Queries queued behind a schema change on {{ $labels.target }}/{{ $labels.database }}".into(),
            description: format!(
                "A session has waited {{{{ $value | humanizeDuration }}}} behind a schema change's lock (over {}); while the change waits for or holds its lock every query on the table queues behind it. Cancel the change (pg_cancel_backend, its pid in /migrations) and retry it with SET lock_timeout = '2s'.",
                human(t.migration_lock_wait.0)
            ),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "DeadlocksDetected",
            input: series("pgvitals_database_deadlocks_last_5m > 0".into()),
            for_: Duration::ZERO,
            severity: "warning",
            summary: "Deadlocks in {{ $labels.target }}/{{ $labels.database }}".into(),
            description: "PostgreSQL detected {{ $value }} deadlock(s) in {{ $labels.database }} over the last 5 minutes and cancelled one transaction of each; the server log has the statements involved (log_lock_waits helps too). Transactions that lock the same rows in different orders deadlock; lock them in one order.".into(),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "TransactionIdWraparoundRisk",
            input: series(format!(
                "pgvitals_database_transaction_id_used_ratio > {}",
                t.transaction_id_wraparound.warning
            )),
            for_: Duration::from_secs(300),
            severity: "warning",
            summary: "{{ $labels.database }} on {{ $labels.target }} is heading for transaction ID wraparound".into(),
            description: wraparound_description(),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "TransactionIdWraparoundRisk",
            input: series(format!(
                "pgvitals_database_transaction_id_used_ratio > {}",
                t.transaction_id_wraparound.critical
            )),
            for_: Duration::from_secs(300),
            severity: "critical",
            summary: "{{ $labels.database }} on {{ $labels.target }} is close to transaction ID wraparound".into(),
            description: wraparound_description(),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "XminHorizonHeld",
            input: series(format!(
                "pgvitals_xmin_horizon_holder_age_seconds > {}",
                t.xmin_horizon_age.0.as_secs_f64()
            )),
            for_: Duration::ZERO,
            severity: "warning",
            summary: "A {{ $labels.kind }} holds back vacuum on {{ $labels.target }}".into(),
            description: format!(
                "{{{{ $labels.kind }}}} {{{{ $labels.holder }}}} (pid {{{{ $labels.pid }}}}, application {{{{ $labels.application }}}}, user {{{{ $labels.user }}}}, database {{{{ $labels.database }}}}) has held the xmin horizon for {{{{ $value | humanizeDuration }}}}, over {}; vacuum cannot remove rows deleted since, in any database, and tables bloat. End the transaction (pg_terminate_backend), commit or roll back the prepared transaction, or drop the unused slot.",
                human(t.xmin_horizon_age.0)
            ),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "AutovacuumOverdue",
            input: series(format!(
                "pgvitals_table_autovacuum_overdue_seconds > {}",
                t.autovacuum_overdue.0.as_secs_f64()
            )),
            for_: Duration::ZERO,
            severity: "warning",
            summary: "Autovacuum is overdue on {{ $labels.schema }}.{{ $labels.table }} ({{ $labels.target }}/{{ $labels.database }})".into(),
            description: format!(
                "{{{{ $labels.schema }}}}.{{{{ $labels.table }}}} has been past its own autovacuum threshold ({{{{ $labels.reason }}}}) for {{{{ $value | humanizeDuration }}}}, over {}. /findings (kind autovacuum_overdue) has its figures and why; VACUUM (ANALYZE) it.",
                human(t.autovacuum_overdue.0)
            ),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "SequenceNearExhaustion",
            input: series(format!(
                "pgvitals_sequence_used_ratio > {}",
                t.sequence_used
            )),
            for_: Duration::ZERO,
            severity: "warning",
            summary: "Sequence {{ $labels.schema }}.{{ $labels.sequence }} is {{ $value | humanizePercentage }} used ({{ $labels.target }}/{{ $labels.database }})".into(),
            description: format!(
                "{{{{ $labels.schema }}}}.{{{{ $labels.sequence }}}} (feeding {{{{ $labels.column }}}}) has used {{{{ $value | humanizePercentage }}}} of its range, counting to the end of its own type or its column's, whichever comes first (the alert is past {}); when it runs out, inserts fail. /findings (kind sequence_exhaustion) says what to widen.",
                humanize_percentage(t.sequence_used)
            ),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "ConnectionsNearMax",
            input: series(format!(
                "pgvitals_connections_used_ratio > {}",
                t.connections_used
            )),
            for_: Duration::from_secs(120),
            severity: "warning",
            summary: "{{ $labels.target }} is running out of connections".into(),
            description: format!(
                "{{{{ $value | humanizePercentage }}}} of max_connections − superuser_reserved_connections is in use on {{{{ $labels.target }}}}, over {}; at 100% new sessions of ordinary roles are refused. pgvitals_connections shows which database and state hold them; a pooler (PgBouncer) in front helps.",
                humanize_percentage(t.connections_used)
            ),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "ReplicationLagHigh",
            input: series(format!(
                "pgvitals_replication_replay_lag_seconds > {}",
                t.replication_lag.0.as_secs_f64()
            )),
            for_: Duration::from_secs(60),
            severity: "warning",
            summary: "Standby {{ $labels.standby }} is behind ({{ $labels.target }})".into(),
            description: format!(
                "Standby {{{{ $labels.standby }}}} has not replayed WAL that is {{{{ $value | humanizeDuration }}}} old, over {} (as {{{{ $labels.target }}}} sees it). Reads there are that stale, and a failover would lose or wait for it. pgvitals_standby_replay_paused says whether replay is paused (pg_wal_replay_resume()); pgvitals_replication_lag_bytes whether WAL is stuck sending, writing (network, standby disk) or replaying.",
                human(t.replication_lag.0)
            ),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "ReplicationSlotInactive",
            input: series(format!(
                "pgvitals_replication_slot_retained_bytes{{active=\"false\"}} > {}",
                t.replication_slot_retained_bytes
            )),
            for_: Duration::from_secs(300),
            severity: "warning",
            summary: "Inactive replication slot {{ $labels.slot }} keeps WAL on {{ $labels.target }}".into(),
            description: "Replication slot {{ $labels.slot }} ({{ $labels.slot_type }}) has no consumer and keeps {{ $value | humanize1024 }}B of WAL on disk, and more as the server writes; the disk fills and the server stops. Reconnect its consumer, or drop it: SELECT pg_drop_replication_slot('{{ $labels.slot }}').".into(),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "TargetDown",
            input: series("pgvitals_up == 0".into()),
            for_: Duration::from_secs(60),
            severity: "critical",
            summary: "PostgreSQL target {{ $labels.target }} is unreachable".into(),
            description: "pgvitals cannot connect to {{ $labels.target }}; none of its figures are being collected. The pgvitals log says why.".into(),
            enrich: Enrich::None,
            labels: &[],
        },
        Builtin {
            name: "CollectorFailing",
            input: series("pgvitals_collector_success == 0".into()),
            for_: Duration::from_secs(300),
            severity: "warning",
            summary: "Collector {{ $labels.collector }} failing on {{ $labels.target }}/{{ $labels.database }}".into(),
            description: "The {{ $labels.collector }} collector's polls of {{ $labels.target }}/{{ $labels.database }} fail; its figures are missing. The pgvitals log says why.".into(),
            enrich: Enrich::None,
            labels: &[],
        },
    ]
}

fn annotation(text: &str) -> Annotation {
    Annotation {
        text: text.to_string(),
        template: Template::parse(text).expect("annotations are checked when the config is read"),
    }
}

/// The rules a configuration asks for, built-in ones first.
pub fn build(config: &Config) -> Vec<Rule> {
    let mut rules = Vec::new();
    let default_override = BuiltinRuleConfig::default();
    for b in builtins(config) {
        let o = config
            .alerts
            .builtin
            .get(b.name)
            .unwrap_or(&default_override);
        if !o.enabled {
            continue;
        }
        let mut labels = o.labels.clone();
        for (k, v) in b.labels {
            labels.entry(k.to_string()).or_insert_with(|| v.to_string());
        }
        labels.insert(
            "severity".into(),
            o.severity.clone().unwrap_or_else(|| b.severity.to_string()),
        );
        let mut annotations = BTreeMap::from([
            ("summary".to_string(), annotation(&b.summary)),
            ("description".to_string(), annotation(&b.description)),
        ]);
        for (k, v) in &o.annotations {
            annotations.insert(k.clone(), annotation(v));
        }
        rules.push(Rule {
            name: b.name.to_string(),
            input: b.input,
            for_: o.for_.map_or(b.for_, |s| s.0),
            keep_firing_for: o.keep_firing_for.map_or(Duration::ZERO, |s| s.0),
            labels,
            annotations,
            enrich: b.enrich,
            builtin: true,
        });
    }
    for r in &config.alerts.rules {
        let mut labels = r.labels.clone();
        labels.insert("severity".into(), r.severity.clone());
        rules.push(Rule {
            name: r.alert.clone(),
            input: Input::Series(
                Expr::parse(&r.expr).expect("expressions are checked when the config is read"),
            ),
            for_: r.for_.0,
            keep_firing_for: r.keep_firing_for.0,
            labels,
            annotations: r
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), annotation(v)))
                .collect(),
            enrich: Enrich::None,
            builtin: false,
        });
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        Config::parse(
            &format!("targets:\n  - name: main\n    dsn: postgresql://u@127.0.0.1/db\n{extra}"),
            "test.yaml",
        )
        .unwrap()
    }

    #[test]
    fn builtins_follow_the_thresholds() {
        let rules = build(&config(""));
        let mut names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        names.dedup();
        assert_eq!(names, crate::config::BUILTIN_RULES);
        let wraparound: Vec<(String, &str)> = rules
            .iter()
            .filter(|r| r.name == "TransactionIdWraparoundRisk")
            .map(|r| (r.query(), r.labels["severity"].as_str()))
            .collect();
        assert_eq!(
            wraparound,
            [
                (
                    "pgvitals_database_transaction_id_used_ratio > 0.5".to_string(),
                    "warning"
                ),
                (
                    "pgvitals_database_transaction_id_used_ratio > 0.75".to_string(),
                    "critical"
                )
            ]
        );
        let q = |n: &str| rules.iter().find(|r| r.name == n).unwrap().query();
        assert_eq!(
            q("QueryLatencyTargetMissed"),
            "pgvitals_statements_under_threshold_ratio < 0.95"
        );
        assert_eq!(
            q("SlowQuery"),
            "pgvitals_statement_interval_mean_seconds{queryid!=\"other\"} > 0.1"
        );
        assert_eq!(
            q("IndexHitRatioLow"),
            "pgvitals_database_index_hit_ratio < 0.9"
        );
        assert_eq!(
            q("ConnectionAcquisitionSlow"),
            "histogram_quantile(0.95, sum by (target, le) (rate(pgvitals_connection_acquisition_seconds_bucket[5m]))) > 0.05"
        );
        assert_eq!(
            q("MigrationTooSlow"),
            "pgvitals_migration_longest_running_seconds > 300"
        );
        let d = &rules[0].annotations["description"].text;
        assert!(
            d.contains("under 100ms") && d.contains("target is 95%"),
            "{d}"
        );

        let rules = build(&config(
            "thresholds:\n  index_hit_ratio: 0.8\n  slow_query: 250ms\nalerts:\n  builtin:\n    TargetDown: {enabled: false}\n    SlowQuery: {for: 0s, severity: page, labels: {team: db}}\n  rules:\n    - alert: ManyConnections\n      expr: 'pgvitals_connections{state=\"active\"} > 80'\n      for: 1m\n",
        ));
        assert!(!rules.iter().any(|r| r.name == "TargetDown"));
        let slow = rules.iter().find(|r| r.name == "SlowQuery").unwrap();
        assert_eq!(slow.for_, Duration::ZERO);
        assert_eq!(slow.labels["severity"], "page");
        assert_eq!(slow.labels["team"], "db");
        assert!(slow.query().ends_with("> 0.25"));
        let idx = rules.iter().find(|r| r.name == "IndexHitRatioLow").unwrap();
        assert_eq!(idx.threshold(), 0.8);
        let user = rules.last().unwrap();
        assert_eq!(user.name, "ManyConnections");
        assert_eq!(user.for_, Duration::from_secs(60));
        assert_eq!(user.labels["severity"], "warning");
    }

    #[test]
    fn durations_print_as_prometheus_reads_them() {
        assert_eq!(prom_duration(Duration::from_secs(300)), "5m");
        assert_eq!(prom_duration(Duration::from_secs(90)), "90s");
        assert_eq!(prom_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(prom_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(prom_duration(Duration::ZERO), "0s");
    }
}
