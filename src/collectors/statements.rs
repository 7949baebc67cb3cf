//! `statements` collector: what happened in each poll interval, from pg_stat_statements.
//!
//! Cluster-wide (pg_stat_statements covers every database; it runs where the extension is
//! created, the DSN's database). SQL: `queries/statements_extension.sql` (where the extension
//! lives), `statements_info*.sql` (reset time), `statements*.sql` (counters, one variant per
//! catalog change, read with `pg_stat_statements(false)` so the text file is not loaded) and
//! `statements_text.sql` (text of statements not seen before, cached).
//!
//! **Interval deltas** come from [`super::statement_deltas::Baseline`], fed row by row as the
//! counters stream in (the rows are never all held at once); see there for the reset rules.
//! Database and role names are kept once per oid, query texts only for statements that made
//! the top.
//!
//! **Cardinality.** Per-statement series only for the `top_n` statements of the interval by
//! execution time; the rest are summed into `queryid="other"`, so totals stay exact and the
//! series count is bounded (about 12 × (top_n + 1) plus a dozen).
//!
//! **Latency.** The interval's statements are mixed into a log-normal mixture
//! ([`crate::latency`]) for the fraction of executions under the query-latency threshold and
//! the overall p95/p99; each top statement gets its own estimated p95.
//!
//! **pgvitals' own statements** are left out, nobody else's: the application may use the
//! monitoring role too. Every SQL text pgvitals sends carries [`queries::MARKER`]; the
//! monitoring role's entries not seen before are classified once by their text
//! (`statements_own.sql`, run only when there are such entries), and those that are pgvitals'
//! are dropped from every figure. Other roles' entries are classified when they make the top
//! (their text is read then anyway), so a second pgvitals with a role of its own is left out
//! too.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use anyhow::anyhow;
use futures_util::TryStreamExt;

use super::board::Board;
use super::statement_deltas::{Baseline, Cumulative, EntryKey, Reading};
use super::statement_watch::{Seen, Watch, WatchSettings};
use super::{BoxFuture, CollectResult, Collector, Failure, Output, PollContext};
use crate::config::{PlansConfig, StatementsConfig, Thresholds};
use crate::detail::{Report, StatementKey, StatementReport, StatementsReport};
use crate::figures::{Delta, Spread};
use crate::latency::{self, Mixture, Moments};
use crate::metrics::{Family, Sample};
use crate::queries;

/// How the latency figures were obtained (the `source` label).
pub const SOURCE_LOGNORMAL: &str = "pg_stat_statements_lognormal";

/// The collector's settings, from `collectors.statements` and `thresholds`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// History, regression and plan candidates.
    pub watch: WatchSettings,
    /// Statements exported one by one per interval.
    pub top_n: usize,
    /// Characters of query text kept.
    pub text_length: usize,
    /// Characters of query text in a `query` label; `None`: no such label.
    pub text_label: Option<usize>,
    /// The query-latency threshold, seconds.
    pub threshold_seconds: f64,
}

impl Settings {
    /// Settings from the config.
    pub fn new(cfg: &StatementsConfig, thresholds: &Thresholds, plans: &PlansConfig) -> Settings {
        Settings {
            watch: WatchSettings::new(cfg, thresholds, plans),
            top_n: cfg.top_n,
            text_length: cfg.query_text_length,
            text_label: cfg.query_text_label.then_some(cfg.query_text_label_length),
            threshold_seconds: thresholds.query_latency.under.0.as_secs_f64(),
        }
    }
}

struct Sql {
    schema: String,
    version: i32,
    info: String,
    counters: String,
    own: String,
    text: String,
}

