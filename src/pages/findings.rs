//! `/findings`: every finding of every polled database (schema and indexes, autovacuum
//! overdue, sequences near exhaustion), with what to do about it (JSON).
//! An unindexed foreign key whose columns a statement's plan filters on sequentially (the plans
//! collector suggested that index) carries the statements and their execution time per minute:
//! what the missing index costs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::detail::{Finding, PlansReport, Report};
use crate::snapshot::{Entry, Snapshot, SourceKey};

use super::Page;

/// `fk_name (a, b)` → `[a, b]`.
fn constraint_columns(constraint: &str) -> Vec<&str> {
    constraint
        .rsplit_once('(')
        .map(|(_, cols)| cols.trim_end_matches(')').split(", ").collect())
        .unwrap_or_default()
}

/// The statements whose suggested index starts with a column of the foreign key.
pub fn costs(f: &Finding, plans: Option<&Arc<PlansReport>>) -> Vec<Value> {
    let columns = constraint_columns(f.constraint.as_deref().unwrap_or(""));
    let mut out = Vec::new();
    for st in plans.map(|p| p.statements.as_slice()).unwrap_or(&[]) {
        let serves = st.suggestions.iter().any(|s| {
            s.relation.schema == f.schema
                && s.relation.table == f.table
                && s.columns
                    .first()
                    .is_some_and(|c| columns.contains(&c.as_str()))
        });
        if serves {
            out.push(json!({
                "queryid": st.queryid,
                "exec_ms_per_minute": st.exec_ms_per_minute,
                "detail": format!(
                    "statement {} filters on {} with a sequential scan: this missing index costs {} of execution per minute",
                    st.queryid,
                    columns.join(", "),
                    crate::template::humanize_duration(st.exec_ms_per_minute / 1000.0)
                ),
            }));
        }
    }
    out
}

/// Every database's plans report, by (target, database).
pub fn plans_by_database(
    entries: &BTreeMap<SourceKey, Entry>,
) -> HashMap<(&str, &str), &Arc<PlansReport>> {
    entries
        .iter()
        .filter_map(|(k, e)| match &e.report {
            Some(Report::Plans(p)) => Some(((k.target.as_str(), k.database.as_str()), p)),
            _ => None,
        })
        .collect()
}

/// The page.
pub fn page(snapshot: &Snapshot) -> Page {
    Page::json(&value(snapshot))
}

/// `{"databases": [{target, database, polled_at, findings}]}`.
pub fn value(snapshot: &Snapshot) -> Value {
    let entries = snapshot.entries();
    let plans = plans_by_database(&entries);
    // One entry per database: the indexes, vacuum and sequences collectors each report theirs.
    let mut by_database: std::collections::BTreeMap<(&str, &str), (f64, Vec<Value>)> =
        std::collections::BTreeMap::new();
    for (key, entry) in &entries {
        let Some(Report::Findings(r)) = &entry.report else {
            continue;
        };
        let plans = plans
            .get(&(key.target.as_str(), key.database.as_str()))
            .copied();
        let slot = by_database
            .entry((key.target.as_str(), key.database.as_str()))
            .or_insert((0.0, Vec::new()));
        slot.0 = slot.0.max(entry.polled_at_unix());
        slot.1.extend(r.findings.iter().map(|f| {
            let mut v = json!(f);
            if f.kind == "unindexed_foreign_key" {
                let c = costs(f, plans);
                if !c.is_empty() {
                    v["statements"] = json!(c);
                }
            }
            v
        }));
    }
    let databases: Vec<Value> = by_database
        .into_iter()
        .map(|((target, database), (polled_at, findings))| {
            json!({
                "target": target,
                "database": database,
                "polled_at": polled_at,
                "findings": findings,
            })
        })
        .collect();
    json!({ "databases": databases })
}
