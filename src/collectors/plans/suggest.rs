//! The index advisor: B-tree candidates from a plan's filtered scans, checked by the planner
//! with a hypothetical index when hypopg is installed.

use tokio_postgres::Client;

use super::explain::{explain, reason};
use super::tables::TableInfo;
use super::Setup;
use crate::collectors::board::{Board, Candidate};
use crate::config::PlansConfig;
use crate::detail::Suggestion;
use crate::plan::{self, quote_ident};
use crate::queries;

/// Index suggestions for the filtered scans of a plan (`tables`: what the catalog says of the
/// tables it reads), checked with hypopg when it is installed.
#[allow(clippy::too_many_arguments)]
pub(super) async fn suggest(
    client: &Client,
    setup: &Setup,
    c: &Candidate,
    scans: &[plan::FilteredScan],
    tables: &[TableInfo],
    cost_before: f64,
    settings: &PlansConfig,
    board: &Board,
    seq: u64,
) -> Vec<Suggestion> {
    let mut out = Vec::new();
    for scan in scans {
        let Some(table) = tables.iter().find(|t| t.relation == scan.relation) else {
            continue;
        };
        let table_rows = table.rows;
        if table_rows < settings.suggest_min_rows as f64 {
            continue;
        }
        let mut cols: Vec<String> = scan
            .equality
            .iter()
            .filter(|c| table.columns.contains(c))
            .cloned()
            .collect();
        if let Some(r) = scan.range.iter().find(|c| table.columns.contains(c)) {
            cols.push(r.clone());
        }
        // A sequential scan is left alone when an index already leads with the column; a
        // Bitmap Heap Scan uses such an index, and the candidate is a wider one.
        let served =
            scan.poor_index.is_none() && cols.first().is_some_and(|c| table.leading.contains(c));
        if cols.is_empty()
            || served
            || (scan.poor_index.is_some() && cols.len() < 2)
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
        let found = match &scan.poor_index {
            None => format!(
                "Seq Scan on {target} ({table_rows:.0} rows) filtered by {}",
                scan.filter
            ),
            Some(index) => format!(
                "index scan of {target} ({table_rows:.0} rows) using {index}, {}",
                scan.filter
            ),
        };
        let mut s = Suggestion {
            relation: scan.relation.clone(),
            columns: cols.clone(),
            ddl,
            verified: false,
            cost_before,
            cost_after: None,
            table_rows,
            detail: format!(
                "{found}: an index on ({list}) would serve it; not verified (hypopg is not installed in this database)"
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
                        "{found}: with an index on ({list}) the planner's cost falls from {cost_before:.0} to {after:.0} (checked with a hypothetical index)"
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