/// Polls pg_stat_statements and keeps the previous reading.
pub struct StatementsCollector {
    settings: Settings,
    sql: Option<Sql>,
    baseline: Baseline,
    prev_at: Option<Instant>,
    /// Database names by oid.
    databases: HashMap<i64, String>,
    /// Role names by oid.
    users: HashMap<i64, String>,
    other_cumulative: Cumulative,
    /// Texts of the top statements by (dbid, queryid), and whether pg_stat_statements' is longer.
    texts: HashMap<(i64, i64), (String, bool)>,
    watch: Watch,
    /// Entries classified by their text, by (dbid, userid, queryid): true when the entry is
    /// pgvitals' own. Every entry of the monitoring role is; of other roles (another pgvitals
    /// with its own role), those that made the top.
    own: HashMap<(i64, i64, i64), bool>,
}

impl StatementsCollector {
    /// A collector with no baseline yet.
    pub fn new(settings: Settings, board: Arc<Board>) -> StatementsCollector {
        StatementsCollector {
            watch: Watch::new(settings.watch.clone(), board),
            settings,
            sql: None,
            baseline: Baseline::new(),
            prev_at: None,
            databases: HashMap::new(),
            users: HashMap::new(),
            other_cumulative: Cumulative::default(),
            texts: HashMap::new(),
            own: HashMap::new(),
        }
    }

    fn unavailable(&mut self, reason: String) -> Failure {
        // Whatever comes back later starts from a fresh baseline.
        self.baseline.clear();
        self.prev_at = None;
        Failure {
            error: anyhow!(reason),
            partial: vec![
                Family::gauge(
                    AVAILABLE,
                    "1 if pg_stat_statements could be read, else 0 (the log says why).",
                )
                .with([], 0.0),
                self.resets_family(),
            ],
        }
    }

    fn resets_family(&self) -> Family {
        Family::counter(
            RESETS,
            "Statement entries found reset between two polls (a new baseline each, never a negative delta).",
        )
        .with([], self.baseline.resets() as f64)
    }

    fn sql(&mut self, schema: &str, version: i32) -> Result<&Sql, queries::UnsupportedVersion> {
        let fresh = !matches!(&self.sql, Some(s) if s.schema == schema && s.version == version);
        if fresh {
            let fill = |q: &'static str| queries::in_extension_schema(q, schema);
            self.sql = Some(Sql {
                schema: schema.to_string(),
                version,
                info: fill(queries::STATEMENTS_INFO.sql(version)?),
                counters: fill(queries::STATEMENTS.sql(version)?),
                own: fill(queries::STATEMENTS_OWN.sql(version)?),
                text: fill(queries::STATEMENTS_TEXT.sql(version)?),
            });
        }
        Ok(self.sql.as_ref().expect("just set"))
    }

    /// Reads the texts of the entries among `top` not read before (one query, only when there
    /// are such); true when one of `top` turned out to be pgvitals' own.
    async fn read_texts(
        &mut self,
        client: &tokio_postgres::Client,
        text_sql: &str,
        top: &[(EntryKey, Delta)],
    ) -> Result<bool, tokio_postgres::Error> {
        let missing: Vec<i64> = top
            .iter()
            .filter(|(k, _)| {
                !self.texts.contains_key(&(k.dbid, k.queryid))
                    || !self.own.contains_key(&(k.dbid, k.userid, k.queryid))
            })
            .map(|(k, _)| k.queryid)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if missing.is_empty() {
            return Ok(false);
        }
        let len = i32::try_from(self.settings.text_length).unwrap_or(i32::MAX);
        for row in client.query(text_sql, &[&missing, &len]).await? {
            let (dbid, userid, queryid) = (
                row.try_get("dbid")?,
                row.try_get("userid")?,
                row.try_get("queryid")?,
            );
            let text: String = row.try_get("query")?;
            let own = queries::is_marked(&text);
            self.own.insert((dbid, userid, queryid), own);
            if !own {
                self.texts
                    .insert((dbid, queryid), (text, row.try_get("truncated")?));
            }
        }
        Ok(top
            .iter()
            .any(|(k, _)| self.own.get(&(k.dbid, k.userid, k.queryid)) == Some(&true)))
    }

