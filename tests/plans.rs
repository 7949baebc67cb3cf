//! From a slow statement to its cause and fix, against a real PostgreSQL with hypopg: the plan
//! of a statement filtering an unindexed foreign key shows a Seq Scan, the suggestion names that
//! table and column and is verified by the planner, `/findings` puts a cost on the missing
//! index; creating the index changes the plan, the mean drops, the suggestion goes. A
//! "migration" that drops an index and moves `alembic_version` makes a statement regress, and
//! `QueryRegressed` names both, and the table it doubled. A statement served by an index on one
//! of its two columns gets the two-column index, verified. Needs hypopg (Debian `postgresql-15-hypopg`, installed by
//! `.ci/run`).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::Value;
use tokio_postgres::Client;

const WAIT: Duration = Duration::from_secs(150);

/// The two tests run one after the other: each runs a workload of sequential scans, and a
/// baseline needs a whole minute of it.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `sql` with a changing parameter until told to stop.
fn workload(app: Client, sql: &'static str, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut i: i64 = 0;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            app.query(sql, &[&(i % 500)]).await.unwrap();
        }
    })
}

/// The queryid of the statement whose text contains `needle`, from `/statements`.
async fn queryid_of(daemon: &pgvitals::daemon::Daemon, needle: &str) -> String {
    let mut changes = daemon.snapshot().subscribe();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        changes.borrow_and_update();
        let doc = get_json(daemon.addr(), "/statements?window=15m").await;
        let found = doc["targets"][0]["statements"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["query"].as_str().is_some_and(|q| q.contains(needle)))
            .map(|s| s["queryid"].as_str().unwrap().to_string());
        if let Some(q) = found {
            return q;
        }
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .unwrap_or_else(|_| panic!("no statement with `{needle}` in /statements: {doc:#}"))
            .unwrap();
    }
}

/// `/statements/{queryid}` until `cond` holds.
async fn wait_statement(
    daemon: &pgvitals::daemon::Daemon,
    queryid: &str,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("/statements/{queryid}");
    let mut changes = daemon.snapshot().subscribe();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        changes.borrow_and_update();
        let (status, body) = get(daemon.addr(), &path).await;
        let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if status == 200 && cond(&doc) {
            return doc;
        }
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .unwrap_or_else(|_| {
                panic!("timed out waiting for {what}; last {path}: {status} {body}")
            })
            .unwrap();
    }
}

