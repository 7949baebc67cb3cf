//! `plans` collector: the generic plan of the statements that want one, captured without ever
//! running them, their plan changes, and the indexes that would serve them.
//!
//! Per database. The statements collector posts candidates on the target's board (slow,
//! regressed, busiest); each poll this collector takes those of its database and explains the
//! ones due, within the target's budget (`plans.max_per_minute`, every EXPLAIN counted):
//! a statement with no plan yet; one that turned slow or regressed after its plan was captured;
//! one whose interval mean moved 2× away from its mean when captured (an index appeared or
//! went); one whose plan is older than `plans.max_age`. A failed capture is retried after
//! `max_age` or a minute, whichever is sooner, and keeps its reason.
//!
//! **How** (never `ANALYZE`, never a utility or multi-statement text, never a truncated text):
//! on 16+ `EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON)`; on 13–15 a `PREPARE`d copy explained
//! with `EXECUTE (NULL, …)` under `plan_cache_mode = force_generic_plan`; both inside a
//! transaction (the session is read-only) with `SET LOCAL statement_timeout`, rolled back. A
//! role that may not read the tables uses `pgvitals.explain_generic(text)` when installed
//! (`queries/explain_helper.sql`). SQL: `queries/plans_setup.sql` (helper, hypopg),
//! `plan_tables.sql` (rows and indexes of the tables scanned sequentially).
//!
//! **Suggestions**: a filtered sequential scan of a table over `plans.suggest_min_rows` rows
//! gives a B-tree candidate (equality columns first, then one range column), unless an index
//! already leads with its first column. With hypopg in the database the statement is explained
//! again with the index hypothetical; a candidate is kept only if the planner uses it and the
//! cost falls by half. Without hypopg it is kept as "not verified".
//!
//! Files: this one decides what to capture and keeps what was seen; `explain.rs` reads a plan,
//! `suggest.rs` is the index advisor.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::board::{Board, Candidate, Reason};
use super::{BoxFuture, CollectResult, Collector, Output, PollContext};
use crate::config::PlansConfig;
use crate::detail::{
    CapturedPlan, PlanChange, PlanSeen, PlansReport, Report, StatementPlans, TableGrowth,
};
use crate::metrics::{Family, Sample};
use crate::plan;
use crate::queries;

mod explain;
mod suggest;
mod tables;

use explain::{checked, explain};
use suggest::suggest;
use tables::{RowsAt, TableRows};

/// Statements whose plans one database keeps, at most.
const TRACKED: usize = 200;
/// Plans seen per statement, at most (the oldest go).
const SEEN: usize = 10;

/// What the plans collector knows of one statement.
struct Tracked {
    plans: StatementPlans,
    /// When the current plan was captured.
    captured: Option<Instant>,
    /// The interval mean when it was.
    captured_mean_ms: f64,
    /// pgvitals' running sums (calls, ms) when the current plan was first seen.
    current_since: (f64, f64),
    attempted: Instant,
    /// Plan changes counted.
    changes: u64,
    /// Once the statement turned slow or regressed: the rows of its plan's tables as last read
    /// before that began (until it is captured again at normal speed).
    rows_before: Option<Vec<(plan::Relation, RowsAt)>>,
}

/// Captures plans of one database's statements.
pub struct PlansCollector {
    settings: PlansConfig,
    board: Arc<Board>,
    tracked: HashMap<i64, Tracked>,
    /// The latest rows read of the tables plans read.
    rows: TableRows,
    captured: u64,
    failed: u64,
    seq: u64,
}

/// What this database offers for capture.
struct Setup {
    database: String,
    helper: bool,
    hypopg: Option<String>,
    version: i32,
}

impl PlansCollector {
    /// A collector with no plans yet.
    pub fn new(settings: PlansConfig, board: Arc<Board>) -> PlansCollector {
        PlansCollector {
            settings,
            board,
            tracked: HashMap::new(),
            rows: TableRows::default(),
            captured: 0,
            failed: 0,
            seq: 0,
        }
    }

