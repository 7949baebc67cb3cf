//! The collectors, and the one list of them ([`registry`]).
//!
//! A collector reads one aspect of a PostgreSQL server with the SQL in `queries/` and returns
//! typed metric families. It knows nothing of scheduling, exposition or alerts: the scheduler
//! hands it a pooled connection and the server's version, and puts what it returns into the
//! snapshot. A collector may keep state between polls (the previous reading, for deltas); the
//! scheduler keeps one instance per (target, database).

pub mod bloat;
pub mod board;
pub mod checkpoints;
pub mod connection;
pub mod database;
pub mod indexes;
pub mod migration_risks;
pub mod migrations;
pub mod plans;
pub mod replication;
pub mod sequences;
pub mod standards;
pub mod statement_deltas;
pub mod statement_watch;
pub mod statements;
pub mod table_sizes;
pub mod vacuum;
pub mod wraparound;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{CollectorsConfig, Dur, Thresholds};
use crate::detail::Report;
use crate::metrics::Family;

/// `pgvitals_findings{kind}`: how many of `findings` are of each of `kinds` (0 included). Every
/// collector that reports findings exports its kinds with this one family.
pub fn findings_family(kinds: &[&'static str], findings: &[crate::detail::Finding]) -> Family {
    let mut count = Family::gauge(
        "pgvitals_findings",
        "Findings of each kind in the database (0 included); /findings lists them.",
    );
    for kind in kinds {
        let n = findings.iter().filter(|f| f.kind == *kind).count();
        count.push([("kind", kind.to_string())], n as f64);
    }
    count
}

/// A boxed future, as collectors return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a collector's numbers come from, which decides how often it runs per target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Cluster-wide views (`pg_stat_activity`, settings): runs once per target, on the DSN's
    /// database; its series carry `target` only.
    Cluster,
    /// Per-database catalogs (tables, indexes): runs on every polled database; its series carry
    /// `target` and `database`.
    Database,
}

/// What a collector gets for one poll.
pub struct PollContext<'a> {
    /// A pooled connection to the database being polled.
    pub client: &'a tokio_postgres::Client,
    /// `server_version_num` of the server, read at connect time; picks SQL variants.
    pub server_version: i32,
}

/// What a successful poll publishes.
#[derive(Debug, Default)]
pub struct Output {
    /// Metric families for `/metrics`.
    pub families: Vec<Family>,
    /// Structured detail for a JSON endpoint, for collectors that have one.
    pub report: Option<Report>,
}

impl From<Vec<Family>> for Output {
    fn from(families: Vec<Family>) -> Output {
        Output {
            families,
            report: None,
        }
    }
}

/// Runs a query whose rows are then read one at a time as they arrive (`try_next` on the
/// pinned stream), so a poll never holds a large result whole.
pub async fn stream(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<tokio_postgres::RowStream, tokio_postgres::Error> {
    client.query_raw(sql, std::iter::empty::<i32>()).await
}

/// Runs a query and turns each row into a `T` as it arrives ([`stream`]): a large result is
/// never held as rows.
pub async fn collect_rows<T>(
    client: &tokio_postgres::Client,
    sql: &str,
    mut row: impl FnMut(&tokio_postgres::Row) -> Result<T, tokio_postgres::Error>,
) -> Result<Vec<T>, tokio_postgres::Error> {
    use futures_util::TryStreamExt;
    let mut out = Vec::new();
    let mut rows = std::pin::pin!(stream(client, sql).await?);
    while let Some(r) = rows.try_next().await? {
        out.push(row(&r)?);
    }
    Ok(out)
}

/// A failed poll: the error, and the families that are still true (e.g. "not available").
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: anyhow::Error,
    /// Families to publish despite the failure.
    pub partial: Vec<Family>,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure {
            error: e.into(),
            partial: Vec::new(),
        }
    }
}

/// The result of one poll.
pub type CollectResult = Result<Output, Failure>;

/// One collector instance.
pub trait Collector: Send {
    /// Polls once.
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult>;
}

/// A collector kind: its name, scope, schedule and how to make an instance.
pub struct Spec {
    /// Name, as in the `collectors:` section of the config and the `collector` label.
    pub name: &'static str,
    /// Cluster or per-database.
    pub scope: Scope,
    /// Time between polls.
    pub interval: Duration,
    /// Deadline of one poll.
    pub timeout: Duration,
    /// Makes a fresh instance (state starts empty).
    pub make: MakeCollector,
}

/// Makes a fresh collector instance for one target.
pub type MakeCollector = Box<dyn Fn(&TargetContext) -> Box<dyn Collector> + Send + Sync>;

/// What the collectors of one target share, made once per target by the scheduler.
#[derive(Debug, Clone)]
pub struct TargetContext {
    /// Statements that want a plan, and the plan budget.
    pub board: Arc<board::Board>,
}

