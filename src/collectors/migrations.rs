//! `migrations` collector: schema changes while they run, what they block, how far index builds
//! have got, and which migration took how long.
//!
//! Per database, polled often (default 5 s; it is cheap). SQL: `queries/migration_sessions.sql`
//! (sessions that may be changing the schema, with the locks they hold and the sessions waiting
//! behind them), `migration_progress.sql` (pg_stat_progress_create_index / vacuum / cluster),
//! `migration_version_tables.sql` and `migration_version.sql` (the revision in Alembic's
//! `alembic_version`, Flyway's `flyway_schema_history` or any configured version table).
//!
//! A session is running a schema change when it is in a transaction and its statement text is
//! DDL ([`crate::ddl`]) or it holds or awaits an ACCESS EXCLUSIVE lock on a user table. Its age
//! is its transaction's: that is how long its locks have been held at most. pgvitals follows
//! each such transaction (a "run") until it ends: the session's `state_change` when it goes
//! idle is the commit time. When a version table's revision changes, the run that committed last
//! before the change was seen is that migration (if the change shows while its session still
//! looks busy, pairing waits for the next poll), and its duration is commit − transaction start. Runs that change no
//! revision are kept in the history too, as unversioned schema changes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tracing::warn;

use super::migration_risks::{self, LockedTable};
use super::{BoxFuture, CollectResult, Collector, Output, PollContext};
use crate::config::{LargeTable, MigrationsConfig, VersionTable};
use crate::ddl;
use crate::detail::{Migration, MigrationsReport, Report, Revision, RunningChange, RunningRisk};
use crate::metrics::Family;
use crate::queries;

#[derive(Debug, Clone)]
struct Run {
    xact_start: f64,
    last_seen: f64,
    ended_at: Option<f64>,
    statements: Vec<String>,
}

const QUERY_TEXT: usize = 300;
/// An ended run that no revision change claims within this long is history as unversioned.
const CLAIM_WINDOW_SECONDS: f64 = 60.0;

/// Watches schema changes in one database.
pub struct MigrationsCollector {
    settings: MigrationsConfig,
    /// From what size a running schema change's lock is a risk.
    large_table: LargeTable,
    runs: HashMap<i32, Run>,
    revisions: HashMap<String, (String, f64)>,
    history: VecDeque<Migration>,
    unreadable_logged: HashMap<String, bool>,
    last_durations: HashMap<String, f64>,
    pending: Vec<PendingChange>,
}

/// A revision change not yet paired with the transaction that made it.
#[derive(Debug)]
struct PendingChange {
    table: String,
    from: String,
    to: String,
    observed_at: f64,
}

impl MigrationsCollector {
    /// A collector with nothing seen yet.
    pub fn new(settings: MigrationsConfig, large_table: LargeTable) -> MigrationsCollector {
        MigrationsCollector {
            settings,
            large_table,
            runs: HashMap::new(),
            revisions: HashMap::new(),
            history: VecDeque::new(),
            unreadable_logged: HashMap::new(),
            last_durations: HashMap::new(),
            pending: Vec::new(),
        }
    }

