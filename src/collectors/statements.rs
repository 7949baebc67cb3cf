//! `statements` collector: what happened in each poll interval, from pg_stat_statements.
//!
//! Cluster-wide (pg_stat_statements covers every database; it runs where the extension is
//! created, the DSN's database). SQL: `queries/statements_extension.sql` (where the extension
//! lives), `statements_info*.sql` (reset time), `statements*.sql` (counters, one variant per
//! catalog change, read with `pg_stat_statements(false)` so the text file is not loaded) and
//! `statements_text.sql` (text of statements not seen before, cached).
//!
//! **Interval deltas.** The previous reading of every entry (dbid, userid, queryid, toplevel)
//! is kept. Per interval pgvitals derives Δcalls, Δexecution time, Δrows, Δshared blocks
//! hit/read and Δio time, and, from the population standard deviation pg_stat_statements keeps,
//! the interval's exact mean and standard deviation (Chan's parallel-variance formula run
//! backwards: the interval's M2 is the new M2 minus the old M2 minus the shift of the mean).
//! An entry seen for the first time since the last poll was created in the interval (a new
//! statement, or one evicted and re-created): all its counters belong to the interval. An entry
//! whose counters went down or whose `stats_since` moved was reset in the interval, and so was
//! everything when `pg_stat_statements_info.stats_reset` moved: its counters since the reset
//! are the interval's (what ran between the last poll and the reset is lost, never negative),
//! and `pgvitals_statements_resets_total` counts it. The first poll only sets the baseline.
//!
//! **Cardinality.** Per-statement series only for the `top_n` statements of the interval by
//! execution time; the rest are summed into `queryid="other"`, so totals stay exact and the
//! series count is bounded (about 12 × (top_n + 1) plus a dozen).
//!
//! **Latency.** The interval's statements are mixed into a log-normal mixture
//! ([`crate::latency`]) for the fraction of executions under the query-latency threshold and
//! the overall p95/p99; each top statement gets its own estimated p95.
//!
//! The monitoring role's own statements are excluded in the SQL.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use anyhow::anyhow;
use serde::Serialize;

use super::{
    BoxFuture, CollectResult, Collector, Failure, Output, PollContext, Report as AnyReport,
};
use crate::config::{StatementsConfig, Thresholds};
use crate::latency::{self, Mixture, Moments};
use crate::metrics::Family;
use crate::queries;

/// How the latency figures were obtained (the `source` label).
pub const SOURCE_LOGNORMAL: &str = "pg_stat_statements_lognormal";

/// The collector's settings, from `collectors.statements` and `thresholds.query_latency`.
#[derive(Debug, Clone)]
pub struct Settings {
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
    pub fn new(cfg: &StatementsConfig, thresholds: &Thresholds) -> Settings {
        Settings {
            top_n: cfg.top_n,
            text_length: cfg.query_text_length,
            text_label: cfg.query_text_label.then_some(cfg.query_text_label_length),
            threshold_seconds: thresholds.query_latency.under.0.as_secs_f64(),
        }
    }
}

/// `/statements`: one interval of one target.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct EntryKey {
    dbid: i64,
    userid: i64,
    queryid: i64,
    toplevel: bool,
}

/// Count, mean and sum of squared deviations (M2) of execution times, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Spread {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Spread {
    /// Merges two disjoint sets of executions (Chan et al.).
    fn merge(self, o: Spread) -> Spread {
        if self.n == 0.0 {
            return o;
        }
        if o.n == 0.0 {
            return self;
        }
        let n = self.n + o.n;
        let d = o.mean - self.mean;
        Spread {
            n,
            mean: self.mean + d * o.n / n,
            m2: self.m2 + o.m2 + d * d * self.n * o.n / n,
        }
    }

    /// The executions in `self` that are not in `earlier` (a prefix of the same series).
    fn since(self, earlier: Spread) -> Spread {
        let n = self.n - earlier.n;
        if n <= 0.0 {
            return Spread::default();
        }
        let sum = self.mean * self.n - earlier.mean * earlier.n;
        let mean = sum / n;
        let d = mean - earlier.mean;
        let m2 = self.m2 - earlier.m2 - d * d * earlier.n * n / self.n;
        Spread {
            n,
            mean,
            m2: m2.max(0.0),
        }
    }

    fn stddev(&self) -> f64 {
        if self.n > 0.0 {
            (self.m2 / self.n).sqrt()
        } else {
            0.0
        }
    }

    fn moments_seconds(&self) -> Moments {
        Moments {
            calls: self.n,
            mean: self.mean / 1000.0,
            stddev: self.stddev() / 1000.0,
        }
    }
}