    async fn poll(&mut self, cx: PollContext<'_>) -> CollectResult {
        let client = cx.client;
        let ext = client
            .query_one(queries::STATEMENTS_EXTENSION.sql(cx.server_version)?, &[])
            .await?;
        let Some(schema) = ext.try_get::<_, Option<String>>("schema")? else {
            let db: String = ext.try_get("database")?;
            return Err(self.unavailable(format!(
                "pg_stat_statements is not available: the extension is not created in database `{db}` (run CREATE EXTENSION pg_stat_statements there, with pg_stat_statements in shared_preload_libraries)"
            )));
        };
        let role: Option<i64> = ext.try_get("role_oid")?;
        let sql = self.sql(&schema, cx.server_version)?;
        let (info_sql, counters_sql, own_sql, text_sql) = (
            sql.info.clone(),
            sql.counters.clone(),
            sql.own.clone(),
            sql.text.clone(),
        );
        let (info, rows) = match read_counters(client, &info_sql, &counters_sql).await {
            Ok(r) => r,
            Err(e) => {
                let text = crate::db::error_chain(&e);
                // Not loaded, or dropped between the check above and this read.
                use tokio_postgres::error::SqlState;
                if [
                    SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    SqlState::UNDEFINED_TABLE,
                    SqlState::UNDEFINED_FUNCTION,
                ]
                .iter()
                .any(|c| e.code() == Some(c))
                {
                    return Err(
                        self.unavailable(format!("pg_stat_statements is not available: {text}"))
                    );
                }
                return Err(anyhow!("reading pg_stat_statements: {text}").into());
            }
        };
        let now = Instant::now();
        let stats_reset: Option<f64> = info.try_get("stats_reset")?;
        let dealloc: Option<i64> = info.try_get("dealloc")?;

        self.baseline.begin(stats_reset);
        let mut rows = std::pin::pin!(rows);
        let mut deltas: Vec<(EntryKey, Delta)> = Vec::new();
        let mut unclassified: HashSet<i64> = HashSet::new();
        let mut parallel_seen = false;
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|e| anyhow!("reading pg_stat_statements: {}", crate::db::error_chain(&e)))?
        {
            debug_assert!(
                row.columns().iter().map(|c| c.name()).eq(col::NAMES),
                "queries/statements*.sql columns out of order"
            );
            let key = EntryKey {
                dbid: row.try_get(col::DBID)?,
                userid: row.try_get(col::USERID)?,
                queryid: row.try_get(col::QUERYID)?,
                toplevel: row.try_get(col::TOPLEVEL)?,
            };
            let calls = row.try_get::<_, i64>(col::CALLS)? as f64;
            let total_ms: f64 = row.try_get(col::TOTAL_EXEC_TIME)?;
            let parallel: Option<i64> = row.try_get(col::PARALLEL_WORKERS)?;
            parallel_seen |= parallel.is_some();
            let reading = Reading {
                totals: Delta {
                    spread: Spread::from_totals(
                        calls,
                        total_ms,
                        row.try_get(col::STDDEV_EXEC_TIME)?,
                    ),
                    total_ms,
                    rows: row.try_get::<_, i64>(col::ROWS)? as f64,
                    hit: row.try_get::<_, i64>(col::SHARED_BLKS_HIT)? as f64,
                    read: row.try_get::<_, i64>(col::SHARED_BLKS_READ)? as f64,
                    io_ms: row.try_get(col::IO_TIME)?,
                    parallel_workers: parallel.unwrap_or(0) as f64,
                },
                stats_since: row.try_get(col::STATS_SINCE)?,
            };
            if let Entry::Vacant(e) = self.databases.entry(key.dbid) {
                e.insert(row.try_get(col::DATABASE)?);
            }
            if let Entry::Vacant(e) = self.users.entry(key.userid) {
                e.insert(row.try_get(col::USER)?);
            }
            if Some(key.userid) == role
                && !self.own.contains_key(&(key.dbid, key.userid, key.queryid))
            {
                unclassified.insert(key.queryid);
            }
            if let Some(delta) = self.baseline.observe(key, reading) {
                deltas.push((key, delta));
            }
        }
        let tracked = self.baseline.finish();
        if let (Some(role), false) = (role, unclassified.is_empty()) {
            let queryids: Vec<i64> = unclassified.into_iter().collect();
            for row in client.query(own_sql.as_str(), &[&role, &queryids]).await? {
                let own = queries::is_marked(row.try_get("head")?);
                *self
                    .own
                    .entry((row.try_get("dbid")?, role, row.try_get("queryid")?))
                    .or_default() |= own;
            }
        }
        deltas.retain(
            |(k, _)| match self.own.get(&(k.dbid, k.userid, k.queryid)) {
                Some(own) => !own,
                None => Some(k.userid) != role,
            },
        );
        let interval = self.prev_at.map(|t| now.duration_since(t).as_secs_f64());
        self.prev_at = Some(now);
        // Texts are kept for statements that made the top; once there are twice as many as
        // the top holds, those pg_stat_statements no longer has are forgotten (one linear pass).
        if self.texts.len() > 2 * self.settings.top_n.max(1) {
            let present: HashSet<(i64, i64)> =
                self.baseline.keys().map(|k| (k.dbid, k.queryid)).collect();
            self.texts.retain(|id, _| present.contains(id));
        }
        if self.own.len() > tracked.max(64) {
            let present: HashSet<(i64, i64, i64)> = self
                .baseline
                .keys()
                .map(|k| (k.dbid, k.userid, k.queryid))
                .collect();
            self.own.retain(|id, _| present.contains(id));
        }