    async fn poll(&mut self, cx: PollContext<'_>) -> CollectResult {
        let v = cx.server_version;
        let client = cx.client;
        let tracked: Vec<i32> = self.runs.keys().copied().collect();
        let names: Vec<String> = self
            .settings
            .version_tables
            .iter()
            .map(|t| t.table.clone())
            .collect();
        let sessions_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&tracked];
        let names_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&names];
        let (sessions, progress, existing) = tokio::try_join!(
            client.query(queries::MIGRATION_SESSIONS.sql(v)?, &sessions_params),
            client.query(queries::MIGRATION_PROGRESS.sql(v)?, &[]),
            client.query_one(queries::MIGRATION_VERSION_TABLES.sql(v)?, &names_params),
        )?;

        // SET NOT NULLs running now: is the column already proven by a valid CHECK?
        let pairs: Vec<(String, String)> = sessions
            .iter()
            .filter_map(|r| r.try_get::<_, String>("query").ok())
            .flat_map(|q| migration_risks::set_not_null(&migration_risks::shapes(&q)))
            .collect();
        let proven = migration_risks::proven(client, v, &pairs).await?;
        let mut now: f64 = existing.try_get("now")?;
        let mut running = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for r in &sessions {
            let pid: i32 = r.try_get("pid")?;
            let query: String = r.try_get("query")?;
            let state: String = r.try_get("state")?;
            let xact_start: Option<f64> = r.try_get("xact_start")?;
            let state_change: Option<f64> = r.try_get("state_change")?;
            now = r.try_get("now")?;
            seen.insert(pid);
            let in_xact = xact_start.is_some() && state != "idle";
            let kind = ddl::recognise(&query).map(|k| k.as_str()).or_else(|| {
                r.try_get::<_, bool>("access_exclusive")
                    .ok()
                    .filter(|ae| *ae)
                    .map(|_| "lock")
            });
            match (in_xact, kind, xact_start) {
                (true, Some(kind), Some(start)) => {
                    let text: String = query.chars().take(QUERY_TEXT).collect();
                    let run = self.runs.entry(pid).or_insert_with(|| Run {
                        xact_start: start,
                        last_seen: now,
                        ended_at: None,
                        statements: Vec::new(),
                    });
                    if (run.xact_start - start).abs() > 1e-6 {
                        // The session's previous transaction ended unseen; this is a new run.
                        let mut old = std::mem::replace(
                            run,
                            Run {
                                xact_start: start,
                                last_seen: now,
                                ended_at: None,
                                statements: Vec::new(),
                            },
                        );
                        old.ended_at = Some(old.last_seen);
                        // Kept under a key no backend has (pids are positive) until a revision
                        // change claims it or it ages into the history as unversioned.
                        self.runs.insert(-pid - 1, old);
                    }
                    let run = self.runs.get_mut(&pid).expect("just inserted");
                    run.last_seen = now;
                    if kind != "lock" && !run.statements.contains(&text) {
                        run.statements.push(text.clone());
                    }
                    let tables: Vec<LockedTable> =
                        serde_json::from_str(&r.try_get::<_, String>("tables")?)
                            .unwrap_or_default();
                    let risks = migration_risks::risks(
                        &migration_risks::shapes(&query),
                        &tables,
                        &proven,
                        self.large_table,
                    );
                    running.push(RunningChange {
                        pid,
                        kind,
                        query: text,
                        age_seconds: (now - start).max(0.0),
                        tables: tables
                            .iter()
                            .map(|t| format!("{}.{}", t.schema, t.table))
                            .collect(),
                        blocked_sessions: r.try_get("blocked")?,
                        risks: risks
                            .into_iter()
                            .map(|(schema, r)| RunningRisk { schema, risk: r })
                            .collect(),
                    });
                }
                _ => {
                    // A followed session whose transaction is over: it committed (or rolled
                    // back) when its state last changed.
                    if let Some(run) = self.runs.get_mut(&pid) {
                        if run.ended_at.is_none() {
                            run.ended_at = Some(match state_change {
                                Some(t) if t >= run.xact_start => t,
                                _ => run.last_seen,
                            });
                        }
                    }
                }
            }
        }
        // Followed sessions that disconnected: ended some time after they were last seen.
        for (pid, run) in self.runs.iter_mut() {
            if *pid >= 0 && !seen.contains(pid) && run.ended_at.is_none() {
                run.ended_at = Some(run.last_seen);
            }
        }

        let existing: Vec<String> = existing.try_get("existing")?;
        let mut readable = Vec::new();
        for t in self.settings.version_tables.clone() {
            if !existing.contains(&t.table) {
                continue;
            }
            let sql = version_sql(&t);
            match client.query_opt(sql.as_str(), &[]).await {
                Ok(row) => {
                    readable.push((t.table.clone(), 1.0));
                    if let Some(row) = row {
                        let rev: Option<String> = row.try_get("revision")?;
                        self.observe_revision(&t.table, rev.unwrap_or_default(), now);
                    }
                }
                Err(e) => {
                    readable.push((t.table.clone(), 0.0));
                    if !self
                        .unreadable_logged
                        .insert(t.table.clone(), true)
                        .unwrap_or(false)
                    {
                        warn!(table = %t.table, error = %crate::db::error_chain(&e), "cannot read the version table (GRANT SELECT on it to the monitoring role)");
                    }
                }
            }
        }
        self.settle(now);
        // Ended runs no revision claimed in time: unversioned schema changes.
        let stale: Vec<i32> = self
            .runs
            .iter()
            .filter(|(_, r)| r.ended_at.is_some_and(|e| now - e > CLAIM_WINDOW_SECONDS))
            .map(|(p, _)| *p)
            .collect();
        for pid in stale {
            let run = self.runs.remove(&pid).expect("listed above");
            self.record(Migration {
                table: None,
                from_revision: None,
                to_revision: None,
                started_at: Some(run.xact_start),
                ended_at: run.ended_at,
                duration_seconds: run.ended_at.map(|e| e - run.xact_start),
                observed_at: now,
                statements: run.statements,
            });
        }

        let mut out = Output::default();
        self.families(&mut out.families, &running, &progress, &readable, &sessions)?;
        let mut revisions: Vec<Revision> = self
            .revisions
            .iter()
            .map(|(table, (revision, first_seen))| Revision {
                table: table.clone(),
                revision: revision.clone(),
                first_seen: *first_seen,
            })
            .collect();
        revisions.sort_by(|a, b| a.table.cmp(&b.table));
        out.report = Some(Report::Migrations(Arc::new(MigrationsReport {
            running,
            revisions,
            history: self.history.iter().cloned().collect(),
        })));
        Ok(out)
    }

    fn observe_revision(&mut self, table: &str, revision: String, now: f64) {
        match self.revisions.get(table) {
            None => {
                self.revisions.insert(table.to_string(), (revision, now));
            }
            Some((old, _)) if *old == revision => {}
            Some((old, _)) => {
                self.pending.push(PendingChange {
                    table: table.to_string(),
                    from: old.clone(),
                    to: revision.clone(),
                    observed_at: now,
                });
                self.revisions.insert(table.to_string(), (revision, now));
            }
        }
    }

    /// Pairs revision changes with the transactions that made them. The migration is the run
    /// that committed last before the change was seen. The change can be seen before its
    /// session is seen idle (the version table is read after the sessions): while a run is
    /// still open, the change waits for it, up to the claim window.
    fn settle(&mut self, now: f64) {
        let mut waiting = Vec::new();
        for change in std::mem::take(&mut self.pending) {
            let claimed = self
                .runs
                .iter()
                .filter_map(|(p, r)| r.ended_at.map(|e| (*p, e)))
                .filter(|(_, e)| *e <= change.observed_at + 1.0)
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(p, _)| p);
            let open_runs = self.runs.values().any(|r| r.ended_at.is_none());
            if claimed.is_none() && open_runs && now - change.observed_at < CLAIM_WINDOW_SECONDS {
                waiting.push(change);
                continue;
            }
            let run = claimed.and_then(|p| self.runs.remove(&p));
            let m = Migration {
                table: Some(change.table.clone()),
                from_revision: Some(change.from),
                to_revision: Some(change.to),
                started_at: run.as_ref().map(|r| r.xact_start),
                ended_at: run.as_ref().and_then(|r| r.ended_at),
                duration_seconds: run
                    .as_ref()
                    .and_then(|r| r.ended_at.map(|e| e - r.xact_start)),
                observed_at: change.observed_at,
                statements: run.map(|r| r.statements).unwrap_or_default(),
            };
            if let Some(d) = m.duration_seconds {
                self.last_durations.insert(change.table, d);
            }
            self.record(m);
        }
        self.pending = waiting;
    }

    fn record(&mut self, m: Migration) {
        self.history.push_front(m);
        self.history.truncate(self.settings.history);
    }

    fn families(
        &self,
        out: &mut Vec<Family>,
        running: &[RunningChange],
        progress: &[tokio_postgres::Row],
        readable: &[(String, f64)],
        sessions: &[tokio_postgres::Row],
    ) -> Result<(), tokio_postgres::Error> {
        out.push(
            Family::gauge(
                "pgvitals_migrations_running",
                "Sessions running a schema change (DDL, or holding/awaiting an ACCESS EXCLUSIVE lock) now.",
            )
            .with([], running.len() as f64),
        );
        out.push(
            Family::gauge(
                "pgvitals_migration_longest_running_seconds",
                "Age of the transaction of the longest-running schema change, 0 when none.",
            )
            .with(
                [],
                running.iter().map(|r| r.age_seconds).fold(0.0, f64::max),
            ),
        );
        let mut per_table: std::collections::BTreeMap<&str, f64> = Default::default();
        for r in running {
            for t in &r.tables {
                let e = per_table.entry(t.as_str()).or_default();
                *e = e.max(r.age_seconds);
            }
        }
        let mut risk_fam = Family::gauge(
            "pgvitals_migration_risk",
            "1 per safe-migration rule a running schema change breaks on a large table (rule: create_index_not_concurrently, constraint_without_not_valid, column_type_change, volatile_default, set_not_null, vacuum_full); /migrations has the statement and the safe recipe. UnsafeMigration fires on it.",
        );
        let mut risky = std::collections::BTreeSet::new();
        for r in running {
            for x in &r.risks {
                let table = x.risk.table.rsplit('.').next().unwrap_or("").to_string();
                risky.insert((x.schema.clone(), table, x.risk.rule));
            }
        }
        for (schema, table, rule) in risky {
            risk_fam.push(
                [
                    ("schema", schema),
                    ("table", table),
                    ("rule", rule.to_string()),
                ],
                1.0,
            );
        }
        out.push(risk_fam);
        let mut table_fam = Family::gauge(
            "pgvitals_migration_table_running_seconds",
            "Age of the longest schema change holding or awaiting a schema-change lock on the table.",
        );
        for (t, age) in per_table {
            let (schema, table) = t.split_once('.').unwrap_or(("", t));
            table_fam.push(
                [("schema", schema.to_string()), ("table", table.to_string())],
                age,
            );
        }
        out.push(table_fam);
        let mut blocked = 0i64;
        let mut blocked_longest = 0.0f64;
        for r in sessions {
            let pid: i32 = r.try_get("pid")?;
            if running.iter().any(|c| c.pid == pid) {
                blocked += r.try_get::<_, i64>("blocked")?;
                if let Some(l) = r.try_get::<_, Option<f64>>("blocked_longest")? {
                    blocked_longest = blocked_longest.max(l);
                }
            }
        }
        out.push(
            Family::gauge(
                "pgvitals_migration_blocked_sessions",
                "Sessions waiting for a lock held (or queued for) by a running schema change.",
            )
            .with([], blocked as f64),
        );
        out.push(
            Family::gauge(
                "pgvitals_migration_blocked_longest_seconds",
                "Longest time a session has waited behind a running schema change, 0 when none.",
            )
            .with([], blocked_longest),
        );

        let mut ratio = Family::gauge(
            "pgvitals_migration_progress_ratio",
            "Progress of the current phase of an index build, VACUUM or CLUSTER (done / total).",
        );
        let mut blocks_done = Family::gauge(
            "pgvitals_migration_progress_blocks_done",
            "Blocks processed in the current phase.",
        );
        let mut blocks_total = Family::gauge(
            "pgvitals_migration_progress_blocks_total",
            "Blocks to process in the current phase.",
        );
        let mut tuples_done = Family::gauge(
            "pgvitals_migration_progress_tuples_done",
            "Tuples processed in the current phase.",
        );
        for r in progress {
            let labels = || -> Result<[(&'static str, String); 5], tokio_postgres::Error> {
                Ok([
                    ("command", r.try_get::<_, String>("command")?),
                    ("pid", r.try_get::<_, i32>("pid")?.to_string()),
                    ("schema", r.try_get("schema")?),
                    ("table", r.try_get("table_name")?),
                    ("phase", r.try_get("phase")?),
                ])
            };
            let bd: Option<i64> = r.try_get("blocks_done")?;
            let bt: Option<i64> = r.try_get("blocks_total")?;
            let td: Option<i64> = r.try_get("tuples_done")?;
            let tt: Option<i64> = r.try_get("tuples_total")?;
            let done_ratio = match (bd, bt, td, tt) {
                (Some(d), Some(t), _, _) if t > 0 => Some(d as f64 / t as f64),
                (_, _, Some(d), Some(t)) if t > 0 => Some(d as f64 / t as f64),
                _ => None,
            };
            if let Some(x) = done_ratio {
                ratio.push(labels()?, x.min(1.0));
            }
            if let (Some(d), Some(t)) = (bd, bt) {
                blocks_done.push(labels()?, d as f64);
                blocks_total.push(labels()?, t as f64);
            }
            if let Some(d) = td {
                tuples_done.push(labels()?, d as f64);
            }
        }
        out.extend([ratio, blocks_done, blocks_total, tuples_done]);

        let mut rev = Family::gauge(
            "pgvitals_migration_revision_first_seen_timestamp_seconds",
            "The current revision of a version table, as a label; value: when pgvitals first saw it.",
        );
        for (table, (revision, first)) in &self.revisions {
            rev.push(
                [("table", table.clone()), ("revision", revision.clone())],
                *first,
            );
        }
        out.push(rev);
        let mut dur = Family::gauge(
            "pgvitals_migration_last_duration_seconds",
            "Duration of the last observed migration of a version table (transaction start to commit).",
        );
        for (table, d) in &self.last_durations {
            dur.push([("table", table.clone())], *d);
        }
        out.push(dur);
        let mut read = Family::gauge(
            "pgvitals_migration_version_table_readable",
            "1 if pgvitals can read the version table, 0 if it exists but cannot be read (grant SELECT).",
        );
        for (table, ok) in readable {
            read.push([("table", table.clone())], *ok);
        }
        out.push(read);
        Ok(())
    }
}