/// One reading of an entry's cumulative counters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    spread: Spread,
    total_ms: f64,
    rows: f64,
    hit: f64,
    read: f64,
    io_ms: f64,
    stats_since: Option<f64>,
    parallel_workers: Option<f64>,
}

impl Reading {
    fn went_back_from(&self, p: &Reading) -> bool {
        self.spread.n < p.spread.n
            || self.total_ms < p.total_ms - 1e-6
            || self.rows < p.rows
            || self.hit < p.hit
            || self.read < p.read
            || self.stats_since != p.stats_since
    }

    /// The interval's share: everything since `p`, or since zero when `p` is `None`.
    fn since(&self, p: Option<&Reading>) -> Delta {
        let zero = Reading {
            spread: Spread::default(),
            total_ms: 0.0,
            rows: 0.0,
            hit: 0.0,
            read: 0.0,
            io_ms: 0.0,
            stats_since: None,
            parallel_workers: None,
        };
        let p = p.unwrap_or(&zero);
        Delta {
            spread: self.spread.since(p.spread),
            total_ms: (self.total_ms - p.total_ms).max(0.0),
            rows: self.rows - p.rows,
            hit: self.hit - p.hit,
            read: self.read - p.read,
            io_ms: (self.io_ms - p.io_ms).max(0.0),
            parallel_workers: (self.parallel_workers.unwrap_or(0.0)
                - p.parallel_workers.unwrap_or(0.0))
            .max(0.0),
        }
    }
}

/// What one entry (or a bucket of them) did in the interval.
#[derive(Debug, Clone, Copy, Default)]
struct Delta {
    spread: Spread,
    total_ms: f64,
    rows: f64,
    hit: f64,
    read: f64,
    io_ms: f64,
    parallel_workers: f64,
}

impl Delta {
    fn add(&mut self, o: &Delta) {
        self.spread = self.spread.merge(o.spread);
        self.total_ms += o.total_ms;
        self.rows += o.rows;
        self.hit += o.hit;
        self.read += o.read;
        self.io_ms += o.io_ms;
        self.parallel_workers += o.parallel_workers;
    }

    fn hit_ratio(&self) -> Option<f64> {
        let all = self.hit + self.read;
        (all > 0.0).then(|| self.hit / all)
    }
}

/// pgvitals' running sums of the interval deltas, for the `_total` counters.
#[derive(Debug, Clone, Copy, Default)]
struct Cumulative {
    calls: f64,
    exec_seconds: f64,
    rows: f64,
}

impl Cumulative {
    fn add(&mut self, d: &Delta) {
        self.calls += d.spread.n;
        self.exec_seconds += d.total_ms / 1000.0;
        self.rows += d.rows;
    }
}

struct Sql {
    schema: String,
    version: i32,
    info: String,
    counters: String,
    text: String,
}

/// Polls pg_stat_statements and keeps the previous reading.
pub struct StatementsCollector {
    settings: Settings,
    sql: Option<Sql>,
    prev: HashMap<EntryKey, Reading>,
    prev_at: Option<Instant>,
    prev_stats_reset: Option<f64>,
    names: HashMap<EntryKey, (String, String)>,
    cumulative: HashMap<EntryKey, Cumulative>,
    other_cumulative: Cumulative,
    resets: u64,
    texts: HashMap<(i64, i64), String>,
}

impl StatementsCollector {
    /// A collector with no baseline yet.
    pub fn new(settings: Settings) -> StatementsCollector {
        StatementsCollector {
            settings,
            sql: None,
            prev: HashMap::new(),
            prev_at: None,
            prev_stats_reset: None,
            names: HashMap::new(),
            cumulative: HashMap::new(),
            other_cumulative: Cumulative::default(),
            resets: 0,
            texts: HashMap::new(),
        }
    }

    fn unavailable(&mut self, reason: String) -> Failure {
        // Whatever comes back later starts from a fresh baseline.
        self.prev.clear();
        self.prev_at = None;
        self.prev_stats_reset = None;
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
        .with([], self.resets as f64)
    }

