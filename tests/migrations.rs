//! The migrations collector against a real server: a DDL transaction blocking a reader (and
//! firing `MigrationTooSlow`), index build progress, and an Alembic revision change with its
//! duration.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pgvitals::collectors::migrations::MigrationsCollector;
use pgvitals::collectors::Output;
use pgvitals::config::MigrationsConfig;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_ddl_shows_its_age_and_the_session_it_blocks() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "ddl").await;
    let setup = connect(&cluster.dsn("postgres", &db)).await;
    setup
        .batch_execute(
            "CREATE TABLE accounts (id int PRIMARY KEY); INSERT INTO accounts VALUES (1);",
        )
        .await
        .unwrap();
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  migrations: { interval: 1s }\nthresholds:\n  migration_duration: 2s\nalerts:\n  evaluation_interval: 1s\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let base = [("target", "main"), ("database", db.as_str())];
    let too_slow = |alerts: &[serde_json::Value]| {
        alerts_named(alerts, "MigrationTooSlow")
            .into_iter()
            .find(|a| a["labels"]["database"] == db.as_str())
            .cloned()
    };
    let get = |m: &Metrics, name: &str| m.get(name, &base).unwrap_or(-1.0);

    let migrator = connect(&cluster.dsn("postgres", &db)).await;
    migrator
        .batch_execute("/* migration 0042 */ BEGIN; ALTER TABLE accounts ADD COLUMN note text;")
        .await
        .unwrap();
    let reader = connect(&cluster.dsn("postgres", &db)).await;
    let blocked_select = tokio::spawn(async move {
        reader
            .query("SELECT * FROM accounts", &[])
            .await
            .map(|r| r.len())
    });

    let first = wait_for(&daemon, WAIT, "the DDL and the blocked reader", |m| {
        get(m, "pgvitals_migrations_running") == 1.0
            && get(m, "pgvitals_migration_blocked_sessions") == 1.0
    })
    .await;
    let age1 = get(&first, "pgvitals_migration_longest_running_seconds");
    assert!(age1 > 0.0);
    let table_age = first
        .get(
            "pgvitals_migration_table_running_seconds",
            &[
                ("database", db.as_str()),
                ("schema", "public"),
                ("table", "accounts"),
            ],
        )
        .unwrap();
    assert!(table_age > 0.0);
    assert!(get(&first, "pgvitals_migration_blocked_longest_seconds") > 0.0);
    let second = wait_for(&daemon, WAIT, "a later poll", |m| {
        get(m, "pgvitals_migration_longest_running_seconds") > age1
    })
    .await;
    assert_eq!(get(&second, "pgvitals_migration_blocked_sessions"), 1.0);
    let (_, body) = common::get(daemon.addr(), "/migrations").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let running = &v["databases"][0]["running"][0];
    assert_eq!(running["kind"], "alter", "{body}");
    assert_eq!(running["blocked_sessions"], 1, "{body}");
    // Past the 2 s target: MigrationTooSlow fires (its `for` is 0s).
    let doc = wait_for_alerts(&daemon, WAIT, "MigrationTooSlow", |a| {
        too_slow(a).is_some_and(|a| a["state"] == "firing")
    })
    .await;
    let alert = too_slow(doc["data"]["alerts"].as_array().unwrap()).unwrap();
    let value: f64 = alert["value"].as_str().unwrap().parse().unwrap();
    assert!(value > 2.0, "{alert:#}");
    assert!(alert["annotations"]["description"]
        .as_str()
        .unwrap()
        .contains("should finish within 2s"));

    migrator.batch_execute("COMMIT").await.unwrap();
    assert_eq!(blocked_select.await.unwrap().unwrap(), 1);
    wait_for(&daemon, WAIT, "everything back to zero", |m| {
        get(m, "pgvitals_migrations_running") == 0.0
            && get(m, "pgvitals_migration_blocked_sessions") == 0.0
            && get(m, "pgvitals_migration_longest_running_seconds") == 0.0
    })
    .await;
    wait_for_alerts(&daemon, WAIT, "MigrationTooSlow resolved", |a| {
        too_slow(a).is_none()
    })
    .await;
    daemon.shutdown().await;
}