    fn due(&self, c: &Candidate) -> bool {
        let Some(t) = self.tracked.get(&c.queryid) else {
            return true;
        };
        let age = t.attempted.elapsed();
        if t.plans.error.is_some() {
            return age >= self.settings.max_age.0.min(Duration::from_secs(60));
        }
        let Some(captured) = t.captured else {
            return true;
        };
        let onset = c.reason != Reason::Top && c.since.is_some_and(|s| s > captured);
        onset || moved(t, c) || captured.elapsed() >= self.settings.max_age.0
    }

    async fn poll(&mut self, cx: PollContext<'_>) -> CollectResult {
        let client = cx.client;
        let row = client
            .query_one(queries::PLANS_SETUP.sql(cx.server_version)?, &[])
            .await?;
        let setup = Setup {
            database: row.try_get("database")?,
            helper: row.try_get("helper")?,
            hypopg: row
                .try_get::<_, Option<String>>("hypopg_schema")?
                .filter(|_| self.settings.hypopg),
            version: cx.server_version,
        };
        let candidates = self.board.candidates(&setup.database);
        for c in &candidates {
            if let Some(t) = self.tracked.get_mut(&c.queryid) {
                t.plans.exec_ms_per_minute = c.exec_ms_per_minute;
                // A statement whose speed moved 2× is explained again below; until then its
                // new executions may run under a new plan and are not counted for the old one.
                if !moved(t, c) {
                    refresh_mean(t, c);
                }
            }
        }
        self.watch_growth(client, &setup, &candidates).await;
        for c in &candidates {
            if !self.due(c) || !self.board.take() {
                continue;
            }
            self.capture(client, &setup, c).await;
        }
        if self.tracked.len() > TRACKED {
            let mut by_age: Vec<(Instant, i64)> = self
                .tracked
                .iter()
                .map(|(q, t)| (t.attempted, *q))
                .collect();
            by_age.sort();
            for (_, q) in by_age.iter().take(self.tracked.len() - TRACKED) {
                self.tracked.remove(q);
            }
        }
        Ok(self.output(&setup))
    }

