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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, SimpleQueryMessage};

use super::board::{Board, Candidate, Reason};
use super::{BoxFuture, CollectResult, Collector, Output, PollContext};
use crate::config::PlansConfig;
use crate::detail::{
    CapturedPlan, PlanChange, PlanSeen, PlansReport, Report, StatementPlans, Suggestion,
};
use crate::metrics::{Family, Sample};
use crate::plan::{self, quote_ident};
use crate::queries;

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
}

/// Captures plans of one database's statements.
pub struct PlansCollector {
    settings: PlansConfig,
    board: Arc<Board>,
    tracked: HashMap<i64, Tracked>,
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
            },
            captured: None,
            captured_mean_ms: 0.0,
            current_since: (c.calls_total, c.exec_ms_total),
            attempted: Instant::now(),
            changes: 0,
        });
        t.attempted = Instant::now();
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
        t.plans.plan = Some(CapturedPlan {
            plan: parsed,
            json,
            captured_at: now,
            method,
        });
        let suggestions = suggest(
            client,
            setup,
            c,
            &scans,
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
            statements.push(t.plans.clone());
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

/// Why a statement's text cannot be explained, if it cannot.
fn checked(c: &Candidate) -> Result<(), String> {
    if c.truncated {
        return Err("text truncated: pg_stat_statements holds more than collectors.statements.query_text_length characters".into());
    }
    let q = c.query.trim().trim_end_matches(';');
    let first = q
        .split(|ch: char| !ch.is_ascii_alphabetic())
        .find(|w| !w.is_empty())
        .unwrap_or("")
        .to_ascii_uppercase();
    if ![
        "SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "MERGE", "VALUES", "TABLE",
    ]
    .contains(&first.as_str())
    {
        return Err(format!(
            "a utility statement (`{first}`): only SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES and WITH are explained"
        ));
    }
    if q.contains(';') {
        return Err("more than one statement".into());
    }
    Ok(())
}

/// The server's message of an error (without "db error: ").
fn reason(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| crate::db::error_chain(e))
}

async fn simple(client: &Client, sql: &str) -> Result<Vec<String>, String> {
    let text = queries::mark(sql);
    let messages = client.simple_query(&text).await.map_err(|e| reason(&e))?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect())
}