fn progress_of(o: &Output) -> Vec<(String, f64)> {
    o.families
        .iter()
        .filter(|f| {
            f.name == "pgvitals_migration_progress_blocks_done"
                || f.name == "pgvitals_migration_progress_tuples_done"
        })
        .flat_map(|f| {
            f.samples.iter().map(move |s| {
                let phase = s
                    .labels
                    .iter()
                    .find(|(k, _)| *k == "phase")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                (format!("{}:{phase}", f.name), s.value)
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_build_reports_growing_progress() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "progress").await;
    let setup = connect(&cluster.dsn("postgres", &db)).await;
    setup
        .batch_execute(
            "CREATE TABLE wide (id int, v text);
             INSERT INTO wide SELECT g, md5(g::text) FROM generate_series(1, 3000000) g;",
        )
        .await
        .unwrap();
    let monitor = connect(&cluster.dsn(MONITOR_ROLE, &db)).await;
    let version = server_version(&monitor).await;
    let mut c = MigrationsCollector::new(MigrationsConfig::default(), Default::default());
    let builder = connect(&cluster.dsn("postgres", &db)).await;
    let build = tokio::spawn(async move {
        builder
            .batch_execute(
                "SET max_parallel_maintenance_workers = 0; CREATE INDEX wide_v ON wide (v)",
            )
            .await
    });
    // Poll while the build runs; keep every reading that shows progress.
    let mut readings: Vec<Vec<(String, f64)>> = Vec::new();
    let started = Instant::now();
    while !build.is_finished() && started.elapsed() < Duration::from_secs(120) {
        let out = collect_once(&mut c, &monitor, version).await;
        let p = progress_of(&out);
        if !p.is_empty() {
            readings.push(p);
        }
    }
    build.await.unwrap().unwrap();
    eprintln!("{} readings with progress", readings.len());
    // Two readings of the same counter and phase, the later one larger.
    let grew = readings.windows(2).any(|w| {
        w[1].iter()
            .any(|(k, v)| w[0].iter().any(|(k0, v0)| k0 == k && v > v0))
    });
    assert!(grew, "progress never grew between polls: {readings:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alembic_revision_change_is_a_migration_with_its_duration() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "alembic").await;
    let setup = connect(&cluster.dsn("postgres", &db)).await;
    setup
        .batch_execute(&format!(
            "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
             INSERT INTO alembic_version VALUES ('1a2b3c');
             GRANT SELECT ON alembic_version TO {MONITOR_ROLE};
             CREATE TABLE invoices (id int PRIMARY KEY);"
        ))
        .await
        .unwrap();
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  migrations: { interval: 1s }\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let rev = |m: &Metrics, r: &str| {
        m.get(
            "pgvitals_migration_revision_first_seen_timestamp_seconds",
            &[
                ("database", db.as_str()),
                ("table", "alembic_version"),
                ("revision", r),
            ],
        )
        .is_some()
    };
    wait_for(&daemon, WAIT, "the first revision", |m| rev(m, "1a2b3c")).await;

    // An Alembic-style migration: DDL, some work, the version bump, commit.
    let migrator = connect(&cluster.dsn("postgres", &db)).await;
    let t0 = Instant::now();
    migrator
        .batch_execute("BEGIN; ALTER TABLE invoices ADD COLUMN due date;")
        .await
        .unwrap();
    // The migration's own work: the daemon must see it running at least once.
    wait_for(&daemon, WAIT, "the migration running", |m| {
        m.get("pgvitals_migrations_running", &[("database", db.as_str())]) == Some(1.0)
    })
    .await;
    migrator.batch_execute("SELECT pg_sleep(2)").await.unwrap();
    migrator
        .batch_execute("UPDATE alembic_version SET version_num = '4d5e6f'; COMMIT;")
        .await
        .unwrap();
    let real = t0.elapsed().as_secs_f64();

    wait_for(&daemon, WAIT, "the new revision", |m| rev(m, "4d5e6f")).await;
    // The poll that reads the new revision may still see the transaction that wrote it running
    // (the version table is read after pg_stat_activity): the migration is recorded once a
    // poll sees it ended.
    let in_history = |d: &serde_json::Value| {
        d["databases"].as_array().is_some_and(|dbs| {
            dbs.iter()
                .any(|x| x["database"] == db.as_str() && x["history"][0]["to_revision"] == "4d5e6f")
        })
    };
    let v = wait_for_json(
        &daemon,
        "/migrations",
        WAIT,
        "the migration in the history",
        in_history,
    )
    .await;
    let body = v.to_string();
    let entry = v["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["database"] == db.as_str())
        .unwrap()
        .clone();
    let m = &entry["history"][0];
    assert_eq!(m["to_revision"], "4d5e6f", "{body}");
    assert_eq!(m["from_revision"], "1a2b3c", "{body}");
    let measured = m["duration_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("no duration: {body}"));
    eprintln!("migration: {measured:.3} s measured by pgvitals, {real:.3} s real");
    assert!((measured / real - 1.0).abs() < 0.2, "{measured} vs {real}");
    assert!(
        m["statements"].to_string().contains("ALTER TABLE invoices"),
        "{body}"
    );
    let metrics = scrape(daemon.addr()).await;
    let last = metrics
        .get(
            "pgvitals_migration_last_duration_seconds",
            &[("database", db.as_str()), ("table", "alembic_version")],
        )
        .unwrap();
    assert!((last - measured).abs() < 1e-6, "{last} vs {measured}");
    daemon.shutdown().await;
}
