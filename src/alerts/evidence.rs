//! What the alert annotations say about a statement, read from the snapshot's detail at each
//! evaluation: its text, its plan in one line, the index that would serve it, and for a
//! regression the likely cause in order of evidence: the plan changed, a migration revision
//! changed, the statistics of a table it reads are stale, a table it reads grew.

use std::collections::{HashMap, HashSet};

use crate::detail::{Report, TableGrowth};
use crate::plan::Relation;
use crate::snapshot::{Entry, SourceKey};

/// How far back a change counts as the cause of a regression.
const CAUSE_WINDOW_SECONDS: f64 = 3600.0;
/// Growth of a table (rows now / rows before the regression) that counts as a cause.
const GREW: f64 = 1.2;

/// One statement's annotations.
#[derive(Debug, Clone, Default)]
pub struct StatementNotes {
    /// Normalized text.
    pub query: Option<String>,
    /// The current plan, one line.
    pub plan: Option<String>,
    /// The index to create, with its check.
    pub suggestion: Option<String>,
    /// The latest plan change in the cause window: (when, from, to).
    plan_change: Option<(f64, String, String)>,
    /// Tables the plan reads.
    relations: Vec<String>,
    /// Database the plan was captured in.
    database: Option<String>,
    /// Its tables' rows before the regression and now.
    growth: Vec<TableGrowth>,
}

/// A migration tool's revision that changed: when, in which version table, from and to.
#[derive(Debug, Clone)]
struct RevisionChange {
    at: f64,
    table: String,
    from: String,
    to: String,
}

/// What the detail says, per target.
#[derive(Debug, Default)]
pub struct Evidence {
    /// By (target, queryid).
    statements: HashMap<(String, String), StatementNotes>,
    /// Revision changes in the cause window, by (target, database).
    migrations: HashMap<(String, String), Vec<RevisionChange>>,
    /// Tables with stale statistics, by (target, database).
    stale: HashSet<(String, String, String)>,
}

impl Evidence {
    /// Gathers the evidence of one snapshot entry.
    pub fn read(&mut self, key: &SourceKey, entry: &Entry, now: f64) {
        let target = key.target.clone();
        match &entry.report {
            Some(Report::Statements(r)) => {
                for st in &r.statements {
                    if let Some(q) = &st.query {
                        self.note(&target, &st.queryid).query = Some(q.clone());
                    }
                }
            }
            Some(Report::Plans(p)) => {
                for st in &p.statements {
                    let n = self.note(&target, &st.queryid);
                    if let Some(plan) = &st.plan {
                        n.plan = Some(plan.plan.summary.clone());
                        n.relations = plan.plan.relations.iter().map(Relation::name).collect();
                        n.database = Some(key.database.clone());
                    }
                    n.suggestion = st.suggestions.first().map(|s| match s.cost_after {
                        Some(after) => format!(
                            "{} (cost {:.0} → {:.0}, checked with hypopg)",
                            s.ddl, s.cost_before, after
                        ),
                        None => format!("{} (not verified)", s.ddl),
                    });
                    n.growth = st.table_growth.clone();
                    n.plan_change = st
                        .changes
                        .last()
                        .filter(|c| now - c.at <= CAUSE_WINDOW_SECONDS)
                        .map(|c| (c.at, c.from.clone(), c.to.clone()));
                }
            }
            Some(Report::Migrations(m)) => {
                let changes = self
                    .migrations
                    .entry((target, key.database.clone()))
                    .or_default();
                for h in &m.history {
                    if now - h.observed_at <= CAUSE_WINDOW_SECONDS {
                        if let Some(table) = &h.table {
                            changes.push(RevisionChange {
                                at: h.observed_at,
                                table: table.clone(),
                                from: h.from_revision.clone().unwrap_or_default(),
                                to: h.to_revision.clone().unwrap_or_default(),
                            });
                        }
                    }
                }
            }
            Some(Report::Findings(f)) => {
                for x in f.findings.iter().filter(|x| x.kind == "stale_statistics") {
                    self.stale.insert((
                        target.clone(),
                        key.database.clone(),
                        format!("{}.{}", x.schema, x.table),
                    ));
                }
            }
            Some(Report::Connections(_)) | None => {}
        }
    }

    fn note(&mut self, target: &str, queryid: &str) -> &mut StatementNotes {
        self.statements
            .entry((target.to_string(), queryid.to_string()))
            .or_default()
    }

    /// A statement's notes.
    pub fn statement(&self, target: &str, queryid: &str) -> Option<&StatementNotes> {
        self.statements
            .get(&(target.to_string(), queryid.to_string()))
    }

    /// The likely cause of a statement's regression, most telling first; `None` without
    /// evidence.
    pub fn cause(&self, target: &str, database: &str, queryid: &str) -> Option<String> {
        let mut causes = Vec::new();
        let notes = self.statement(target, queryid);
        if let Some((at, from, to)) = notes.and_then(|n| n.plan_change.as_ref()) {
            causes.push(format!("the plan changed at {}: {from} → {to}", clock(*at)));
        }
        let key = (target.to_string(), database.to_string());
        for m in self.migrations.get(&key).into_iter().flatten() {
            causes.push(format!(
                "migration revision in {} changed at {}: {} → {}",
                m.table,
                clock(m.at),
                m.from,
                m.to
            ));
        }
        for r in notes.map(|n| n.relations.as_slice()).unwrap_or(&[]) {
            let db = notes
                .and_then(|n| n.database.clone())
                .unwrap_or_else(|| database.to_string());
            if self.stale.contains(&(target.to_string(), db, r.clone())) {
                causes.push(format!("the statistics of {r} are stale (ANALYZE it)"));
            }
        }
        for g in notes.map(|n| n.growth.as_slice()).unwrap_or(&[]) {
            if g.rows_before > 0.0 && g.rows_now >= GREW * g.rows_before {
                causes.push(format!(
                    "{} grew by {:.0} % ({} → {} rows) since {}",
                    g.relation.name(),
                    (g.rows_now / g.rows_before - 1.0) * 100.0,
                    crate::plan::whole(g.rows_before),
                    crate::plan::whole(g.rows_now),
                    clock(g.before_at)
                ));
            }
        }
        (!causes.is_empty()).then(|| causes.join("; "))
    }
}

/// Unix seconds as `2026-12-06T21:14:05Z`.
fn clock(t: f64) -> String {
    crate::clock::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t.max(0.0)))
}
