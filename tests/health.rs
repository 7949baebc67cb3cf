//! The `database` collector against a real PostgreSQL: two sessions made to deadlock move
//! `pgvitals_database_deadlocks_total` by exactly one and fire `DeadlocksDetected`; the other
//! pg_stat_database counters and the database size match what the test reads itself, and the
//! session counters appear on 14+ only; the checkpoint, WAL (14+) and I/O (16+) counters lie
//! between two reads of the server's own. In the version matrix.

mod common;

use std::time::Duration;

use common::*;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_is_counted_once_and_fires_deadlocks_detected() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "deadlock").await;
    let admin = connect(&cluster.dsn("postgres", &db)).await;
    admin
        .batch_execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
                        INSERT INTO accounts VALUES (1, 100), (2, 100);",
        )
        .await
        .unwrap();
    let version = server_version(&admin).await;
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  database: {interval: 1s}\nalerts:\n  evaluation_interval: 1s\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let labels = [("database", db.as_str())];
    let before = wait_for(&daemon, WAIT, "the deadlock counter", |m| {
        m.get("pgvitals_database_deadlocks_total", &labels)
            .is_some()
    })
    .await
    .get("pgvitals_database_deadlocks_total", &labels)
    .unwrap();

    // Two transactions that lock the two rows in opposite orders.
    let a = connect(&cluster.dsn("postgres", &db)).await;
    let b = connect(&cluster.dsn("postgres", &db)).await;
    a.batch_execute("BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = 1")
        .await
        .unwrap();
    b.batch_execute("BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = 2")
        .await
        .unwrap();
    let (ra, rb) = tokio::join!(
        a.batch_execute("UPDATE accounts SET balance = balance + 1 WHERE id = 2"),
        b.batch_execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1"),
    );
    let failed: Vec<String> = [ra, rb]
        .into_iter()
        .filter_map(|r| r.err())
        .map(|e| {
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "exactly one of the two is cancelled: {failed:?}"
    );
    assert!(failed[0].contains("deadlock detected"), "{failed:?}");
    a.batch_execute("ROLLBACK").await.unwrap();
    b.batch_execute("ROLLBACK").await.unwrap();

    let m = wait_for(&daemon, WAIT, "the deadlock counted", |m| {
        m.get("pgvitals_database_deadlocks_total", &labels)
            .is_some_and(|v| v > before)
    })
    .await;
    assert_eq!(
        m.get("pgvitals_database_deadlocks_total", &labels).unwrap(),
        before + 1.0
    );
    let m = wait_for(&daemon, WAIT, "one deadlock in the last 5 minutes", |m| {
        m.get("pgvitals_database_deadlocks_last_5m", &labels) == Some(1.0)
    })
    .await;
    assert_eq!(
        m.get("pgvitals_database_deadlocks_last_5m", &labels),
        Some(1.0)
    );
    let alerts = wait_for_alerts(&daemon, WAIT, "DeadlocksDetected firing", |a| {
        alerts_named(a, "DeadlocksDetected")
            .iter()
            .any(|a| a["state"] == "firing" && a["labels"]["database"] == db.as_str())
    })
    .await;
    let alert = alerts_named(
        alerts["data"]["alerts"].as_array().unwrap(),
        "DeadlocksDetected",
    )
    .into_iter()
    .find(|a| a["labels"]["database"] == db.as_str())
    .unwrap()
    .clone();
    let description = alert["annotations"]["description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("PostgreSQL detected 1 deadlock(s) in {db} ")),
        "{description}"
    );

    // The other counters and the size, against what the test reads (no writes run between
    // the two reads: the counters of this database stand still once the daemon has polled).
    let row = admin
        .query_one(
            "SELECT xact_rollback::float8, temp_files::float8, pg_database_size(current_database())::float8
             FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await
        .unwrap();
    let (rollbacks, temp_files, size): (f64, f64, f64) = (row.get(0), row.get(1), row.get(2));
    let m = scrape(daemon.addr()).await;
    let seen = m.get("pgvitals_database_rollbacks_total", &labels).unwrap();
    assert!(
        seen >= 2.0 && seen <= rollbacks,
        "rollbacks {seen} (the deadlock's two at least), the test read {rollbacks}"
    );
    assert_eq!(
        m.get("pgvitals_database_temp_files_total", &labels),
        Some(temp_files)
    );
    let bytes = m.get("pgvitals_database_size_bytes", &labels).unwrap();
    assert!(
        (bytes - size).abs() <= 0.05 * size,
        "size {bytes} vs pg_database_size {size}"
    );
    let sessions = m.get("pgvitals_database_sessions_total", &labels);
    if version >= 140000 {
        assert!(
            sessions.is_some_and(|s| s >= 3.0),
            "admin, a and b connected at least: {sessions:?}"
        );
    } else {
        assert_eq!(sessions, None, "PostgreSQL 13 has no session counters");
    }
    eprintln!(
        "deadlocks {before} → {}, rollbacks {seen}, size {bytes}, sessions {sessions:?}",
        before + 1.0
    );
}

/// The counter `sql` reads (NULL: absent on this version), before a whole poll of the
/// checkpoints collector, the poll's, and after: the counter is monotonic, so the poll's value
/// lies between the two reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_wal_and_io_counters_match_the_server_s_own() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "checkpoints").await;
    let admin = connect(&cluster.dsn("postgres", &db)).await;
    let version = server_version(&admin).await;
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  checkpoints: {interval: 1s}\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let checkpoints = if version >= 170000 {
        "SELECT num_requested::float8 FROM pg_stat_checkpointer"
    } else {
        "SELECT checkpoints_req::float8 FROM pg_stat_bgwriter"
    };
    let wal = "SELECT wal_bytes::float8 FROM pg_stat_wal";
    let read = |sql: &'static str| {
        let admin = &admin;
        async move { admin.query_one(sql, &[]).await.unwrap().get::<_, f64>(0) }
    };
    let before_checkpoint = read(checkpoints).await;
    admin.batch_execute("CHECKPOINT").await.unwrap();
    admin
        .batch_execute("CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g")
        .await
        .unwrap();
    let before_wal = if version >= 140000 {
        read(wal).await
    } else {
        0.0
    };
    let polls = [("collector", "checkpoints")];
    let started = scrape(daemon.addr())
        .await
        .get("pgvitals_collector_polls_total", &polls)
        .unwrap();
    let m = wait_for(&daemon, WAIT, "a whole poll after the reads", |m| {
        m.get("pgvitals_collector_polls_total", &polls)
            .is_some_and(|p| p >= started + 2.0)
    })
    .await;
    let after_checkpoint = read(checkpoints).await;
    let seen = m
        .get("pgvitals_checkpoints_total", &[("kind", "requested")])
        .unwrap();
    assert!(
        before_checkpoint + 1.0 <= seen && seen <= after_checkpoint,
        "requested checkpoints: {before_checkpoint} before CHECKPOINT, pgvitals {seen}, {after_checkpoint} after"
    );
    let wal_bytes = m.get("pgvitals_wal_bytes_total", &[]);
    if version >= 140000 {
        let after_wal = read(wal).await;
        let seen = wal_bytes.unwrap();
        assert!(
            before_wal <= seen && seen <= after_wal,
            "WAL bytes {before_wal} ≤ {seen} ≤ {after_wal}"
        );
    } else {
        assert_eq!(wal_bytes, None, "pg_stat_wal is 14+");
    }
    let hits = m.get(
        "pgvitals_io_operations_total",
        &[
            ("backend_type", "client backend"),
            ("object", "relation"),
            ("operation", "hits"),
        ],
    );
    if version >= 160000 {
        assert!(hits.is_some_and(|h| h > 0.0), "{}", m.text);
    } else {
        assert_eq!(hits, None, "pg_stat_io is 16+");
    }
    eprintln!(
        "requested checkpoints {seen}, WAL bytes {wal_bytes:?}, client relation hits {hits:?}"
    );
}