        deltas.sort_by(|a, b| b.1.total_ms.total_cmp(&a.1.total_ms));
        // The top statements' texts; an entry of another role whose text is pgvitals' (another
        // pgvitals, its own role) leaves the top, and the next one moves up.
        for _ in 0..4 {
            let split = deltas.len().min(self.settings.top_n);
            if !self.read_texts(client, &text_sql, &deltas[..split]).await? {
                break;
            }
            deltas.retain(|(k, _)| self.own.get(&(k.dbid, k.userid, k.queryid)) != Some(&true));
        }
        let split = deltas.len().min(self.settings.top_n);
        let (top, rest) = deltas.split_at(split);
        let mut other = Delta::default();
        for (_, d) in rest {
            other.add(d);
        }
        self.other_cumulative.add(&other);

        let all = Mixture::new(
            deltas
                .iter()
                .map(|(_, d)| d.spread.moments_seconds())
                .collect::<Vec<_>>()
                .iter(),
        );
        let mut out = Output::default();
        let mut report = StatementsReport {
            interval_seconds: interval,
            threshold_seconds: self.settings.threshold_seconds,
            source: SOURCE_LOGNORMAL,
            calls: all.calls(),
            total_ms: deltas
                .iter()
                .map(|(_, d)| d.total_ms)
                .fold(0.0, |a, b| a + b),
            under_threshold_ratio: all.cdf(self.settings.threshold_seconds),
            p95_ms: all.quantile(0.95).map(|s| s * 1000.0),
            p99_ms: all.quantile(0.99).map(|s| s * 1000.0),
            resets: self.baseline.resets(),
            statements: Vec::new(),
            other: None,
            history: self.watch.history(),
            regression_factor: self.settings.watch.factor,
        };
        self.summary_families(
            &mut out.families,
            &report,
            dealloc,
            tracked,
            parallel_seen.then(|| {
                deltas
                    .iter()
                    .map(|(_, d)| d.parallel_workers)
                    .fold(0.0, |a, b| a + b)
            }),
        );

