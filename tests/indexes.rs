//! The indexes collector against a real server: interval vs cumulative hit ratios with an
//! index larger than shared_buffers, and every kind of schema finding in /findings and /metrics.

mod common;

use common::*;
use pgvitals::collectors::indexes::IndexesCollector;
use pgvitals::collectors::Output;
use pgvitals::config::IndexesConfig;
use pgvitals::pgcluster::Cluster;
use tokio_postgres::Client;

/// Waits until the statistics views show `n` scans of `index` (backends flush their counters
/// asynchronously; scans and block counts are flushed together).
async fn wait_for_scans(monitor: &Client, index: &str, n: i64) {
    let sql = format!(
        "SELECT coalesce(sum(idx_scan), 0)::int8 FROM pg_stat_user_indexes WHERE indexrelname = '{index}'"
    );
    wait_for_value(monitor, &sql, &format!("scans of {index}"), |v| v >= n).await;
}

async fn poll(c: &mut IndexesCollector, monitor: &Client, version: i32) -> Output {
    collect_once(c, monitor, version).await
}

fn value(o: &Output, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    o.families
        .iter()
        .find(|f| f.name == name)
        .and_then(|f| f.value(labels))
}

/// Random lookups over a new connection, `n` each on `big` (random ids) and `hot`. The
/// connection is closed at the end: a backend sends its last counters when it exits (before
/// PostgreSQL 15 they may otherwise wait for its next transaction).
async fn lookups(dsn: &str, big: usize, hot: usize) {
    let app = connect(dsn).await;
    app.batch_execute("SET enable_seqscan = off").await.unwrap();
    let b = app
        .prepare("SELECT id FROM big WHERE id = $1")
        .await
        .unwrap();
    let h = app
        .prepare("SELECT id FROM hot WHERE id = $1")
        .await
        .unwrap();
    for i in 0..big.max(hot) {
        if i < big {
            let id = fastrand::i32(1..=300_000);
            app.query(&b, &[&id]).await.unwrap();
        }
        if i < hot {
            let id = fastrand::i32(1..=1000);
            app.query(&h, &[&id]).await.unwrap();
        }
    }
}