    async fn capture(&mut self, client: &Client, setup: &Setup, c: &Candidate) {
        let now = crate::clock::now();
        self.seq += 1;
        let result = match checked(c) {
            Err(reason) => Err(reason),
            Ok(()) => explain(client, setup, &c.query, self.seq, &self.settings).await,
        };
        let t = self.tracked.entry(c.queryid).or_insert_with(|| Tracked {
            plans: StatementPlans {
                queryid: c.queryid.to_string(),
                plan: None,
                plans: Vec::new(),
                changes: Vec::new(),
                suggestions: Vec::new(),
                error: None,
                attempted_at: now,
                exec_ms_per_minute: c.exec_ms_per_minute,
                table_growth: Vec::new(),
            },
            captured: None,
            captured_mean_ms: 0.0,
            current_since: (c.calls_total, c.exec_ms_total),
            attempted: Instant::now(),
            changes: 0,
            rows_before: None,
        });
        t.attempted = Instant::now();
        if c.reason == Reason::Top {
            t.rows_before = None;
        }
        t.plans.attempted_at = now;
        let (json, method) = match result {
            Ok(r) => r,
            Err(reason) => {
                self.failed += 1;
                t.plans.error = Some(reason);
                return;
            }
        };
        let (parsed, scans) = match plan::parse(&json) {
            Ok(p) => p,
            Err(reason) => {
                self.failed += 1;
                t.plans.error = Some(reason);
                return;
            }
        };
        self.captured += 1;
        t.plans.error = None;
        t.captured = Some(Instant::now());
        let changed = t
            .plans
            .plan
            .as_ref()
            .filter(|old| old.plan.fingerprint != parsed.fingerprint)
            .map(|old| old.plan.summary.clone());
        if let Some(from) = changed {
            t.changes += 1;
            // The mean counted under the old plan, or, before any was counted, the interval
            // mean when it was captured.
            let before = t
                .plans
                .plans
                .last()
                .and_then(|p| p.mean_ms)
                .or((t.captured_mean_ms > 0.0).then_some(t.captured_mean_ms));
            t.plans.changes.push(PlanChange {
                at: now,
                from,
                to: parsed.summary.clone(),
                mean_before_ms: before,
                mean_after_ms: None,
            });
            if t.plans.changes.len() > SEEN {
                t.plans.changes.remove(0);
            }
            t.current_since = (c.calls_total, c.exec_ms_total);
        }
        t.captured_mean_ms = c.mean_ms;
        match t
            .plans
            .plans
            .iter_mut()
            .find(|p| p.fingerprint == parsed.fingerprint)
        {
            Some(seen) => seen.last_seen = now,
            None => {
                t.plans.plans.push(PlanSeen {
                    fingerprint: parsed.fingerprint.clone(),
                    summary: parsed.summary.clone(),
                    first_seen: now,
                    last_seen: now,
                    mean_ms: None,
                });
                if t.plans.plans.len() > SEEN {
                    t.plans.plans.remove(0);
                }
            }
        }
        // The current plan is the last one seen.
        if let Some(i) = t
            .plans
            .plans
            .iter()
            .position(|p| p.fingerprint == parsed.fingerprint)
        {
            let p = t.plans.plans.remove(i);
            t.plans.plans.push(p);
        }
        refresh_mean(t, c);
        let cost = parsed.total_cost;
        let relations = parsed.relations.clone();
        t.plans.plan = Some(CapturedPlan {
            plan: parsed,
            json,
            captured_at: now,
            method,
        });
        // What the catalog says of its tables: for the advisor, and their rows now.
        let tables = tables::read(client, setup.version, &relations)
            .await
            .unwrap_or_default();
        self.rows.record(&tables, now);
        let suggestions = suggest(
            client,
            setup,
            c,
            &scans,
            &tables,
            cost,
            &self.settings,
            &self.board,
            self.seq,
        )
        .await;
        if let Some(t) = self.tracked.get_mut(&c.queryid) {
            t.plans.suggestions = suggestions;
        }
    }

    /// For the statements that are slow or regressed: the rows their tables had before (noted
    /// once, when it begins, and kept until the statement is captured again at normal speed)
    /// and have now (read each poll, one query for all of them).
    async fn watch_growth(&mut self, client: &Client, setup: &Setup, candidates: &[Candidate]) {
        let mut relations: Vec<plan::Relation> = Vec::new();
        for c in candidates {
            let Some(t) = self.tracked.get_mut(&c.queryid) else {
                continue;
            };
            // A statement back to normal keeps what its tables had before it turned bad (an
            // interval or two of normal speed in a regression must not move "before" to now);
            // the next capture while it is normal clears it.
            let Some(p) = t.plans.plan.as_ref().filter(|_| c.reason != Reason::Top) else {
                continue;
            };
            if t.rows_before.is_none() {
                let rows = &self.rows;
                t.rows_before = Some(
                    p.plan
                        .relations
                        .iter()
                        .filter_map(|r| rows.get(r).map(|at| (r.clone(), at)))
                        .collect(),
                );
            }
            for r in &p.plan.relations {
                if !relations.contains(r) {
                    relations.push(r.clone());
                }
            }
        }
        if let Ok(tables) = tables::read(client, setup.version, &relations).await {
            self.rows.record(&tables, crate::clock::now());
        }
    }

    /// A slow or regressed statement's tables: rows before and now.
    fn growth(&self, t: &Tracked) -> Vec<TableGrowth> {
        t.rows_before
            .iter()
            .flatten()
            .filter_map(|(r, before)| {
                let now = self.rows.get(r)?;
                Some(TableGrowth {
                    relation: r.clone(),
                    rows_before: before.rows,
                    before_at: before.at,
                    rows_now: now.rows,
                    now_at: now.at,
                })
            })
            .collect()
    }