impl TargetContext {
    /// A fresh context for a target.
    pub fn new(cfg: &CollectorsConfig) -> TargetContext {
        TargetContext {
            board: Arc::new(board::Board::new(cfg.plans.max_per_minute)),
        }
    }
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec")
            .field("name", &self.name)
            .field("scope", &self.scope)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The enabled collectors, as configured. This is the one list of collectors.
pub fn registry(
    cfg: &CollectorsConfig,
    thresholds: &Thresholds,
    standards: &crate::config::StandardsConfig,
) -> Vec<Spec> {
    let mut specs = Vec::new();
    let mut add = |name, scope, on: bool, every: Dur, timeout: Dur, make: MakeCollector| {
        if on {
            specs.push(Spec {
                name,
                scope,
                interval: every.0,
                timeout: timeout.0,
                make,
            });
        }
    };
    let c = &cfg.connection;
    add(
        "connection",
        Scope::Cluster,
        c.enabled,
        c.interval,
        c.timeout,
        Box::new({
            let top_n = c.top_n;
            move |_| Box::new(connection::ConnectionCollector { top_n })
        }),
    );
    let c = &cfg.statements;
    let settings = statements::Settings::new(c, thresholds, &cfg.plans);
    add(
        "statements",
        Scope::Cluster,
        c.enabled,
        c.interval,
        c.timeout,
        Box::new(move |cx| {
            Box::new(statements::StatementsCollector::new(
                settings.clone(),
                cx.board.clone(),
            ))
        }),
    );
    let c = &cfg.indexes;
    let settings = c.clone();
    add(
        "indexes",
        Scope::Database,
        c.enabled,
        c.interval,
        c.timeout,
        Box::new(move |_| Box::new(indexes::IndexesCollector::new(settings.clone()))),
    );
    let c = &cfg.migrations;
    let settings = c.clone();
    let large_table = standards.large_table;
    add(
        "migrations",
        Scope::Database,
        c.enabled,
        c.interval,
        c.timeout,
        Box::new(move |_| {
            Box::new(migrations::MigrationsCollector::new(
                settings.clone(),
                large_table,
            ))
        }),
    );
    let c = &cfg.table_sizes;
    let top_n = c.top_n;
    add(
        "table_sizes",
        Scope::Database,
        c.enabled,
        c.interval,
        c.timeout,
        Box::new(move |_| Box::new(table_sizes::TableSizesCollector { top_n })),
    );
    let c = &cfg.database;
    let size_interval = c.size_interval.0;
    add(
        "database",
        Scope::Cluster,
        c.enabled,
        c.interval,
        c.timeout,
        Box::new(move |_| Box::new(database::DatabaseCollector::new(size_interval))),
    );
    let c = &cfg.wraparound;
    add(
        "wraparound",
        Scope::Cluster,
        c.enabled,
        c.interval,
        c.timeout,
        Box::new(|_| Box::new(wraparound::WraparoundCollector::default())),
    );
    let c = &cfg.replication;
    add(
        "replication",
        Scope::Cluster,
        c.enabled,
        c.interval,
        c.timeout,
        Box::new(|_| Box::new(replication::ReplicationCollector::default())),
    );
    let c = &cfg.checkpoints;
    add(
        "checkpoints",
        Scope::Cluster,
        c.enabled,
        c.interval,
        c.timeout,
        Box::new(|_| Box::new(checkpoints::CheckpointsCollector)),
    );
    let c = &cfg.bloat;
    let settings = c.clone();
    add(
        "bloat",
        Scope::Database,
        c.enabled,
        c.interval,
        c.timeout,
        Box::new(move |_| Box::new(bloat::BloatCollector::new(settings.clone()))),
    );
    let c = &cfg.vacuum;
    let top_n = c.top_n;
    add(
        "vacuum",
        Scope::Database,
        c.enabled,
        c.interval,
        c.timeout,
        Box::new(move |_| Box::new(vacuum::VacuumCollector::new(top_n))),
    );
    let c = &cfg.sequences;
    let (top_n, used) = (c.top_n, thresholds.sequence_used);
    add(
        "sequences",
        Scope::Database,
        c.enabled,
        c.interval,
        c.timeout,
        Box::new(move |_| Box::new(sequences::SequencesCollector::new(top_n, used))),
    );
    let c = &cfg.plans;
    let settings = c.clone();
    add(
        "plans",
        Scope::Database,
        c.enabled && cfg.statements.enabled,
        c.interval,
        c.timeout,
        Box::new(move |cx| {
            Box::new(plans::PlansCollector::new(
                settings.clone(),
                cx.board.clone(),
            ))
        }),
    );
    let c = &cfg.standards;
    let settings = standards.clone();
    add(
        "standards",
        Scope::Database,
        c.enabled,
        c.interval,
        c.timeout,
        Box::new(move |_| {
            Box::new(standards::StandardsCollector {
                settings: settings.clone(),
            })
        }),
    );
    specs
}