async fn setup(db: &str, with_index: bool) -> Client {
    let cluster = shared_cluster();
    let app = connect(&cluster.dsn("postgres", db)).await;
    app.batch_execute(&format!(
        "CREATE EXTENSION hypopg;
         CREATE EXTENSION pg_stat_statements;
         CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL);
         INSERT INTO users (name) SELECT 'u' || g FROM generate_series(1, 500) g;
         CREATE TABLE sprint_analyses (
             id bigserial PRIMARY KEY,
             created_by bigint NOT NULL REFERENCES users (id),
             score int NOT NULL);
         INSERT INTO sprint_analyses (created_by, score)
             SELECT 1 + g % 500, g % 100 FROM generate_series(1, 400000) g;
         {}
         CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
         INSERT INTO alembic_version VALUES ('a1b2c3');
         ANALYZE;
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {MONITOR_ROLE};",
        if with_index {
            "CREATE INDEX sprint_analyses_created_by_idx ON sprint_analyses (created_by);"
        } else {
            ""
        }
    ))
    .await
    .unwrap();
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seq_scan_on_an_unindexed_foreign_key_gets_a_verified_suggestion_that_goes_once_followed()
{
    let _turn = ONE_AT_A_TIME.lock().await;
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "advisor").await;
    let app = setup(&db, false).await;
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  statements: {interval: 1s}\n  plans: {interval: 1s, max_per_minute: 120}\n  indexes: {interval: 1s, findings_interval: 1s}\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = workload(
        app,
        "SELECT count(*), max(score) FROM sprint_analyses WHERE created_by = $1",
        stop.clone(),
    );
    let queryid = queryid_of(&daemon, "FROM sprint_analyses WHERE created_by").await;

    // The plan: a Seq Scan; the suggestion: exactly that table and column, verified.
    let doc = wait_statement(&daemon, &queryid, "a verified suggestion", |d| {
        d["suggestions"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["verified"] == true))
    })
    .await;
    let plan = &doc["plan"];
    let summary = plan["summary"].as_str().unwrap();
    assert!(
        summary.contains("Seq Scan on public.sprint_analyses")
            && summary.contains("created_by = $1"),
        "{summary}"
    );
    let method = plan["method"].as_str().unwrap();
    assert!(["prepare", "generic_plan"].contains(&method), "{method}");
    let suggestions = doc["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 1, "{doc:#}");
    let s = &suggestions[0];
    assert_eq!(s["table"], "sprint_analyses");
    assert_eq!(s["columns"], serde_json::json!(["created_by"]));
    assert_eq!(
        s["ddl"],
        "CREATE INDEX CONCURRENTLY ON public.sprint_analyses (created_by);"
    );
    let (before, after) = (
        s["cost_before"].as_f64().unwrap(),
        s["cost_after"].as_f64().unwrap(),
    );
    assert!(after <= 0.5 * before, "cost {before} → {after}");
    eprintln!("suggestion verified: cost {before:.0} → {after:.0}; plan: {summary}");
    let mean_before = doc["mean_ms"].as_f64().unwrap();

    // /findings: the unindexed foreign key carries the statement and its cost per minute.
    let mut changes = daemon.snapshot().subscribe();
    let deadline = tokio::time::Instant::now() + WAIT;
    let fk = loop {
        changes.borrow_and_update();
        let doc = get_json(daemon.addr(), "/findings").await;
        let fk = doc["databases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["database"] == db.as_str())
            .flat_map(|d| d["findings"].as_array().unwrap().clone())
            .find(|f| {
                f["kind"] == "unindexed_foreign_key"
                    && f["table"] == "sprint_analyses"
                    && f["statements"].is_array()
            });
        if let Some(fk) = fk {
            break fk;
        }
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .unwrap_or_else(|_| panic!("no costed unindexed_foreign_key finding: {doc:#}"))
            .unwrap();
    };
    let st = &fk["statements"][0];
    assert_eq!(st["queryid"], queryid.as_str(), "{fk:#}");
    let per_minute = st["exec_ms_per_minute"].as_f64().unwrap();
    assert!(per_minute > 0.0, "{fk:#}");
    assert!(
        st["detail"]
            .as_str()
            .unwrap()
            .contains("this missing index costs"),
        "{fk:#}"
    );

    // Following the suggestion: the plan changes, the mean drops, the suggestion is gone.
    let admin = connect(&cluster.dsn("postgres", &db)).await;
    admin
        .batch_execute(s["ddl"].as_str().unwrap())
        .await
        .unwrap();
    let doc = wait_statement(
        &daemon,
        &queryid,
        "the plan change after CREATE INDEX",
        |d| {
            d["plan_changes"].as_array().is_some_and(|c| !c.is_empty())
                && d["plan_changes"][0]["mean_after_ms"].is_number()
        },
    )
    .await;
    let change = &doc["plan_changes"][0];
    assert!(
        change["to"]
            .as_str()
            .unwrap()
            .contains("using sprint_analyses_created_by_idx"),
        "{change:#}"
    );
    let (b, a) = (
        change["mean_before_ms"].as_f64().unwrap(),
        change["mean_after_ms"].as_f64().unwrap(),
    );
    assert!(a < b / 2.0, "mean {b} ms → {a} ms");
    assert!(
        b >= mean_before / 2.0,
        "before {b} vs the interval mean {mean_before}"
    );
    assert_eq!(doc["suggestions"], serde_json::json!([]), "{doc:#}");
    let m = wait_for(&daemon, WAIT, "the plan change counted", |m| {
        m.get(
            "pgvitals_statement_plan_changes_total",
            &[("queryid", &queryid)],
        ) == Some(1.0)
    })
    .await;
    assert!(m
        .all(
            "pgvitals_statement_index_suggestion",
            &[("queryid", &queryid)]
        )
        .is_empty());
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_that_drops_an_index_makes_the_statement_regress_with_its_cause() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "regress").await;
    let app = setup(&db, true).await;
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  statements: {interval: 1s}\n  plans: {interval: 1s, max_per_minute: 120}\n  migrations: {interval: 1s}\nthresholds:\n  query_regression: {factor: 2, min_calls: 2, min_minutes: 1}\nalerts:\n  evaluation_interval: 1s\n  builtin:\n    QueryRegressed: {for: 2s}\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = workload(
        app,
        "SELECT count(*), max(score) FROM sprint_analyses WHERE created_by = $1",
        stop.clone(),
    );
    let queryid = queryid_of(&daemon, "FROM sprint_analyses WHERE created_by").await;
    // A baseline needs one whole minute of history; then the plan under it.
    wait_for(&daemon, WAIT, "a baseline", |m| {
        m.get(
            "pgvitals_statement_baseline_mean_seconds",
            &[("queryid", &queryid)],
        )
        .is_some()
    })
    .await;
    let doc = wait_statement(&daemon, &queryid, "an index plan", |d| {
        d["plan"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("sprint_analyses_created_by_idx"))
    })
    .await;
    assert!(doc["regression"]["regressed"] == false, "{doc:#}");

    // The "migration".
    let admin = connect(&cluster.dsn("postgres", &db)).await;
    admin
        .batch_execute(
            "BEGIN; DROP INDEX sprint_analyses_created_by_idx;
             INSERT INTO sprint_analyses (created_by, score)
                 SELECT 1 + g % 500, g % 100 FROM generate_series(1, 400000) g;
             UPDATE alembic_version SET version_num = 'd4e5f6'; COMMIT;",
        )
        .await
        .unwrap();
    let alerts = wait_for_alerts(&daemon, WAIT, "QueryRegressed firing with its cause", |a| {
        alerts_named(a, "QueryRegressed").iter().any(|a| {
            a["state"] == "firing"
                && a["labels"]["queryid"] == queryid.as_str()
                && a["annotations"]["likely_cause"].as_str().is_some_and(|c| {
                    c.contains("plan changed") && c.contains("d4e5f6") && c.contains("grew by")
                })
        })
    })
    .await;
    let alert = alerts_named(
        alerts["data"]["alerts"].as_array().unwrap(),
        "QueryRegressed",
    )
    .into_iter()
    .find(|a| a["labels"]["queryid"] == queryid.as_str())
    .unwrap()
    .clone();
    let cause = alert["annotations"]["likely_cause"].as_str().unwrap();
    eprintln!("QueryRegressed likely_cause: {cause}");
    assert!(
        cause.contains("sprint_analyses_created_by_idx") && cause.contains("Seq Scan"),
        "{cause}"
    );
    assert!(
        cause.contains("alembic_version") && cause.contains("a1b2c3 → d4e5f6"),
        "{cause}"
    );
    // The "migration" doubled the table: 400,000 rows before, 800,000 now (the live rows the
    // statistics count, read here too).
    let live: i64 = admin
        .query_one(
            "SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'sprint_analyses'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 800_000);
    assert!(
        cause.contains("public.sprint_analyses grew by 100 % (400k → 800k rows) since "),
        "{cause}"
    );
    let doc = get_json(daemon.addr(), &format!("/statements/{queryid}")).await;
    let growth = &doc["table_growth"][0];
    assert_eq!(growth["table"], "sprint_analyses", "{doc:#}");
    let (before, now) = (
        growth["rows_before"].as_f64().unwrap(),
        growth["rows_now"].as_f64().unwrap(),
    );
    assert!((400_000.0..400_500.0).contains(&before), "{growth}");
    assert_eq!(now, 800_000.0, "{growth}");
    let plan = alert["annotations"]["plan"].as_str().unwrap();
    assert!(
        plan.contains("Seq Scan on public.sprint_analyses"),
        "{plan}"
    );
    assert!(
        alert["annotations"]["suggestion"].as_str().is_some_and(
            |s| s.contains("CREATE INDEX CONCURRENTLY ON public.sprint_analyses (created_by)")
        ),
        "{alert:#}"
    );
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_that_leaves_a_filter_gets_a_verified_wider_index() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "poor_index").await;
    let app = connect(&cluster.dsn("postgres", &db)).await;
    app.batch_execute(&format!(
        "CREATE EXTENSION hypopg;
         CREATE EXTENSION pg_stat_statements;
         CREATE TABLE tasks (
             id bigserial PRIMARY KEY,
             project_id bigint NOT NULL,
             assignee_id bigint NOT NULL,
             title text NOT NULL);
         INSERT INTO tasks (project_id, assignee_id, title)
             SELECT g % 50, g % 997, 'task ' || g FROM generate_series(1, 200000) g;
         CREATE INDEX tasks_project_id_idx ON tasks (project_id);
         ANALYZE;
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {MONITOR_ROLE};"
    ))
    .await
    .unwrap();
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  statements: {interval: 1s}\n  plans: {interval: 1s, max_per_minute: 120}\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut i: i64 = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                app.query(
                    "SELECT count(*) FROM tasks WHERE project_id = $1 AND assignee_id = $2",
                    &[&(i % 50), &(i % 997)],
                )
                .await
                .unwrap();
            }
        }
    });
    let queryid = queryid_of(&daemon, "FROM tasks WHERE project_id").await;
    let doc = wait_statement(&daemon, &queryid, "a verified suggestion", |d| {
        d["suggestions"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["verified"] == true))
    })
    .await;
    let summary = doc["plan"]["summary"].as_str().unwrap();
    assert!(summary.contains("using tasks_project_id_idx"), "{summary}");
    let s = &doc["suggestions"][0];
    assert_eq!(
        s["ddl"], "CREATE INDEX CONCURRENTLY ON public.tasks (project_id, assignee_id);",
        "{doc:#}"
    );
    let (before, after) = (
        s["cost_before"].as_f64().unwrap(),
        s["cost_after"].as_f64().unwrap(),
    );
    assert!(after <= 0.5 * before, "cost {before} → {after}");
    let detail = s["detail"].as_str().unwrap();
    assert!(
        detail.contains("using tasks_project_id_idx")
            && detail.contains("Filter: (assignee_id = $2)"),
        "{detail}"
    );
    eprintln!("wider index verified: cost {before:.0} → {after:.0}; plan: {summary}");
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
}