        let seen: Vec<Seen> = top
            .iter()
            .map(|(k, d)| Seen {
                entry: *k,
                key: StatementKey {
                    queryid: k.queryid.to_string(),
                    database: self.databases.get(&k.dbid).cloned().unwrap_or_default(),
                    user: self.users.get(&k.userid).cloned().unwrap_or_default(),
                    toplevel: k.toplevel,
                },
                delta: d,
                cumulative: self.baseline.cumulative(k),
                text: self.texts.get(&(k.dbid, k.queryid)),
            })
            .collect();
        let baselines = match interval {
            Some(seconds) => {
                self.watch
                    .interval(crate::clock::now() as u64, seconds, &seen, &other)
            }
            None => vec![None; seen.len()],
        };
        let mut per = PerStatement::new();
        for ((k, d), (s, baseline)) in top.iter().zip(seen.iter().zip(baselines)) {
            let StatementKey { database, user, .. } = s.key.clone();
            let text = s.text.map(|(t, _)| t.clone());
            let mut labels = vec![
                ("database", database.clone()),
                ("user", user.clone()),
                ("queryid", k.queryid.to_string()),
                ("toplevel", k.toplevel.to_string()),
            ];
            if let Some(max) = self.settings.text_label {
                let t: String = text.as_deref().unwrap_or("").chars().take(max).collect();
                labels.push(("query", t));
            }
            let p95 = latency::quantile_of(&d.spread.moments_seconds(), 0.95);
            per.push(&labels, d, p95, &s.cumulative);
            if let Some(b) = baseline {
                per.baseline.samples.push(Sample {
                    labels: labels.clone(),
                    value: b / 1000.0,
                });
                if d.spread.n >= self.settings.watch.min_calls.max(1.0) && b > 0.0 {
                    per.regression.samples.push(Sample {
                        labels: labels.clone(),
                        value: d.spread.mean / b,
                    });
                }
            }
            report.statements.push(StatementReport {
                queryid: k.queryid.to_string(),
                database,
                user,
                toplevel: k.toplevel,
                query: text,
                calls: d.spread.n,
                total_ms: d.total_ms,
                mean_ms: d.spread.mean,
                stddev_ms: d.spread.stddev(),
                p95_ms: p95.map(|s| s * 1000.0),
                rows: d.rows,
                hit_ratio: d.hit_ratio(),
                baseline_mean_ms: baseline,
            });
        }
        if interval.is_some() {
            let members: Vec<Moments> = rest
                .iter()
                .map(|(_, d)| d.spread.moments_seconds())
                .collect();
            let p95 = Mixture::new(members.iter()).quantile(0.95);
            let labels = vec![("queryid", "other".to_string())];
            per.push(&labels, &other, p95, &self.other_cumulative);
            if other.spread.n > 0.0 {
                report.other = Some(StatementReport {
                    queryid: "other".into(),
                    database: String::new(),
                    user: String::new(),
                    toplevel: true,
                    query: None,
                    calls: other.spread.n,
                    total_ms: other.total_ms,
                    mean_ms: other.spread.mean,
                    stddev_ms: other.spread.stddev(),
                    p95_ms: p95.map(|s| s * 1000.0),
                    rows: other.rows,
                    hit_ratio: other.hit_ratio(),
                    baseline_mean_ms: None,
                });
            }
        }
        out.families.extend(per.finish());
        out.report = Some(Report::Statements(Arc::new(report)));
        Ok(out)
    }

    fn summary_families(
        &self,
        out: &mut Vec<Family>,
        report: &StatementsReport,
        dealloc: Option<i64>,
        tracked: usize,
        parallel_workers: Option<f64>,
    ) {
        out.push(
            Family::gauge(
                AVAILABLE,
                "1 if pg_stat_statements could be read, else 0 (the log says why).",
            )
            .with([], 1.0),
        );
        out.push(
            Family::gauge(
                TRACKED,
                "Entries in pg_stat_statements, pgvitals' own included.",
            )
            .with([], tracked as f64),
        );
        out.push(self.resets_family());
        if let Some(d) = dealloc {
            out.push(
                Family::counter(
                    DEALLOC,
                    "Entries pg_stat_statements evicted to make room (pg_stat_statements_info.dealloc).",
                )
                .with([], d as f64),
            );
        }
        let Some(interval) = report.interval_seconds else {
            return;
        };
        out.push(
            Family::gauge(
                INTERVAL_SECONDS,
                "Length of the interval the statement figures describe.",
            )
            .with([], interval),
        );
        out.push(
            Family::gauge(
                ALL_CALLS,
                "Statement executions in the interval, all statements.",
            )
            .with([], report.calls),
        );
        out.push(
            Family::gauge(
                ALL_EXEC,
                "Statement execution time in the interval, all statements.",
            )
            .with([], report.total_ms / 1000.0),
        );
        if let Some(p) = parallel_workers {
            out.push(
                Family::gauge(
                    ALL_PARALLEL,
                    "Parallel workers launched by statements in the interval (PostgreSQL 18+).",
                )
                .with([], p),
            );
        }
        let src = || ("source", SOURCE_LOGNORMAL.to_string());
        if let Some(r) = report.under_threshold_ratio {
            out.push(
                Family::gauge(
                    UNDER_RATIO,
                    "Estimated fraction of the interval's executions that ran under the query-latency threshold; absent with no executions.",
                )
                .with([("threshold_seconds", fmt_seconds(report.threshold_seconds)), src()], r),
            );
        }
        if let Some(p) = report.p95_ms {
            out.push(
                Family::gauge(
                    P95,
                    "Estimated 95th percentile of the interval's execution times, all statements.",
                )
                .with([src()], p / 1000.0),
            );
        }
        if let Some(p) = report.p99_ms {
            out.push(
                Family::gauge(
                    P99,
                    "Estimated 99th percentile of the interval's execution times, all statements.",
                )
                .with([src()], p / 1000.0),
            );
        }
    }
}

