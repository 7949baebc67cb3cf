//! The maintenance collectors against a real PostgreSQL, the DSN's role a bare `pg_monitor`
//! role: the wraparound ages match `age(datfrozenxid)` and fire `TransactionIdWraparoundRisk`
//! at a test threshold; an open transaction holding the xmin horizon fires `XminHorizonHeld`
//! with its pid and application; a bigint sequence at 90 % of its integer column is first
//! reported unreadable (pg_monitor may not read it), then, granted, found and alerted on by
//! column; a table with half its rows deleted and autovacuum off for it is found overdue and
//! fires `AutovacuumOverdue`; the bloat estimate of a half-deleted table is within ± 20 % of
//! `pgstattuple`'s exact figure (not guessed while the role may not read the table), and so is
//! `pgstattuple_approx` where installed; the connections ratio agrees with the sessions counted
//! and fires `ConnectionsNearMax`. In the version matrix.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// The findings of `kind` in `/findings` for `db`.
async fn findings(daemon: &pgvitals::daemon::Daemon, db: &str, kind: &str) -> Vec<Value> {
    let doc = get_json(daemon.addr(), "/findings").await;
    doc["databases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["database"] == db)
        .flat_map(|d| d["findings"].as_array().unwrap().clone())
        .filter(|f| f["kind"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wraparound_ages_match_the_catalog_and_an_open_transaction_is_named_as_the_holder() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "wraparound").await;
    let admin = connect(&cluster.dsn("postgres", &db)).await;
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  wraparound: {interval: 1s}\nthresholds:\n  transaction_id_wraparound: {warning: 0.0000000001, critical: 0.9}\n  xmin_horizon_age: 2s\nalerts:\n  evaluation_interval: 1s\n  builtin:\n    TransactionIdWraparoundRisk: {for: 0s}\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let labels = [("database", db.as_str())];
    let polls = [("collector", "wraparound")];
    let age_sql = "SELECT age(datfrozenxid)::float8, mxid_age(datminmxid)::float8
                   FROM pg_database WHERE datname = current_database()";

    // The age read before a whole poll, the poll's, and the age read after it: other tests
    // consume transaction IDs meanwhile, so the poll's lies between the two.
    let before: f64 = admin.query_one(age_sql, &[]).await.unwrap().get(0);
    let started = scrape(daemon.addr())
        .await
        .get("pgvitals_collector_polls_total", &polls)
        .unwrap();
    let m = wait_for(&daemon, WAIT, "a whole poll after the first read", |m| {
        m.get("pgvitals_collector_polls_total", &polls)
            .is_some_and(|p| p >= started + 2.0)
    })
    .await;
    let row = admin.query_one(age_sql, &[]).await.unwrap();
    let (after, mxid): (f64, f64) = (row.get(0), row.get(1));
    let age = m
        .get("pgvitals_database_transaction_id_age", &labels)
        .unwrap();
    assert!(
        (before..=after).contains(&age),
        "pgvitals read {age}; the test read {before} before and {after} after"
    );
    assert_eq!(
        m.get("pgvitals_database_multixact_id_age", &labels),
        Some(mxid)
    );
    let ratio = m
        .get("pgvitals_database_transaction_id_used_ratio", &labels)
        .unwrap();
    assert_eq!(ratio, age / 2_147_483_648.0);
    let freeze: f64 = admin
        .query_one(
            "SELECT current_setting('autovacuum_freeze_max_age')::float8",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        m.get("pgvitals_autovacuum_freeze_max_age", &[]),
        Some(freeze)
    );
    let alert = wait_firing(
        &daemon,
        WAIT,
        "TransactionIdWraparoundRisk",
        &[("database", db.as_str()), ("severity", "warning")],
    )
    .await;
    assert!(
        alert["annotations"]["description"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{db} has used ")),
        "{alert:#}"
    );

    // A report that opened a snapshot and went to lunch.
    let report = connect(&format!(
        "{}&application_name=nightly-report",
        cluster.dsn("postgres", &db)
    ))
    .await;
    report
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM pg_class;")
        .await
        .unwrap();
    let pid: i32 = report
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let pid = pid.to_string();
    let holder = [
        ("kind", "session"),
        ("pid", pid.as_str()),
        ("application", "nightly-report"),
        ("database", db.as_str()),
    ];
    let alert = wait_firing(&daemon, WAIT, "XminHorizonHeld", &holder).await;
    let description = alert["annotations"]["description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!(
            "session {pid} (pid {pid}, application nightly-report, user postgres, database {db}) has held the xmin horizon for "
        )),
        "{description}"
    );
    let m = scrape(daemon.addr()).await;
    let held = m
        .get("pgvitals_xmin_horizon_holder_age_transactions", &holder)
        .unwrap();
    assert!(
        m.get("pgvitals_xmin_horizon_age_transactions", &[])
            .is_some_and(|oldest| oldest >= held),
        "{}",
        m.text
    );
    report.batch_execute("COMMIT").await.unwrap();
    wait_for(&daemon, WAIT, "the holder gone", |m| {
        m.all("pgvitals_xmin_horizon_holder_age_seconds", &holder)
            .is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bigint_sequence_at_90_percent_of_its_integer_column_is_found_by_column() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "sequences").await;
    let admin = connect(&cluster.dsn("postgres", &db)).await;
    admin
        .batch_execute(
            "CREATE SEQUENCE orders_id_seq AS bigint;
             CREATE TABLE orders (id integer PRIMARY KEY DEFAULT nextval('orders_id_seq'),
                                  total numeric NOT NULL);
             ALTER SEQUENCE orders_id_seq OWNED BY orders.id;
             SELECT setval('orders_id_seq', 1932735283);
             CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);
             INSERT INTO users (email) VALUES ('a@example.com');",
        )
        .await
        .unwrap();
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  sequences: {interval: 1s}\nalerts:\n  evaluation_interval: 1s\n",
    ))
    .await;
    wait_ready(&daemon).await;
    // A bare pg_monitor role may not read a sequence's value: said, not silently zero.
    let m = wait_for(&daemon, WAIT, "the sequences counted", |m| {
        m.get(
            "pgvitals_sequences",
            &[("database", &db), ("state", "unreadable")],
        )
        .is_some()
    })
    .await;
    assert_eq!(
        m.get(
            "pgvitals_sequences",
            &[("database", &db), ("state", "unreadable")]
        ),
        Some(2.0)
    );
    assert!(m
        .all("pgvitals_sequence_used_ratio", &[("database", &db)])
        .is_empty());

    admin
        .batch_execute(&format!(
            "GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {MONITOR_ROLE}"
        ))
        .await
        .unwrap();
    let orders = [
        ("database", db.as_str()),
        ("schema", "public"),
        ("sequence", "orders_id_seq"),
        ("column", "public.orders.id"),
    ];
    let m = wait_for(&daemon, WAIT, "the sequence's use", |m| {
        m.get("pgvitals_sequence_used_ratio", &orders).is_some()
    })
    .await;
    let ratio = m.get("pgvitals_sequence_used_ratio", &orders).unwrap();
    assert!(
        (ratio - (1932735283.0 - 1.0) / (2147483647.0 - 1.0)).abs() < 1e-12,
        "{ratio}"
    );
    let users = m
        .get(
            "pgvitals_sequence_used_ratio",
            &[("database", &db), ("sequence", "users_id_seq")],
        )
        .unwrap();
    assert_eq!(users, 0.0, "1 of a bigint's range");
    assert_eq!(
        m.get(
            "pgvitals_sequences",
            &[("database", &db), ("state", "readable")]
        ),
        Some(2.0)
    );
    let found = findings(&daemon, &db, "sequence_exhaustion").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(f["sequence"], "public.orders_id_seq");
    assert_eq!(f["column"], "public.orders.id");
    assert_eq!(f["table"], "orders");
    assert_eq!(f["figures"]["limit"], 2147483647.0);
    assert_eq!(
        f["detail"],
        "90.0 % used: last value 1932735283, the integer column public.orders.id it feeds holds at most 2147483647 (the bigint sequence itself goes further); widen public.orders.id to bigint before inserts fail (ALTER COLUMN … TYPE bigint rewrites the table: plan it)"
    );
    let alert = wait_firing(&daemon, WAIT, "SequenceNearExhaustion", &orders).await;
    assert_eq!(
        alert["annotations"]["summary"],
        format!("Sequence public.orders_id_seq is 90% used (main/{db})")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_table_deleted_with_autovacuum_off_is_found_overdue() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "vacuum").await;
    let admin = connect(&cluster.dsn("postgres", &db)).await;
    admin
        .batch_execute(
            "CREATE TABLE events (id bigint PRIMARY KEY, payload text NOT NULL)
                 WITH (autovacuum_enabled = false);
             INSERT INTO events SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;",
        )
        .await
        .unwrap();
    // The inserts reach the shared statistics before the VACUUM resets what it counts (a
    // backend flushes them up to a second later); VACUUM refuses to run in a batch's
    // implicit transaction, so one statement per call.
    wait_for_value(
        &admin,
        "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'events'",
        "the inserts counted",
        |n| n == 20_000,
    )
    .await;
    admin.batch_execute("VACUUM ANALYZE events").await.unwrap();
    admin
        .batch_execute("DELETE FROM events WHERE id % 2 = 0")
        .await
        .unwrap();
    // The statistics see the deletes once the backend has flushed them.
    wait_for_value(
        &admin,
        "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'events'",
        "the deletes counted",
        |n| n == 10_000,
    )
    .await;
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  vacuum: {interval: 1s}\nthresholds:\n  autovacuum_overdue: 2s\nalerts:\n  evaluation_interval: 1s\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let events = [
        ("database", db.as_str()),
        ("schema", "public"),
        ("table", "events"),
    ];
    let alert = wait_firing(&daemon, WAIT, "AutovacuumOverdue", &events).await;
    assert_eq!(alert["labels"]["reason"], "dead_tuples");
    let found = findings(&daemon, &db, "autovacuum_overdue").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(f["table"], "events");
    assert_eq!(f["figures"]["dead_tuples"], 10_000.0);
    // 50 + 0.2 × 20,000 rows (reltuples from the VACUUM ANALYZE).
    assert_eq!(f["figures"]["vacuum_threshold"], 4_050.0);
    let detail = f["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("10k dead rows (50 % of the table) against its autovacuum threshold of 4050, overdue for ")
            && detail.contains("autovacuum is off for it"),
        "{detail}"
    );
    let m = scrape(daemon.addr()).await;
    assert_eq!(m.get("pgvitals_table_dead_tuple_ratio", &events), Some(0.5));
    assert_eq!(
        m.get(
            "pgvitals_tables_autovacuum",
            &[("database", &db), ("state", "disabled")]
        ),
        Some(1.0)
    );
    let age: f64 = admin
        .query_one(
            "SELECT greatest(age(c.relfrozenxid), age(t.relfrozenxid))::float8
             FROM pg_class c LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
             WHERE c.relname = 'events'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let seen = m.get("pgvitals_table_transaction_id_age", &events).unwrap();
    assert!(seen <= age, "pgvitals {seen}, read after it {age}");

    // Vacuumed, it is no longer overdue.
    admin.batch_execute("VACUUM events").await.unwrap();
    wait_for(&daemon, WAIT, "no longer overdue", |m| {
        m.all("pgvitals_table_autovacuum_overdue_seconds", &events)
            .is_empty()
    })
    .await;
    assert!(findings(&daemon, &db, "autovacuum_overdue")
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connections_ratio_counts_every_session_against_the_usable_slots() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "connections").await;
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  connection: {interval: 1s}\nthresholds:\n  connections_used: 0.001\nalerts:\n  evaluation_interval: 1s\n  builtin:\n    ConnectionsNearMax: {for: 0s}\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let m = wait_for(&daemon, WAIT, "the ratio", |m| {
        m.get("pgvitals_connections_used_ratio", &[]).is_some()
    })
    .await;
    let sessions: f64 = m
        .all("pgvitals_connections", &[])
        .iter()
        .map(|(_, v)| v)
        .sum();
    let usable = m.get("pgvitals_connections_max", &[]).unwrap()
        - m.get("pgvitals_connections_reserved", &[]).unwrap();
    assert!(sessions >= 1.0, "pgvitals' own session at least");
    assert_eq!(
        m.get("pgvitals_connections_used_ratio", &[]),
        Some(sessions / usable)
    );
    let alert = wait_firing(&daemon, WAIT, "ConnectionsNearMax", &[]).await;
    assert!(
        alert["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains(
                "of max_connections − superuser_reserved_connections is in use on main, over 0.1%"
            ),
        "{alert:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bloat_estimate_of_a_half_deleted_table_is_within_a_fifth_of_pgstattuple() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "bloat").await;
    let admin = connect(&cluster.dsn("postgres", &db)).await;
    admin
        .batch_execute(
            "CREATE EXTENSION pgstattuple;
             CREATE TABLE audit_logs (id bigint PRIMARY KEY, payload text NOT NULL)
                 WITH (autovacuum_enabled = false);
             INSERT INTO audit_logs SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
             DELETE FROM audit_logs WHERE id % 2 = 0;",
        )
        .await
        .unwrap();
    admin.batch_execute("ANALYZE audit_logs").await.unwrap();
    let exact: f64 = admin
        .query_one(
            "SELECT (free_space + dead_tuple_len)::float8 FROM pgstattuple('audit_logs')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let extra = "collectors:\n  bloat: {interval: 1s, min_bytes: 100000, min_ratio: 0.3, pgstattuple: false}\n";
    let table = [
        ("database", db.as_str()),
        ("schema", "public"),
        ("table", "audit_logs"),
    ];
    let not_estimable = [
        ("database", db.as_str()),
        ("relation", "table"),
        ("state", "not_estimable"),
    ];

    // A bare pg_monitor role sees no pg_stats of a table it may not read: counted, not guessed.
    let daemon = start(config(cluster, &db, extra)).await;
    wait_ready(&daemon).await;
    let m = wait_for(&daemon, WAIT, "the bloat counts", |m| {
        m.get("pgvitals_bloat_relations", &not_estimable).is_some()
    })
    .await;
    assert_eq!(m.get("pgvitals_bloat_relations", &not_estimable), Some(1.0));
    assert!(m.all("pgvitals_table_bloat_bytes", &table).is_empty());
    admin
        .batch_execute(&format!("GRANT SELECT ON audit_logs TO {MONITOR_ROLE}"))
        .await
        .unwrap();
    let estimated = [("method", "estimate"), table[0], table[1], table[2]];
    let m = wait_for(&daemon, WAIT, "the estimate", |m| {
        m.get("pgvitals_table_bloat_bytes", &estimated).is_some()
    })
    .await;
    let estimate = m.get("pgvitals_table_bloat_bytes", &estimated).unwrap();
    assert!(
        (estimate - exact).abs() <= 0.2 * exact,
        "estimate {estimate} vs pgstattuple {exact}"
    );
    let ratio = m.get("pgvitals_table_bloat_ratio", &estimated).unwrap();
    assert!((0.4..0.6).contains(&ratio), "{ratio}");
    let found = findings(&daemon, &db, "table_bloat").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["bytes"], estimate);
    assert!(
        found[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("table public.audit_logs wastes "),
        "{found:?}"
    );
    drop(daemon);

    // With pgstattuple on, the top tables are measured instead.
    let daemon = start(config(
        cluster,
        &db,
        &extra.replace("pgstattuple: false", "pgstattuple: true"),
    ))
    .await;
    wait_ready(&daemon).await;
    let measured = [
        ("method", "pgstattuple_approx"),
        table[0],
        table[1],
        table[2],
    ];
    let m = wait_for(&daemon, WAIT, "the measured waste", |m| {
        m.get("pgvitals_table_bloat_bytes", &measured).is_some()
    })
    .await;
    let approx = m.get("pgvitals_table_bloat_bytes", &measured).unwrap();
    assert!(
        (approx - exact).abs() <= 0.2 * exact,
        "pgstattuple_approx {approx} vs pgstattuple {exact}"
    );
    eprintln!(
        "wasted bytes: pgstattuple {exact}, estimate {estimate}, pgstattuple_approx {approx}"
    );
}