/// `queries/migration_version.sql` filled in for one version table.
fn version_sql(t: &VersionTable) -> String {
    let ident = |s: &str| {
        s.split('.')
            .map(queries::quote_identifier)
            .collect::<Vec<_>>()
            .join(".")
    };
    let filter = t
        .success_column
        .as_deref()
        .map(|c| format!("WHERE {}", ident(c)))
        .unwrap_or_default();
    let order = t
        .order_by
        .as_deref()
        .map(|c| format!("ORDER BY {} DESC", ident(c)))
        .unwrap_or_default();
    queries::MIGRATION_VERSION
        .sql(queries::MIN_SERVER_VERSION)
        .expect("one variant serves every version")
        .replace("@column@", &ident(&t.column))
        .replace("@table@", &ident(&t.table))
        .replace("@filter@", &filter)
        .replace("@order@", &order)
}

impl Collector for MigrationsCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(self.poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_seen_before_its_commit_waits_for_the_transaction() {
        let mut c = MigrationsCollector::new(MigrationsConfig::default(), LargeTable::default());
        c.observe_revision("alembic_version", "a".into(), 100.0);
        c.runs.insert(
            42,
            Run {
                xact_start: 101.0,
                last_seen: 103.0,
                ended_at: None,
                statements: vec!["ALTER TABLE t ADD COLUMN c int".into()],
            },
        );
        // The new revision shows while the session still looks busy.
        c.observe_revision("alembic_version", "b".into(), 104.0);
        c.settle(104.0);
        assert!(c.history.is_empty());
        // Next poll: the session is idle, it committed at 103.5.
        c.runs.get_mut(&42).unwrap().ended_at = Some(103.5);
        c.settle(105.0);
        let m = &c.history[0];
        assert_eq!(m.to_revision.as_deref(), Some("b"));
        assert_eq!(m.duration_seconds, Some(2.5));
        assert_eq!(m.statements.len(), 1);
        assert!(c.runs.is_empty());
    }

    #[test]
    fn version_queries_quote_identifiers() {
        let alembic = VersionTable {
            table: "alembic_version".into(),
            column: "version_num".into(),
            order_by: None,
            success_column: None,
        };
        assert!(version_sql(&alembic).ends_with(
            "SELECT /* pgvitals */ \"version_num\"::text AS revision FROM \"alembic_version\"   LIMIT 1\n"
        ));
        let flyway = VersionTable {
            table: "app.flyway_schema_history".into(),
            column: "version".into(),
            order_by: Some("installed_rank".into()),
            success_column: Some("success".into()),
        };
        let sql = version_sql(&flyway);
        assert!(sql.contains("FROM \"app\".\"flyway_schema_history\" WHERE \"success\" ORDER BY \"installed_rank\" DESC LIMIT 1"), "{sql}");
    }
}