/// Column positions of `queries/statements*.sql` (every variant has the same columns).
mod col {
    pub const DBID: usize = 0;
    pub const USERID: usize = 1;
    pub const QUERYID: usize = 2;
    pub const TOPLEVEL: usize = 3;
    pub const DATABASE: usize = 4;
    pub const USER: usize = 5;
    pub const CALLS: usize = 6;
    pub const TOTAL_EXEC_TIME: usize = 7;
    pub const STDDEV_EXEC_TIME: usize = 8;
    pub const ROWS: usize = 9;
    pub const SHARED_BLKS_HIT: usize = 10;
    pub const SHARED_BLKS_READ: usize = 11;
    pub const IO_TIME: usize = 12;
    pub const STATS_SINCE: usize = 13;
    pub const PARALLEL_WORKERS: usize = 14;
    /// The names, in order, checked against the prepared statement in debug builds (the
    /// version tests run every variant).
    pub const NAMES: [&str; 15] = [
        "dbid",
        "userid",
        "queryid",
        "toplevel",
        "database",
        "user",
        "calls",
        "total_exec_time",
        "stddev_exec_time",
        "rows",
        "shared_blks_hit",
        "shared_blks_read",
        "io_time",
        "stats_since",
        "parallel_workers_launched",
    ];
}

/// Reads `pg_stat_statements_info` and starts streaming the counters.
async fn read_counters(
    client: &tokio_postgres::Client,
    info_sql: &str,
    counters_sql: &str,
) -> Result<(tokio_postgres::Row, tokio_postgres::RowStream), tokio_postgres::Error> {
    let info = client.query_one(info_sql, &[]).await?;
    Ok((info, super::stream(client, counters_sql).await?))
}

fn fmt_seconds(s: f64) -> String {
    let mut out = String::new();
    crate::metrics::write_value(&mut out, s);
    out
}

const AVAILABLE: &str = "pgvitals_statements_available";
const TRACKED: &str = "pgvitals_statements_tracked";
const RESETS: &str = "pgvitals_statements_resets_total";
const DEALLOC: &str = "pgvitals_statements_deallocations_total";
const INTERVAL_SECONDS: &str = "pgvitals_statements_interval_seconds";
const ALL_CALLS: &str = "pgvitals_statements_interval_calls";
const ALL_EXEC: &str = "pgvitals_statements_interval_exec_seconds";
const ALL_PARALLEL: &str = "pgvitals_statements_interval_parallel_workers_launched";
const UNDER_RATIO: &str = "pgvitals_statements_under_threshold_ratio";
const P95: &str = "pgvitals_statements_latency_p95_seconds";
const P99: &str = "pgvitals_statements_latency_p99_seconds";

