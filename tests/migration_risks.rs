//! Unsafe schema changes caught while they run: each unsafe shape, run for real against a
//! 1,000,000-row table and held waiting for its lock behind an open transaction, is
//! `pgvitals_migration_risk` (and in `/migrations` with its safe recipe) and fires
//! `UnsafeMigration`; its safe twin, held the same way, is not; and a waiting `ALTER TABLE` with a
//! reader queued behind it fires `MigrationBlockingQueries`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// The running schema changes of `/migrations`.
fn running(doc: &Value) -> Vec<Value> {
    doc["databases"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|d| d["running"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_shapes_are_flagged_while_they_run_and_their_safe_twins_are_not() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "risky").await;
    let dsn = cluster.dsn("postgres", &db);
    let owner = connect(&dsn).await;
    owner
        .batch_execute(
            "CREATE TABLE events (id int PRIMARY KEY, at timestamptz, note text, total int);
             INSERT INTO events SELECT g, now(), 'x', 1 FROM generate_series(1, 1000000) g;
             ANALYZE events;",
        )
        .await
        .unwrap();
    // Open transactions the schema changes queue behind: a writer (blocks CREATE INDEX and makes
    // CREATE INDEX CONCURRENTLY wait) and a reader (blocks every ACCESS EXCLUSIVE lock).
    let writer = connect(&dsn).await;
    writer
        .batch_execute("BEGIN; UPDATE events SET total = 2 WHERE id = 1")
        .await
        .unwrap();
    let reader = connect(&dsn).await;
    reader
        .batch_execute("BEGIN; SELECT count(*) FROM events WHERE id = 2")
        .await
        .unwrap();

    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  connection: {interval: 1s}\n  migrations: {interval: 1s}\nthresholds:\n  migration_lock_wait: 1s\nalerts:\n  evaluation_interval: 1s\n",
    ))
    .await;
    wait_ready(&daemon).await;

    let cases: &[(&str, Option<&str>)] = &[
        (
            "CREATE INDEX events_at ON events (at)",
            Some("create_index_not_concurrently"),
        ),
        (
            "CREATE INDEX CONCURRENTLY events_at_cc ON events (at)",
            None,
        ),
        (
            "ALTER TABLE events ADD CONSTRAINT total_positive CHECK (total > 0)",
            Some("constraint_without_not_valid"),
        ),
        (
            "ALTER TABLE events ADD CONSTRAINT total_positive_nv CHECK (total > 0) NOT VALID",
            None,
        ),
        (
            "ALTER TABLE events ALTER COLUMN total TYPE bigint",
            Some("column_type_change"),
        ),
        (
            "ALTER TABLE events ADD COLUMN token uuid DEFAULT gen_random_uuid()",
            Some("volatile_default"),
        ),
        (
            "ALTER TABLE events ADD COLUMN is_flagged boolean DEFAULT false",
            None,
        ),
        (
            "ALTER TABLE events ALTER COLUMN note SET NOT NULL",
            Some("set_not_null"),
        ),
        ("VACUUM FULL events", Some("vacuum_full")),
    ];
    for (i, (sql, rule)) in cases.iter().enumerate() {
        let session = connect(&dsn).await;
        let pid: i32 = session
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        let sql = sql.to_string();
        let change = tokio::spawn(async move { session.batch_execute(&sql).await });
        let doc = wait_for_json(
            &daemon,
            "/migrations",
            WAIT,
            &format!("{} running", cases[i].0),
            |d| {
                running(d).iter().any(|r| r["pid"] == pid)
                    && rule.is_none_or(|rule| {
                        running(d)
                            .iter()
                            .any(|r| r["pid"] == pid && r["risks"][0]["rule"] == rule)
                    })
            },
        )
        .await;
        let this = running(&doc).into_iter().find(|r| r["pid"] == pid).unwrap();
        let risks = this["risks"].as_array().unwrap();
        let m = scrape(daemon.addr()).await;
        let series = m.all(
            "pgvitals_migration_risk",
            &[
                ("database", db.as_str()),
                ("schema", "public"),
                ("table", "events"),
            ],
        );
        match rule {
            Some(rule) => {
                assert_eq!(risks.len(), 1, "{this:#}");
                assert_eq!(risks[0]["table"], "events");
                assert_eq!(risks[0]["schema"], "public");
                assert!(!risks[0]["fix"].as_str().unwrap().is_empty());
                assert!(
                    series.iter().any(|(l, v)| l["rule"] == *rule && *v == 1.0),
                    "{rule}: {series:?}"
                );
                let alert = wait_firing(
                    &daemon,
                    WAIT,
                    "UnsafeMigration",
                    &[("rule", rule), ("table", "events")],
                )
                .await;
                assert_eq!(alert["labels"]["severity"], "warning");
            }
            None => {
                assert!(risks.is_empty(), "the safe twin is flagged: {this:#}");
                assert!(series.is_empty(), "{}: {series:?}", cases[i].0);
            }
        }
        if cases[i].0.contains("TYPE bigint") {
            // A reader queued behind the waiting ALTER: every query on the table now waits.
            let queued = connect(&dsn).await;
            let blocked =
                tokio::spawn(
                    async move { queued.batch_execute("SELECT count(*) FROM events").await },
                );
            let alert = wait_firing(
                &daemon,
                WAIT,
                "MigrationBlockingQueries",
                &[("database", db.as_str())],
            )
            .await;
            assert_eq!(alert["labels"]["severity"], "critical");
            assert!(
                alert["value"].as_str().unwrap().parse::<f64>().unwrap() > 1.0,
                "{alert:#}"
            );
            owner
                .query_one("SELECT pg_cancel_backend($1)", &[&pid])
                .await
                .unwrap();
            assert!(change.await.unwrap().is_err());
            reader
                .batch_execute("COMMIT; BEGIN; SELECT count(*) FROM events WHERE id = 2")
                .await
                .ok();
            blocked.await.unwrap().unwrap();
        } else {
            owner
                .query_one("SELECT pg_cancel_backend($1)", &[&pid])
                .await
                .unwrap();
            assert!(
                change.await.unwrap().is_err(),
                "{} was cancelled",
                cases[i].0
            );
        }
        wait_for_json(&daemon, "/migrations", WAIT, "the change gone", |d| {
            !running(d).iter().any(|r| r["pid"] == pid)
        })
        .await;
    }
    daemon.shutdown().await;
}