    fn sql(&mut self, schema: &str, version: i32) -> Result<&Sql, queries::UnsupportedVersion> {
        let fresh = !matches!(&self.sql, Some(s) if s.schema == schema && s.version == version);
        if fresh {
            let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
            let fill = |q: &'static str| q.replace("@extschema@", &quoted);
            self.sql = Some(Sql {
                schema: schema.to_string(),
                version,
                info: fill(queries::STATEMENTS_INFO.sql(version)?),
                counters: fill(queries::STATEMENTS.sql(version)?),
                text: fill(queries::STATEMENTS_TEXT.sql(version)?),
            });
        }
        Ok(self.sql.as_ref().expect("just set"))
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
        let sql = self.sql(&schema, cx.server_version)?;
        let (info_sql, counters_sql, text_sql) =
            (sql.info.clone(), sql.counters.clone(), sql.text.clone());
        let read = tokio::try_join!(
            client.query_one(info_sql.as_str(), &[]),
            client.query(counters_sql.as_str(), &[])
        );
        let (info, rows) = match read {
            Ok(r) => r,
            Err(e) => {
                let text = crate::db::error_chain(&e);
                if e.code()
                    == Some(&tokio_postgres::error::SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE)
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

        let first = self.prev_at.is_none();
        let global_reset = !first
            && stats_reset.is_some()
            && self.prev_stats_reset.is_some()
            && stats_reset != self.prev_stats_reset;
        if global_reset {
            self.resets += 1;
        }
        let mut current: HashMap<EntryKey, Reading> = HashMap::with_capacity(rows.len());
        let mut deltas: Vec<(EntryKey, Delta)> = Vec::new();
        let mut parallel_seen = false;
        for row in &rows {
            let key = EntryKey {
                dbid: row.try_get("dbid")?,
                userid: row.try_get("userid")?,
                queryid: row.try_get("queryid")?,
                toplevel: row.try_get("toplevel")?,
            };
            let calls = row.try_get::<_, i64>("calls")? as f64;
            let total_ms: f64 = row.try_get("total_exec_time")?;
            let stddev: f64 = row.try_get("stddev_exec_time")?;
            let parallel: Option<i64> = row.try_get("parallel_workers_launched")?;
            parallel_seen |= parallel.is_some();
            let reading = Reading {
                spread: Spread {
                    n: calls,
                    mean: if calls > 0.0 { total_ms / calls } else { 0.0 },
                    m2: stddev * stddev * calls,
                },
                total_ms,
                rows: row.try_get::<_, i64>("rows")? as f64,
                hit: row.try_get::<_, i64>("shared_blks_hit")? as f64,
                read: row.try_get::<_, i64>("shared_blks_read")? as f64,
                io_ms: row.try_get("io_time")?,
                stats_since: row.try_get("stats_since")?,
                parallel_workers: parallel.map(|v| v as f64),
            };
            if let std::collections::hash_map::Entry::Vacant(e) = self.names.entry(key) {
                e.insert((row.try_get("database")?, row.try_get("user")?));
            }
            if !first {
                let delta = if global_reset {
                    reading.since(None)
                } else {
                    match self.prev.get(&key) {
                        Some(p) if reading.went_back_from(p) => {
                            self.resets += 1;
                            reading.since(None)
                        }
                        Some(p) => reading.since(Some(p)),
                        None => reading.since(None),
                    }
                };
                if delta.spread.n > 0.0 {
                    deltas.push((key, delta));
                }
            }
            current.insert(key, reading);
        }
        let interval = self.prev_at.map(|t| now.duration_since(t).as_secs_f64());
        self.prev = current;
        self.prev_at = Some(now);
        self.prev_stats_reset = stats_reset;
        // Forget what pg_stat_statements no longer has.
        let prev = &self.prev;
        self.names.retain(|k, _| prev.contains_key(k));
        self.cumulative.retain(|k, _| prev.contains_key(k));
        self.texts
            .retain(|(db, q), _| prev.keys().any(|k| k.dbid == *db && k.queryid == *q));

        deltas.sort_by(|a, b| b.1.total_ms.total_cmp(&a.1.total_ms));
        let split = deltas.len().min(self.settings.top_n);
        let (top, rest) = deltas.split_at(split);
        let mut other = Delta::default();
        for (_, d) in rest {
            other.add(d);
        }
        for (k, d) in &deltas {
            self.cumulative.entry(*k).or_default().add(d);
        }
        self.other_cumulative.add(&other);

        // Texts of top statements not seen before.
        let missing: Vec<i64> = top
            .iter()
            .filter(|(k, _)| !self.texts.contains_key(&(k.dbid, k.queryid)))
            .map(|(k, _)| k.queryid)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !missing.is_empty() {
            let len = i32::try_from(self.settings.text_length).unwrap_or(i32::MAX);
            for row in client.query(text_sql.as_str(), &[&missing, &len]).await? {
                self.texts.insert(
                    (row.try_get("dbid")?, row.try_get("queryid")?),
                    row.try_get("query")?,
                );
            }
        }

        let all = Mixture::new(
            deltas
                .iter()
                .map(|(_, d)| d.spread.moments_seconds())
                .collect::<Vec<_>>()
                .iter(),
        );
        let mut out = Output::default();
        let mut report = Report {
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
            resets: self.resets,
            statements: Vec::new(),
            other: None,
        };
        self.summary_families(
            &mut out.families,
            &report,
            dealloc,
            rows.len(),
            parallel_seen.then(|| {
                deltas
                    .iter()
                    .map(|(_, d)| d.parallel_workers)
                    .fold(0.0, |a, b| a + b)
            }),
        );

        let mut per = PerStatement::new();
        for (k, d) in top {
            let (database, user) = self.names.get(k).cloned().unwrap_or_default();
            let text = self.texts.get(&(k.dbid, k.queryid)).cloned();
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
            per.push(
                &labels,
                d,
                p95,
                &self.cumulative.get(k).copied().unwrap_or_default(),
            );
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
                });
            }
        }
        out.families.extend(per.finish());
        out.report = Some(AnyReport::Statements(std::sync::Arc::new(report)));
        Ok(out)
    }

    fn summary_families(
        &self,
        out: &mut Vec<Family>,
        report: &Report,
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
                "Entries in pg_stat_statements (the monitoring role's excepted).",
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

/// A plain-text table of one target's interval, for `/statements?format=text`.
pub fn render_text(target: &str, r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let opt =
        |v: Option<f64>, scale: f64| v.map_or("-".to_string(), |v| format!("{:.1}", v * scale));
    let _ = writeln!(
        out,
        "target {target}: interval {} s, {} calls, {:.1} ms total, {} % under {} ms, p95 {} ms, p99 {} ms ({})",
        opt(r.interval_seconds, 1.0),
        r.calls,
        r.total_ms,
        opt(r.under_threshold_ratio, 100.0),
        r.threshold_seconds * 1000.0,
        opt(r.p95_ms, 1.0),
        opt(r.p99_ms, 1.0),
        r.source
    );
    let _ = writeln!(
        out,
        "{:>20} {:>10} {:>12} {:>10} {:>10} {:>10} {:>10} {:>6}  {:<16} {:<16} query",
        "queryid",
        "calls",
        "total_ms",
        "mean_ms",
        "stddev_ms",
        "p95_ms",
        "rows",
        "hit%",
        "database",
        "user"
    );
    for s in r.statements.iter().chain(r.other.iter()) {
        let query: String = s
            .query
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(120)
            .collect();
        let _ = writeln!(
            out,
            "{:>20} {:>10} {:>12.1} {:>10.2} {:>10.2} {:>10} {:>10} {:>6}  {:<16} {:<16} {}",
            s.queryid,
            s.calls,
            s.total_ms,
            s.mean_ms,
            s.stddev_ms,
            opt(s.p95_ms, 1.0),
            s.rows,
            opt(s.hit_ratio, 100.0),
            s.database,
            s.user,
            query
        );
    }
    out.push('\n');
    out
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
            f.samples.push(crate::metrics::Sample {
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
        ]
    }
}

impl Collector for StatementsCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(self.poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread_of(xs: &[f64]) -> Spread {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        Spread {
            n,
            mean,
            m2: xs.iter().map(|x| (x - mean).powi(2)).sum(),
        }
    }

    #[test]
    fn interval_moments_are_exact() {
        let before = [1.0, 2.0, 3.0, 10.0];
        let after = [5.0, 7.0, 30.0];
        let all: Vec<f64> = before.iter().chain(after.iter()).copied().collect();
        let got = spread_of(&all).since(spread_of(&before));
        let want = spread_of(&after);
        assert!((got.n - want.n).abs() < 1e-9);
        assert!((got.mean - want.mean).abs() < 1e-9);
        assert!((got.m2 - want.m2).abs() < 1e-6, "{got:?} vs {want:?}");
        let merged = spread_of(&before).merge(spread_of(&after));
        assert!((merged.m2 - spread_of(&all).m2).abs() < 1e-6);
    }
}