/// The per-statement families, filled one statement at a time.
struct PerStatement {
    calls: Family,
    exec: Family,
    mean: Family,
    stddev: Family,
    p95: Family,
    rows: Family,
    hit: Family,
    read: Family,
    io: Family,
    calls_total: Family,
    exec_total: Family,
    rows_total: Family,
    baseline: Family,
    regression: Family,
}

impl PerStatement {
    fn new() -> PerStatement {
        PerStatement {
            calls: Family::gauge("pgvitals_statement_interval_calls", "Executions of the statement in the interval."),
            exec: Family::gauge("pgvitals_statement_interval_exec_seconds", "Execution time of the statement in the interval."),
            mean: Family::gauge("pgvitals_statement_interval_mean_seconds", "Mean execution time of the statement in the interval (exact)."),
            stddev: Family::gauge("pgvitals_statement_interval_stddev_seconds", "Standard deviation of the statement's execution time in the interval (exact)."),
            p95: Family::gauge("pgvitals_statement_interval_p95_seconds", "Estimated 95th percentile of the statement's execution time in the interval (log-normal fit)."),
            rows: Family::gauge("pgvitals_statement_interval_rows", "Rows returned or affected by the statement in the interval."),
            hit: Family::gauge("pgvitals_statement_interval_shared_blocks_hit", "Shared-buffer hits of the statement in the interval."),
            read: Family::gauge("pgvitals_statement_interval_shared_blocks_read", "Shared blocks the statement read from disk or OS cache in the interval."),
            io: Family::gauge("pgvitals_statement_interval_io_seconds", "Time the statement spent reading and writing blocks in the interval (needs track_io_timing)."),
            calls_total: Family::counter("pgvitals_statement_calls_total", "Executions of the statement counted by pgvitals since it first saw it (for rate())."),
            exec_total: Family::counter("pgvitals_statement_exec_seconds_total", "Execution time of the statement counted by pgvitals since it first saw it (for rate())."),
            rows_total: Family::counter("pgvitals_statement_rows_total", "Rows of the statement counted by pgvitals since it first saw it (for rate())."),
            baseline: Family::gauge("pgvitals_statement_baseline_mean_seconds", "Median of the statement's 1-minute mean execution times over the last hour (its usual speed)."),
            regression: Family::gauge("pgvitals_statement_regression_ratio", "The statement's interval mean / its baseline mean: above thresholds.query_regression.factor it is regressed."),
        }
    }

    fn push(
        &mut self,
        labels: &[(&'static str, String)],
        d: &Delta,
        p95: Option<f64>,
        c: &Cumulative,
    ) {
        let add = |f: &mut Family, v: f64| {
            f.samples.push(Sample {
                labels: labels.to_vec(),
                value: v,
            })
        };
        add(&mut self.calls, d.spread.n);
        add(&mut self.exec, d.total_ms / 1000.0);
        if d.spread.n > 0.0 {
            add(&mut self.mean, d.spread.mean / 1000.0);
            add(&mut self.stddev, d.spread.stddev() / 1000.0);
        }
        if let Some(p) = p95 {
            add(&mut self.p95, p);
        }
        add(&mut self.rows, d.rows);
        add(&mut self.hit, d.hit);
        add(&mut self.read, d.read);
        add(&mut self.io, d.io_ms / 1000.0);
        add(&mut self.calls_total, c.calls);
        add(&mut self.exec_total, c.exec_seconds);
        add(&mut self.rows_total, c.rows);
    }

    fn finish(self) -> Vec<Family> {
        vec![
            self.calls,
            self.exec,
            self.mean,
            self.stddev,
            self.p95,
            self.rows,
            self.hit,
            self.read,
            self.io,
            self.calls_total,
            self.exec_total,
            self.rows_total,
            self.baseline,
            self.regression,
        ]
    }
}

impl Collector for StatementsCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(self.poll(cx))
    }
}
