//! Plan capture on this server's major (the version matrix runs it on 13–18): the generic plan
//! of a SELECT and of an UPDATE, neither of them run; a role with only `pg_monitor` gets the
//! permission reason and nothing else breaks; with `queries/explain_helper.sql` installed the
//! same role gets the plan through the helper.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);

async fn statement_doc(
    daemon: &pgvitals::daemon::Daemon,
    needle: &str,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    let mut changes = daemon.snapshot().subscribe();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        changes.borrow_and_update();
        let list = get_json(daemon.addr(), "/statements?window=15m").await;
        let id = list["targets"][0]["statements"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["query"].as_str().is_some_and(|q| q.contains(needle)))
            .and_then(|s| s["queryid"].as_str().map(str::to_string));
        let mut last = Value::Null;
        if let Some(id) = id {
            let (status, body) = get(daemon.addr(), &format!("/statements/{id}")).await;
            last = serde_json::from_str(&body).unwrap_or(Value::Null);
            if status == 200 && cond(&last) {
                return last;
            }
        }
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what} (`{needle}`): {last:#}"))
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_plans_are_captured_without_running_the_statement_and_the_helper_serves_pg_monitor()
{
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "capture").await;
    let app = connect(&cluster.dsn("postgres", &db)).await;
    app.batch_execute(&format!(
        "CREATE EXTENSION pg_stat_statements;
         CREATE TABLE readable (id int PRIMARY KEY, a int NOT NULL, b text);
         INSERT INTO readable SELECT g, g % 100, 'x' FROM generate_series(1, 20000) g;
         CREATE TABLE private (id int PRIMARY KEY, owner_id int NOT NULL);
         INSERT INTO private SELECT g, g % 10 FROM generate_series(1, 1000) g;
         ANALYZE;
         GRANT SELECT ON readable TO {MONITOR_ROLE};"
    ))
    .await
    .unwrap();
    let version = server_version(&app).await;
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  statements: {interval: 1s}\n  plans: {interval: 1s, max_per_minute: 120, max_age: 2s}\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let run = || async {
        for i in 0..20 {
            app.query("SELECT b FROM readable WHERE a = $1", &[&(i % 100)])
                .await
                .unwrap();
            app.execute(
                "UPDATE readable SET b = $1 WHERE id = $2 AND a = -1",
                &[&"y", &i],
            )
            .await
            .unwrap();
            app.query("SELECT count(*) FROM private WHERE owner_id = $1", &[&i])
                .await
                .unwrap();
        }
    };
    run().await;

    // A SELECT of a table the role may read: its generic plan, read directly.
    let expected_method = if version >= 160000 {
        "generic_plan"
    } else {
        "prepare"
    };
    let doc = statement_doc(&daemon, "FROM readable WHERE a", "a captured plan", |d| {
        d["plan"].is_object()
    })
    .await;
    assert_eq!(doc["plan"]["method"], expected_method, "{doc:#}");
    assert!(
        doc["plan"]["summary"]
            .as_str()
            .unwrap()
            .contains("public.readable"),
        "{doc:#}"
    );
    assert!(
        doc["plan"]["json"].as_str().unwrap().starts_with('['),
        "{doc:#}"
    );
    // An UPDATE needs more than SELECT to be planned: the reason, kept.
    let doc = statement_doc(
        &daemon,
        "UPDATE readable SET b",
        "the UPDATE's reason",
        |d| d["plan_error"].is_string(),
    )
    .await;
    assert_eq!(
        doc["plan_error"], "permission denied for table readable",
        "{doc:#}"
    );

    // The table the role may not read: the permission reason, nothing else failing.
    let doc = statement_doc(
        &daemon,
        "FROM private WHERE owner_id",
        "the permission reason",
        |d| d["plan_error"].is_string(),
    )
    .await;
    assert_eq!(
        doc["plan_error"], "permission denied for table private",
        "{doc:#}"
    );
    assert!(doc["plan"].is_null());
    let m = scrape(daemon.addr()).await;
    for collector in ["connection", "statements", "indexes", "migrations", "plans"] {
        let ok = m
            .all("pgvitals_collector_success", &[("collector", collector)])
            .iter()
            .all(|(_, v)| *v == 1.0);
        assert!(ok, "{collector} failed:\n{}", m.text);
    }
    assert!(
        m.get("pgvitals_plan_captures_total", &[("result", "failed")])
            .is_some_and(|v| v >= 1.0),
        "{}",
        m.text
    );

    // The helper function, installed by the owner: the same role now gets both plans, and
    // the UPDATE is planned, never run (no row of the table was updated).
    let helper =
        include_str!("../queries/explain_helper.sql").replace(":\"monitor\"", MONITOR_ROLE);
    app.batch_execute(&helper).await.unwrap();
    for (needle, table) in [
        ("FROM private WHERE owner_id", "public.private"),
        ("UPDATE readable SET b", "public.readable"),
    ] {
        run().await;
        let doc = statement_doc(&daemon, needle, "a plan through the helper", |d| {
            d["plan"].is_object()
        })
        .await;
        assert_eq!(doc["plan"]["method"], "helper", "{doc:#}");
        assert!(
            doc["plan"]["summary"].as_str().unwrap().contains(table),
            "{doc:#}"
        );
        assert!(doc["plan_error"].is_null(), "{doc:#}");
    }
    let updated: i64 = app
        .query_one("SELECT count(*) FROM readable WHERE b <> 'x'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        updated, 0,
        "no row was updated, by the application or by pgvitals"
    );
}
