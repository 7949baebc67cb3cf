//! What a poll found beyond its metric families: the typed detail the JSON pages, the text
//! pages and the alert annotations read from the snapshot. Collectors fill it in; nothing here
//! knows how it is read or shown.

use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::history::History;
use crate::plan::{Plan, Relation};

/// One poll's detail, by the page it feeds.
#[derive(Debug, Clone)]
pub enum Report {
    /// `/statements`: the interval's top statements.
    Statements(Arc<StatementsReport>),
    /// `/findings`: one database's schema findings.
    Findings(Arc<FindingsReport>),
    /// `/migrations`: one database's running schema changes and migration history.
    Migrations(Arc<MigrationsReport>),
    /// `/statements/{queryid}`: one database's captured plans and index suggestions.
    Plans(Arc<PlansReport>),
    /// `/connections`: one server's sessions, who holds them, who sits idle in a transaction.
    Connections(Arc<ConnectionsReport>),
}

/// `/connections`: one server (collector: connection).
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionsReport {
    /// Client sessions.
    pub sessions: i64,
    /// `max_connections`.
    pub max_connections: i64,
    /// `superuser_reserved_connections`.
    pub reserved_connections: i64,
    /// sessions / (max_connections − reserved): at 1 ordinary roles are refused.
    pub used_ratio: f64,
    /// Sessions per (application, user, client, state), most first, the first `top_n`.
    pub holders: Vec<Holder>,
    /// Sessions of the holders past `top_n`, summed.
    pub other_sessions: i64,
    /// The sessions idle in a transaction longest, oldest first, at most `top_n`.
    pub idle_in_transaction: Vec<IdleSession>,
}

/// Sessions of one application, user, client address and state.
#[derive(Debug, Clone, Serialize)]
pub struct Holder {
    /// `application_name`, `(none)` when unset.
    pub application: String,
    /// The role.
    pub user: String,
    /// Client address, `local` for a Unix socket.
    pub client: String,
    /// State in snake_case (`idle_in_transaction`, …).
    pub state: String,
    /// How many.
    pub sessions: i64,
}

/// A session idle in a transaction.
#[derive(Debug, Clone, Serialize)]
pub struct IdleSession {
    /// Backend pid (`pg_terminate_backend` takes it).
    pub pid: i32,
    /// Its database.
    pub database: String,
    /// `application_name`.
    pub application: String,
    /// The role.
    pub user: String,
    /// Client address.
    pub client: String,
    /// Seconds idle in the transaction so far.
    pub idle_seconds: f64,
    /// Seconds since the transaction began.
    pub transaction_seconds: f64,
    /// The last statement it ran (first 200 characters).
    pub query: String,
}

/// Which statement a history is of: what its series carry as labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct StatementKey {
    /// pg_stat_statements queryid, or `other`.
    pub queryid: String,
    /// Database name (empty for `other`).
    pub database: String,
    /// Role name (empty for `other`).
    pub user: String,
    /// Run at top level.
    pub toplevel: bool,
}

/// One target's statement history, written by the statements collector as it polls and read
/// by the pages.
pub type SharedHistory = Arc<RwLock<History<StatementKey>>>;

/// `/statements`: one interval of one target (collector: statements).
#[derive(Debug, Clone, Serialize)]
pub struct StatementsReport {
    /// Length of the interval, seconds; `None` after the first poll (baseline only).
    pub interval_seconds: Option<f64>,
    /// The query-latency threshold, seconds.
    pub threshold_seconds: f64,
    /// Where the latency figures come from.
    pub source: &'static str,
    /// Executions in the interval, all statements.
    pub calls: f64,
    /// Execution time in the interval, all statements, milliseconds.
    pub total_ms: f64,
    /// Estimated fraction of executions under the threshold; `None` with no executions.
    pub under_threshold_ratio: Option<f64>,
    /// Estimated p95 of all executions, milliseconds.
    pub p95_ms: Option<f64>,
    /// Estimated p99 of all executions, milliseconds.
    pub p99_ms: Option<f64>,
    /// Entries reset since pgvitals started.
    pub resets: u64,
    /// The top statements, largest interval execution time first.
    pub statements: Vec<StatementReport>,
    /// Everything beyond the top statements, summed.
    pub other: Option<StatementReport>,
    /// The target's statement history (texts included).
    #[serde(skip)]
    pub history: SharedHistory,
    /// `thresholds.query_regression.factor`: a statement this many times slower than its
    /// baseline is regressed.
    pub regression_factor: f64,
}