/// The highest `$n` in a normalized text.
fn parameters(q: &str) -> usize {
    let b = q.as_bytes();
    let mut max = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if let Ok(n) = q[start..j].parse::<usize>() {
                max = max.max(n);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    max
}

/// `EXPLAIN (FORMAT JSON)` of the generic plan of `query`, and how it was obtained.
async fn explain(
    client: &Client,
    setup: &Setup,
    query: &str,
    seq: u64,
    settings: &PlansConfig,
) -> Result<(String, String), String> {
    let q = query.trim().trim_end_matches(';');
    if setup.helper {
        let row = client
            .query_one(&queries::mark("SELECT pgvitals.explain_generic($1)"), &[&q])
            .await
            .map_err(|e| reason(&e))?;
        let json: String = row.try_get(0).map_err(|e| reason(&e))?;
        return Ok((json, "helper".into()));
    }
    let timeout = format!(
        "SET LOCAL statement_timeout = {}",
        settings.statement_timeout.0.as_millis()
    );
    if setup.version >= 160000 {
        let explain = format!("EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON) {q}");
        let json = rolled_back(client, &[&timeout], &explain).await?;
        return Ok((json, "generic_plan".into()));
    }
    let name = format!("pgvitals_plan_{seq}");
    simple(client, &format!("PREPARE {name} AS {q}")).await?;
    let n = parameters(q);
    let args = if n == 0 {
        String::new()
    } else {
        format!("({})", vec!["NULL"; n].join(", "))
    };
    let explain = format!("EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {name}{args}");
    let r = rolled_back(
        client,
        &[&timeout, "SET LOCAL plan_cache_mode = force_generic_plan"],
        &explain,
    )
    .await;
    simple(client, &format!("DEALLOCATE {name}")).await?;
    Ok((r?, "prepare".into()))
}

/// Runs `explain` in a transaction, after `settings` (`SET LOCAL …`), and rolls it back;
/// returns the plan.
async fn rolled_back(client: &Client, settings: &[&str], explain: &str) -> Result<String, String> {
    simple(client, "BEGIN").await?;
    let r = async {
        for s in settings {
            simple(client, s).await?;
        }
        simple(client, explain).await
    }
    .await;
    simple(client, "ROLLBACK").await?;
    r?.into_iter()
        .next()
        .ok_or_else(|| "EXPLAIN returned nothing".to_string())
}

/// Index suggestions for the filtered sequential scans of a plan, checked with hypopg when
/// it is installed.
#[allow(clippy::too_many_arguments)]
async fn suggest(
    client: &Client,
    setup: &Setup,
    c: &Candidate,
    scans: &[plan::SeqScan],
    cost_before: f64,
    settings: &PlansConfig,
    board: &Board,
    seq: u64,
) -> Vec<Suggestion> {
    if scans.is_empty() {
        return Vec::new();
    }
    let names: Vec<String> = scans
        .iter()
        .map(|s| format!("{}.{}", s.relation.schema, s.relation.table))
        .collect();
    let Ok(rows) = client
        .query(
            queries::PLAN_TABLES.sql(setup.version).unwrap_or(""),
            &[&names],
        )
        .await
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for scan in scans {
        let Some(row) = rows.iter().find(|r| {
            r.get::<_, String>("schema") == scan.relation.schema
                && r.get::<_, String>("table_name") == scan.relation.table
        }) else {
            continue;
        };
        let table_rows: f64 = row.get("rows");
        let leading: Vec<String> = row.get("leading_columns");
        let columns: Vec<String> = row.get("columns");
        if table_rows < settings.suggest_min_rows as f64 {
            continue;
        }
        let mut cols: Vec<String> = scan
            .equality
            .iter()
            .filter(|c| columns.contains(c))
            .cloned()
            .collect();
        if let Some(r) = scan.range.iter().find(|c| columns.contains(c)) {
            cols.push(r.clone());
        }
        if cols.is_empty()
            || leading.contains(&cols[0])
            || out
                .iter()
                .any(|s: &Suggestion| s.relation == scan.relation && s.columns == cols)
        {
            continue;
        }
        let target = scan.relation.quoted();
        let list = cols
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let ddl = format!("CREATE INDEX CONCURRENTLY ON {target} ({list});");
        let mut s = Suggestion {
            relation: scan.relation.clone(),
            columns: cols.clone(),
            ddl,
            verified: false,
            cost_before,
            cost_after: None,
            table_rows,
            detail: format!(
                "Seq Scan on {target} ({table_rows:.0} rows) filtered by {}: an index on ({list}) would serve it; not verified (hypopg is not installed in this database)",
                scan.filter
            ),
        };
        if let Some(schema) = &setup.hypopg {
            if !board.take() {
                s.detail = format!(
                    "{}; not verified yet (plan budget of this minute spent)",
                    s.detail.split("; not verified").next().unwrap_or("")
                );
                out.push(s);
                continue;
            }
            match hypothetical(
                client, setup, schema, &target, &list, &c.query, seq, settings,
            )
            .await
            {
                Ok(Some(after)) if after <= cost_before * 0.5 => {
                    s.verified = true;
                    s.cost_after = Some(after);
                    s.detail = format!(
                        "Seq Scan on {target} ({table_rows:.0} rows) filtered by {}: with an index on ({list}) the planner's cost falls from {cost_before:.0} to {after:.0} (checked with a hypothetical index)",
                        scan.filter
                    );
                }
                // The planner would not use it, or it saves too little: no suggestion.
                Ok(_) => continue,
                Err(e) => {
                    s.detail = format!(
                        "{}; could not be checked: {e}",
                        s.detail.split("; not verified").next().unwrap_or("")
                    );
                }
            }
        }
        out.push(s);
    }
    out
}

/// The statement's cost with a hypothetical index on `target (list)`, if the planner uses it.
#[allow(clippy::too_many_arguments)]
async fn hypothetical(
    client: &Client,
    setup: &Setup,
    schema: &str,
    target: &str,
    list: &str,
    query: &str,
    seq: u64,
    settings: &PlansConfig,
) -> Result<Option<f64>, String> {
    let hypo = quote_ident(schema);
    let row = client
        .query_one(
            &queries::mark(&format!(
                "SELECT indexrelid::int8 FROM {hypo}.hypopg_create_index($1)"
            )),
            &[&format!("CREATE INDEX ON {target} ({list})")],
        )
        .await
        .map_err(|e| reason(&e))?;
    let oid: i64 = row.get(0);
    let result = explain(client, setup, query, seq + 1_000_000, settings).await;
    client
        .simple_query(&queries::mark(&format!("SELECT {hypo}.hypopg_reset()")))
        .await
        .map_err(|e| reason(&e))?;
    let (json, _) = result?;
    let (plan, _) = plan::parse(&json)?;
    Ok(plan::uses_index(&json, &format!("<{oid}>")).then_some(plan.total_cost))
}

impl Collector for PlansCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(self.poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(query: &str) -> Candidate {
        Candidate {
            queryid: 1,
            query: query.into(),
            truncated: false,
            reason: Reason::Slow,
            since: None,
            mean_ms: 1.0,
            calls_total: 1.0,
            exec_ms_total: 1.0,
            exec_ms_per_minute: 1.0,
        }
    }

    #[test]
    fn only_single_plannable_statements_are_explained() {
        assert!(checked(&candidate("SELECT * FROM t WHERE a = $1")).is_ok());
        assert!(checked(&candidate("  with x as (select 1) select * from x")).is_ok());
        assert!(checked(&candidate("UPDATE t SET a = $1 WHERE id = $2")).is_ok());
        let e = checked(&candidate("VACUUM t")).unwrap_err();
        assert!(e.contains("utility statement (`VACUUM`)"), "{e}");
        let e = checked(&candidate("SELECT 1; DROP TABLE t")).unwrap_err();
        assert_eq!(e, "more than one statement");
        let mut t = candidate("SELECT 1");
        t.truncated = true;
        assert!(checked(&t).unwrap_err().starts_with("text truncated"));
    }

    #[test]
    fn parameters_are_counted() {
        assert_eq!(parameters("SELECT $1, $12, $3"), 12);
        assert_eq!(parameters("SELECT 1"), 0);
    }
}