    fn output(&self, setup: &Setup) -> Output {
        let mut captures = Family::counter(
            "pgvitals_plan_captures_total",
            "Plan captures (EXPLAIN of a generic plan) in this database: result=captured or failed (the reason is in /statements/{queryid}).",
        );
        captures.push([("result", "captured".into())], self.captured as f64);
        captures.push([("result", "failed".into())], self.failed as f64);
        let mut changes = Family::counter(
            "pgvitals_statement_plan_changes_total",
            "Times the statement's captured plan changed shape (node types, relations, indexes, join order).",
        );
        let mut info = Family::gauge(
            "pgvitals_statement_plan_info",
            "The statement's current plan: its fingerprint and one-line summary as labels; value: its total cost.",
        );
        let mut suggestion = Family::gauge(
            "pgvitals_statement_index_suggestion",
            "An index that would serve the statement (CREATE INDEX CONCURRENTLY in /statements/{queryid}); value: the statement's plan cost with it / without it (1 when not verified with hypopg).",
        );
        let mut statements = Vec::new();
        for (queryid, t) in &self.tracked {
            let q = queryid.to_string();
            if let Some(p) = &t.plans.plan {
                changes.samples.push(Sample {
                    labels: vec![("queryid", q.clone())],
                    value: t.changes as f64,
                });
                info.samples.push(Sample {
                    labels: vec![
                        ("queryid", q.clone()),
                        ("fingerprint", p.plan.fingerprint.clone()),
                        ("summary", p.plan.summary.chars().take(160).collect()),
                    ],
                    value: p.plan.total_cost,
                });
            }
            for s in &t.plans.suggestions {
                suggestion.samples.push(Sample {
                    labels: vec![
                        ("queryid", q.clone()),
                        ("schema", s.relation.schema.clone()),
                        ("table", s.relation.table.clone()),
                        ("columns", s.columns.join(",")),
                        ("verified", s.verified.to_string()),
                    ],
                    value: s.cost_after.map_or(1.0, |a| a / s.cost_before.max(1e-9)),
                });
            }
            let mut plans = t.plans.clone();
            plans.table_growth = self.growth(t);
            statements.push(plans);
        }
        statements.sort_by(|a, b| a.queryid.cmp(&b.queryid));
        Output {
            families: vec![captures, changes, info, suggestion],
            report: Some(Report::Plans(Arc::new(PlansReport {
                statements,
                helper: setup.helper,
                hypopg: setup.hypopg.is_some(),
            }))),
        }
    }
}

/// Whether a statement's interval mean is 2× away from its mean under its current plan (or,
/// before that is known, its mean when the plan was captured).
fn moved(t: &Tracked, c: &Candidate) -> bool {
    let usual = t
        .plans
        .plans
        .last()
        .and_then(|p| p.mean_ms)
        .unwrap_or(t.captured_mean_ms);
    t.captured.is_some()
        && usual > 0.0
        && c.mean_ms > 0.0
        && !(0.5..2.0).contains(&(c.mean_ms / usual))
}

/// The current plan's mean so far, and the latest change's "after", from pgvitals' running
/// sums since the plan became current.
fn refresh_mean(t: &mut Tracked, c: &Candidate) {
    let calls = c.calls_total - t.current_since.0;
    let mean = (calls > 0.0).then(|| (c.exec_ms_total - t.current_since.1) / calls);
    if mean.is_none() {
        return;
    }
    if let Some(p) = t.plans.plans.last_mut() {
        p.mean_ms = mean;
    }
    if let Some(ch) = t.plans.changes.last_mut() {
        ch.mean_after_ms = mean;
    }
}

impl Collector for PlansCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(self.poll(cx))
    }
}