/// One statement's interval.
#[derive(Debug, Clone, Serialize)]
pub struct StatementReport {
    /// pg_stat_statements queryid (a string: it is a 64-bit integer), or `other`.
    pub queryid: String,
    /// Database name.
    pub database: String,
    /// Role name.
    pub user: String,
    /// Run at top level (false: nested in a function).
    pub toplevel: bool,
    /// Normalized query text, truncated.
    pub query: Option<String>,
    /// Executions in the interval.
    pub calls: f64,
    /// Execution time in the interval, milliseconds.
    pub total_ms: f64,
    /// Mean execution time, milliseconds.
    pub mean_ms: f64,
    /// Standard deviation of execution time, milliseconds.
    pub stddev_ms: f64,
    /// Estimated p95 execution time, milliseconds.
    pub p95_ms: Option<f64>,
    /// Rows returned or affected.
    pub rows: f64,
    /// Shared-buffer hit ratio of the interval; `None` with no block access.
    pub hit_ratio: Option<f64>,
    /// The median 1-minute mean of the last hour, milliseconds; `None` without enough history.
    pub baseline_mean_ms: Option<f64>,
}

/// One thing to act on.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Finding {
    /// One of `collectors::indexes::FINDING_KINDS`, `collectors::vacuum::FINDING_KIND` or
    /// `collectors::sequences::FINDING_KIND`.
    pub kind: &'static str,
    /// Schema of the table.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Index, for index findings.
    pub index: Option<String>,
    /// duplicate_index: the index it duplicates (the one to keep).
    pub duplicate_of: Option<String>,
    /// unindexed_foreign_key: the constraint and its columns.
    pub constraint: Option<String>,
    /// stale_statistics: rows modified since the last analyze.
    pub modifications: Option<f64>,
    /// Bytes the finding costs (index size), where that applies.
    pub bytes: Option<f64>,
    /// sequence_exhaustion: the sequence (`schema.name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    /// sequence_exhaustion: the column the sequence feeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The figures behind the finding, by name (autovacuum_overdue: dead_tuples,
    /// vacuum_threshold, overdue_seconds…; sequence_exhaustion: used_ratio, last_value, limit).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub figures: std::collections::BTreeMap<&'static str, f64>,
    /// What to do about it, for people.
    pub detail: String,
}

/// `/findings` for one database, from one collector (indexes, vacuum, sequences).
#[derive(Debug, Clone, Serialize)]
pub struct FindingsReport {
    /// Every finding, largest first within a kind.
    pub findings: Vec<Finding>,
}

/// `/migrations` for one database (collector: migrations).
#[derive(Debug, Clone, Serialize)]
pub struct MigrationsReport {
    /// Schema changes running now.
    pub running: Vec<RunningChange>,
    /// Current revision per version table, and when pgvitals first saw it.
    pub revisions: Vec<Revision>,
    /// The last migrations observed, newest first.
    pub history: Vec<Migration>,
}

/// A schema change in progress.
#[derive(Debug, Clone, Serialize)]
pub struct RunningChange {
    /// Backend pid.
    pub pid: i32,
    /// What kind of DDL, or `lock` when only the ACCESS EXCLUSIVE lock shows it.
    pub kind: &'static str,
    /// The statement (truncated).
    pub query: String,
    /// Seconds since its transaction started.
    pub age_seconds: f64,
    /// Tables it holds or awaits a schema-change lock on (`schema.table`).
    pub tables: Vec<String>,
    /// Sessions waiting behind it.
    pub blocked_sessions: i64,
    /// The safe-migration rules it breaks, each with the safe recipe.
    pub risks: Vec<RunningRisk>,
}

/// A safe-migration rule a running schema change breaks.
#[derive(Debug, Clone, Serialize)]
pub struct RunningRisk {
    /// Schema of the table.
    pub schema: String,
    /// The rule, table, what happens and the fix.
    #[serde(flatten)]
    pub risk: crate::migration_rules::Risk,
}

/// A version table's current revision.
#[derive(Debug, Clone, Serialize)]
pub struct Revision {
    /// The version table.
    pub table: String,
    /// Its current revision.
    pub revision: String,
    /// Unix time pgvitals first saw this revision.
    pub first_seen: f64,
}

