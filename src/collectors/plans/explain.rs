//! How the plans collector reads a generic plan without running the statement: which texts
//! may be explained ([`checked`]), `EXPLAIN (GENERIC_PLAN)` on 16+ or a `PREPARE`d copy under
//! `force_generic_plan` on 13–15, or the helper function, always in a rolled-back transaction.

use tokio_postgres::{Client, SimpleQueryMessage};

use super::Setup;
use crate::collectors::board::Candidate;
use crate::config::PlansConfig;
use crate::queries;

/// Why a statement's text cannot be explained, if it cannot.
pub(super) fn checked(c: &Candidate) -> Result<(), String> {
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
pub(super) fn reason(e: &tokio_postgres::Error) -> String {
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
pub(super) async fn explain(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::board::Reason;

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