/// A cluster with 1 MB of shared_buffers and a database `ratio`: table `big` (300,000 rows, an
/// index 6x shared_buffers) and table `hot` (1,000 rows), statistics reset after the load.
async fn ratio_fixture() -> Cluster {
    let cluster = tokio::task::spawn_blocking(|| {
        let c = Cluster::start(&["shared_buffers = 1MB"]).expect("starting PostgreSQL");
        prepare(&c);
        c
    })
    .await
    .unwrap();
    let admin = connect(&cluster.dsn("postgres", "postgres")).await;
    admin.batch_execute("CREATE DATABASE ratio").await.unwrap();
    let setup = connect(&cluster.dsn("postgres", "ratio")).await;
    setup
        .batch_execute(
            "CREATE TABLE big (id int PRIMARY KEY);
             INSERT INTO big SELECT generate_series(1, 300000);
             CREATE TABLE hot (id int PRIMARY KEY);
             INSERT INTO hot SELECT generate_series(1, 1000);
             ANALYZE;",
        )
        .await
        .unwrap();
    drop(setup);
    // The loading session flushes its counters when it ends; reset them only after that, so
    // the load does not leak into the first interval.
    let stats = connect(&cluster.dsn("postgres", "ratio")).await;
    const INSERTED: &str = "SELECT coalesce(sum(n_tup_ins), 0)::int8 FROM pg_stat_user_tables";
    wait_for_value(&stats, INSERTED, "the load in the statistics", |v| {
        v >= 301_000
    })
    .await;
    stats.batch_execute("SELECT pg_stat_reset()").await.unwrap();
    // Before PostgreSQL 15 the statistics collector applies the reset asynchronously.
    wait_for_value(&stats, INSERTED, "the reset in the statistics", |v| v == 0).await;
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_larger_than_shared_buffers_shows_now_what_the_cumulative_ratio_hides() {
    let cluster = ratio_fixture().await;
    let admin = connect(&cluster.dsn("postgres", "postgres")).await;
    let app_dsn = cluster.dsn("postgres", "ratio");
    let monitor = connect(&cluster.dsn(MONITOR_ROLE, "ratio")).await;
    let version = server_version(&monitor).await;
    let mut c = IndexesCollector::new(IndexesConfig::default());
    let first = poll(&mut c, &monitor, version).await;
    assert_eq!(
        value(&first, "pgvitals_database_index_hit_ratio", &[]),
        None,
        "no interval yet"
    );

    // Interval 1: random lookups in an index 6x larger than shared_buffers, and a hot table.
    lookups(&app_dsn, 5000, 5000).await;
    wait_for_scans(&monitor, "big_pkey", 5000).await;
    wait_for_scans(&monitor, "hot_pkey", 5000).await;
    let busy = poll(&mut c, &monitor, version).await;
    let big = value(&busy, "pgvitals_index_hit_ratio", &[("index", "big_pkey")]).unwrap();
    let hot = value(&busy, "pgvitals_index_hit_ratio", &[("index", "hot_pkey")]).unwrap();
    eprintln!("interval 1: big_pkey {big:.3}, hot_pkey {hot:.4}");
    assert!(big < 0.90, "big index ratio {big}");
    assert!(hot > 0.99, "hot index ratio {hot}");
    assert_eq!(
        value(
            &busy,
            "pgvitals_index_interval_scans",
            &[("index", "big_pkey")]
        ),
        Some(5000.0)
    );

    // Interval 2: only the hot table. Now is fine again; since the reset is still bad.
    lookups(&app_dsn, 0, 2000).await;
    wait_for_scans(&monitor, "hot_pkey", 7000).await;
    let quiet = poll(&mut c, &monitor, version).await;
    let now = value(&quiet, "pgvitals_database_index_hit_ratio", &[]).unwrap();
    let cumulative = value(&quiet, "pgvitals_database_index_hit_ratio_cumulative", &[]).unwrap();
    eprintln!("interval 2: database {now:.4} now, {cumulative:.3} cumulative");
    assert!(now > 0.90, "interval ratio {now}");
    assert!(cumulative < 0.90, "cumulative ratio {cumulative}");
    // big_pkey had no access in this interval: no ratio for it, not a made-up one.
    assert_eq!(
        value(&quiet, "pgvitals_index_hit_ratio", &[("index", "big_pkey")]),
        None
    );
    drop((monitor, admin));
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_hit_ratio_drop_fires_index_hit_ratio_low_naming_the_index() {
    let cluster = ratio_fixture().await;
    let daemon = start(config(
        &cluster,
        "ratio",
        "collectors:\n  indexes: {interval: 1s}\nalerts:\n  evaluation_interval: 1s\n  builtin:\n    IndexHitRatioLow: {for: 0s}\n",
    ))
    .await;
    wait_ready(&daemon).await;
    // Random lookups in the index 6x larger than shared_buffers, until the alert fires.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workload = {
        let stop = stop.clone();
        let dsn = cluster.dsn("postgres", "ratio");
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                lookups(&dsn, 500, 50).await;
            }
        })
    };
    let doc = wait_for_alerts(
        &daemon,
        std::time::Duration::from_secs(60),
        "IndexHitRatioLow",
        |a| {
            alerts_named(a, "IndexHitRatioLow")
                .iter()
                .any(|a| a["state"] == "firing" && a["labels"]["database"] == "ratio")
        },
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    workload.await.unwrap();
    let alerts = doc["data"]["alerts"].as_array().unwrap();
    let alert = alerts_named(alerts, "IndexHitRatioLow")[0];
    eprintln!("firing: {alert:#}");
    let value: f64 = alert["value"].as_str().unwrap().parse().unwrap();
    assert!(value < 0.9, "ratio {value}");
    let worst = alert["annotations"]["worst_index"].as_str().unwrap();
    assert!(
        worst.starts_with("public.big_pkey on table big: "),
        "the offending index is named: {worst}"
    );
    assert_eq!(alert["labels"]["severity"], "warning");
    daemon.shutdown().await;
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_finding_kind_is_reported_and_a_clean_schema_has_none() {
    let cluster = shared_cluster();
    let bad = fresh_database(cluster, "bad").await;
    let good = fresh_database(cluster, "good").await;
    let b = connect(&cluster.dsn("postgres", &bad)).await;
    b.batch_execute(
        "CREATE TABLE parent (id int PRIMARY KEY);
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id));
         CREATE TABLE dup (id int PRIMARY KEY, a int);
         CREATE INDEX dup_a1 ON dup (a);
         CREATE INDEX dup_a2 ON dup (a);
         CREATE TABLE nopk (a int);
         CREATE TABLE inv (id int PRIMARY KEY, v int);
         INSERT INTO inv VALUES (1, 7), (2, 7);
         CREATE TABLE lookup (id int PRIMARY KEY, a int);
         CREATE INDEX lookup_a_unused ON lookup (a);
         CREATE TABLE stale (id int PRIMARY KEY) WITH (autovacuum_enabled = false);
         ANALYZE stale;
         INSERT INTO stale SELECT generate_series(1, 3000);",
    )
    .await
    .unwrap();
    let err = b
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY inv_v ON inv (v)")
        .await
        .unwrap_err();
    assert!(pgvitals::db::error_chain(&err).contains("could not create unique index"));
    drop(b); // flushes the session's statistics (the inserts into `stale`)

    let g = connect(&cluster.dsn("postgres", &good)).await;
    g.batch_execute(
        "CREATE TABLE parent (id int PRIMARY KEY);
         CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent (id));
         CREATE INDEX child_parent_id ON child (parent_id);
         INSERT INTO parent SELECT generate_series(1, 10);
         INSERT INTO child SELECT g, 1 + g % 10 FROM generate_series(1, 100) g;
         ANALYZE;
         SET enable_seqscan = off;
         SELECT count(*) FROM child WHERE parent_id = 3;",
    )
    .await
    .unwrap();
    drop(g);
    let monitor_good = connect(&cluster.dsn(MONITOR_ROLE, &good)).await;
    wait_for_scans(&monitor_good, "child_parent_id", 1).await;
    let monitor_bad = connect(&cluster.dsn(MONITOR_ROLE, &bad)).await;
    wait_for_value(
        &monitor_bad,
        "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'stale'",
        "the inserts into stale in the statistics",
        |v| v >= 3000,
    )
    .await;

    let daemon = start(config(
        cluster,
        &bad,
        &format!(
            // The index findings alone: the team's naming and column conventions (standard_*)
            // are tests/standards.rs's, and this schema does not follow them.
            "    databases: [{bad}, {good}]\ncollectors:\n  indexes: {{ interval: 1h, unused_index_min_age: 1ms }}\n  standards: {{ enabled: false }}\n"
        ),
    ))
    .await;
    wait_ready(&daemon).await;
    let (status, body) = get(daemon.addr(), "/findings").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let of = |db: &str| -> Vec<serde_json::Value> {
        v["databases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["database"] == db)
            .unwrap_or_else(|| panic!("no findings entry for {db}: {body}"))["findings"]
            .as_array()
            .unwrap()
            .clone()
    };
    let found = of(&bad);
    let has = |kind: &str, table: &str, index: Option<&str>| {
        found.iter().any(|f| {
            f["kind"] == kind && f["table"] == table && index.is_none_or(|i| f["index"] == i)
        })
    };
    assert!(
        has("unused_index", "lookup", Some("lookup_a_unused")),
        "{body}"
    );
    assert!(has("duplicate_index", "dup", Some("dup_a2")), "{body}");
    assert!(
        !has("duplicate_index", "dup", Some("dup_a1")),
        "only the newer copy is redundant"
    );
    assert!(has("invalid_index", "inv", Some("inv_v")), "{body}");
    assert!(has("unindexed_foreign_key", "child", None), "{body}");
    assert!(has("no_primary_key", "nopk", None), "{body}");
    assert!(has("stale_statistics", "stale", None), "{body}");
    assert!(
        of(&good).is_empty(),
        "a clean schema has no finding: {:?}",
        of(&good)
    );

    let m = scrape(daemon.addr()).await;
    let l = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        let mut v = vec![("target", "main"), ("database", bad.as_str())];
        v.extend_from_slice(extra);
        v
    };
    assert!(m
        .get(
            "pgvitals_finding_unused_index_bytes",
            &l(&[
                ("schema", "public"),
                ("table", "lookup"),
                ("index", "lookup_a_unused")
            ])
        )
        .is_some_and(|b| b > 0.0));
    assert!(m
        .get(
            "pgvitals_finding_duplicate_index_bytes",
            &l(&[
                ("table", "dup"),
                ("index", "dup_a2"),
                ("duplicate_of", "dup_a1")
            ])
        )
        .is_some());
    assert!(m
        .get(
            "pgvitals_finding_invalid_index_bytes",
            &l(&[("table", "inv"), ("index", "inv_v")])
        )
        .is_some());
    assert_eq!(
        m.get(
            "pgvitals_finding_unindexed_foreign_key",
            &l(&[
                ("table", "child"),
                ("constraint", "child_parent_id_fkey (parent_id)")
            ])
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "pgvitals_finding_table_without_primary_key",
            &l(&[("table", "nopk")])
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "pgvitals_finding_stale_statistics",
            &l(&[("table", "stale")])
        ),
        Some(3000.0)
    );
    for kind in pgvitals::collectors::indexes::FINDING_KINDS {
        let good_labels = [
            ("target", "main"),
            ("database", good.as_str()),
            ("kind", kind),
        ];
        assert_eq!(
            m.get("pgvitals_findings", &good_labels),
            Some(0.0),
            "{kind}"
        );
    }
    daemon.shutdown().await;
}