/// One observed migration.
#[derive(Debug, Clone, Serialize)]
pub struct Migration {
    /// Version table whose revision changed; `None` for a schema change that changed none.
    pub table: Option<String>,
    /// Revision before.
    pub from_revision: Option<String>,
    /// Revision after.
    pub to_revision: Option<String>,
    /// Unix time the transaction started (`None`: the change ran between two polls).
    pub started_at: Option<f64>,
    /// Unix time it committed (or was last seen running, when the session disconnected).
    pub ended_at: Option<f64>,
    /// `ended_at − started_at`, seconds.
    pub duration_seconds: Option<f64>,
    /// Unix time pgvitals saw the new revision.
    pub observed_at: f64,
    /// The DDL statements seen while it ran (truncated).
    pub statements: Vec<String>,
}

/// Plans of one database's statements (collector: plans).
#[derive(Debug, Clone, Serialize, Default)]
pub struct PlansReport {
    /// By queryid.
    pub statements: Vec<StatementPlans>,
    /// Whether plans are read through the helper function `pgvitals.explain_generic`.
    pub helper: bool,
    /// Whether hypopg is installed (suggestions are then checked by the planner).
    pub hypopg: bool,
}

/// What pgvitals knows of one statement's plans.
#[derive(Debug, Clone, Serialize)]
pub struct StatementPlans {
    /// pg_stat_statements queryid.
    pub queryid: String,
    /// The latest plan, if one could be captured.
    pub plan: Option<CapturedPlan>,
    /// Every plan seen, oldest first (the current one last).
    pub plans: Vec<PlanSeen>,
    /// Plan changes, oldest first.
    pub changes: Vec<PlanChange>,
    /// Indexes that would serve it.
    pub suggestions: Vec<Suggestion>,
    /// Why the last capture failed, if it did.
    pub error: Option<String>,
    /// Unix time of the last capture attempt.
    pub attempted_at: f64,
    /// Execution time per minute in the statements collector's last interval, ms.
    pub exec_ms_per_minute: f64,
    /// While it is slow or regressed: the rows of the tables its plan reads, before and now.
    pub table_growth: Vec<TableGrowth>,
}

/// A table a slow or regressed statement reads: its rows (planner estimate, or live rows when
/// higher) as last read before the statement turned slow or regressed, and as read now.
#[derive(Debug, Clone, Serialize)]
pub struct TableGrowth {
    /// The table.
    #[serde(flatten)]
    pub relation: Relation,
    /// Rows before.
    pub rows_before: f64,
    /// Unix time they were read.
    pub before_at: f64,
    /// Rows now.
    pub rows_now: f64,
    /// Unix time they were read.
    pub now_at: f64,
}

/// A captured plan: its shape and summary ([`crate::plan::Plan`]), the EXPLAIN output, and
/// when and how it was read.
#[derive(Debug, Clone, Serialize)]
pub struct CapturedPlan {
    /// Fingerprint, summary, cost, tree, relations.
    #[serde(flatten)]
    pub plan: Plan,
    /// `EXPLAIN (FORMAT JSON)` output.
    pub json: String,
    /// Unix time it was captured.
    pub captured_at: f64,
    /// `generic_plan` (16+) or `prepare` (a prepared copy under force_generic_plan), and
    /// `helper` when read through the helper function.
    pub method: String,
}

/// A plan seen for a statement.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSeen {
    /// Shape fingerprint.
    pub fingerprint: String,
    /// One-line summary.
    pub summary: String,
    /// Unix time first captured.
    pub first_seen: f64,
    /// Unix time last captured.
    pub last_seen: f64,
    /// Mean execution time while it was the current plan, ms (`None`: no executions counted).
    pub mean_ms: Option<f64>,
}

/// A plan change.
#[derive(Debug, Clone, Serialize)]
pub struct PlanChange {
    /// Unix time the new plan was captured.
    pub at: f64,
    /// Summary before.
    pub from: String,
    /// Summary after.
    pub to: String,
    /// Mean execution time under the old plan, ms.
    pub mean_before_ms: Option<f64>,
    /// Mean execution time under the new plan so far, ms.
    pub mean_after_ms: Option<f64>,
}

/// An index that would serve a statement.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Suggestion {
    /// The table (`schema`, `table`).
    #[serde(flatten)]
    pub relation: Relation,
    /// Index columns, equality columns first.
    pub columns: Vec<String>,
    /// The statement to run.
    pub ddl: String,
    /// Checked by the planner with a hypothetical index (hypopg).
    pub verified: bool,
    /// The statement's plan cost now.
    pub cost_before: f64,
    /// Its plan cost with the index (when verified).
    pub cost_after: Option<f64>,
    /// Rows of the table (planner estimate).
    pub table_rows: f64,
    /// For people: why, and whether it was checked.
    pub detail: String,
}
