//! Faults injected under a running daemon, each followed by recovery without a restart: a
//! network cut mid-poll, a stalled network, a slow network (a TCP proxy written here sits
//! between pgvitals and PostgreSQL), a crash restart of PostgreSQL, and the database changing
//! under the collectors (pg_stat_statements dropped, a monitored table dropped, statistics
//! reset). Recovery times are printed, not asserted: timing belongs in benchmarks.

mod common;

use std::time::{Duration, Instant};

use common::proxy::{Mode, Proxy};
use common::*;
use pgvitals::config::Config;
use pgvitals::daemon::Daemon;
use pgvitals::pgcluster::Cluster;

const WAIT: Duration = Duration::from_secs(60);
const COLLECTORS: [&str; 5] = [
    "connection",
    "statements",
    "indexes",
    "migrations",
    "table_sizes",
];
const POOL_SIZE: usize = 2;

/// Every collector at 1 s (timeouts 2 s), through `127.0.0.1:port`; cluster-wide collectors
/// on `postgres` (where pg_stat_statements is created), per-database ones on `db`.
async fn daemon_via(port: u16, db: &str) -> Daemon {
    let every = COLLECTORS
        .iter()
        .map(|c| format!("  {c}: {{interval: 1s, timeout: 2s}}\n"))
        .collect::<String>();
    let yaml = format!(
        "listen: 127.0.0.1:0\ntargets:\n  - name: main\n    dsn: \"postgresql://{MONITOR_ROLE}@127.0.0.1:{port}/postgres?sslmode=disable\"\n    databases: [{db}]\nconnections:\n  pool_size: {POOL_SIZE}\n  connect_timeout: 1s\n  acquire_timeout: 1s\ncollectors:\n{every}"
    );
    Daemon::start(Config::parse(&yaml, "<test>").unwrap_or_else(|e| panic!("{e}\n{yaml}")))
        .await
        .unwrap()
}

fn all_succeed(m: &Metrics) -> bool {
    m.get("pgvitals_up", &[("target", "main")]) == Some(1.0)
        && COLLECTORS
            .iter()
            .all(|c| m.get("pgvitals_collector_success", &[("collector", c)]) == Some(1.0))
}

fn sum(m: &Metrics, name: &str) -> f64 {
    m.all(name, &[]).iter().map(|(_, v)| v).sum()
}

/// No interval figure is ever negative, whatever happened to the counters underneath.
fn assert_nothing_negative(m: &Metrics) {
    for line in m
        .text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample line: `{line}`"));
        let v = sample_value(line, value);
        if series.contains("_interval_") || series.contains("_ratio") || series.ends_with("_total")
        {
            assert!(v >= 0.0 || v.is_nan(), "negative: {line}");
        }
    }
}

async fn recover(daemon: &Daemon, what: &str) {
    let healed = Instant::now();
    let m = wait_for(daemon, WAIT, what, all_succeed).await;
    assert_nothing_negative(&m);
    println!(
        "{what}: every collector polled successfully {:?} after the fault ended",
        healed.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_cut_mid_poll_is_up_zero_then_recovers() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "cut").await;
    let proxy = Proxy::start(format!("127.0.0.1:{}", cluster.port()).parse().unwrap()).await;
    let daemon = daemon_via(proxy.addr().port(), &db).await;
    wait_for(&daemon, WAIT, "every collector polled", all_succeed).await;

    proxy.set(Mode::Down);
    let m = wait_for(&daemon, WAIT, "up 0", |m| {
        m.get("pgvitals_up", &[("target", "main")]) == Some(0.0)
    })
    .await;
    assert_nothing_negative(&m);
    assert_eq!(get(daemon.addr(), "/healthz").await.0, 200);
    proxy.set(Mode::Pass);
    recover(&daemon, "cut").await;
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_network_times_polls_out_and_nothing_piles_up() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "stall").await;
    let proxy = Proxy::start(format!("127.0.0.1:{}", cluster.port()).parse().unwrap()).await;
    let daemon = daemon_via(proxy.addr().port(), &db).await;
    let before = wait_for(&daemon, WAIT, "every collector polled", all_succeed).await;
    let skipped_before = sum(&before, "pgvitals_collector_skipped_ticks_total");

    proxy.set(Mode::Stall);
    let stalled_at = proxy.peak();
    let m = wait_for(&daemon, WAIT, "up 0 and ticks skipped", |m| {
        m.get("pgvitals_up", &[("target", "main")]) == Some(0.0)
            && sum(m, "pgvitals_collector_skipped_ticks_total") >= skipped_before + 10.0
    })
    .await;
    assert_nothing_negative(&m);
    // Scrapes keep answering from memory while the database is unreachable.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(get(daemon.addr(), "/metrics").await.0, 200);
        slowest = slowest.max(t.elapsed());
    }
    println!(
        "stall: slowest of 20 scrapes {slowest:?}; connections through the proxy: {} open, peak {}",
        proxy.open(),
        proxy.peak()
    );
    // Bounded: a pool per database (two here), one probe, one cancel request per collector.
    let bound = 2 * POOL_SIZE + 1 + COLLECTORS.len();
    let skipped = sum(&m, "pgvitals_collector_skipped_ticks_total");
    wait_for(&daemon, WAIT, "more ticks skipped", |m| {
        sum(m, "pgvitals_collector_skipped_ticks_total") >= skipped + 10.0
    })
    .await;
    assert!(
        proxy.peak() <= bound.max(stalled_at),
        "peak {} connections (bound {bound})",
        proxy.peak()
    );

    proxy.set(Mode::Pass);
    recover(&daemon, "stall").await;
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_network_slows_polls_down_without_failing_them() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "delay").await;
    let proxy = Proxy::start(format!("127.0.0.1:{}", cluster.port()).parse().unwrap()).await;
    proxy.set(Mode::Delay(Duration::from_millis(20)));
    let daemon = daemon_via(proxy.addr().port(), &db).await;
    let first = wait_for(&daemon, WAIT, "every collector polled", all_succeed).await;
    let polls = |m: &Metrics| sum(m, "pgvitals_collector_polls_total");
    let p0 = polls(&first);
    let m = wait_for(&daemon, WAIT, "more polls", |m| {
        all_succeed(m) && polls(m) >= p0 + 10.0
    })
    .await;
    assert_eq!(
        sum(&m, "pgvitals_collector_errors_total"),
        sum(&first, "pgvitals_collector_errors_total")
    );
    let slowest = m
        .all("pgvitals_collector_duration_seconds", &[])
        .iter()
        .map(|(_, v)| *v)
        .fold(0.0, f64::max);
    assert!(
        slowest >= 0.02,
        "a 20 ms delay per packet shows in the poll durations: {slowest}"
    );
    println!(
        "delay 20 ms/packet: slowest poll {:.0} ms",
        slowest * 1000.0
    );
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_restart_of_postgresql_is_survived() {
    let cluster = tokio::task::spawn_blocking(|| {
        let c = Cluster::start(&[]).expect("starting PostgreSQL");
        prepare(&c);
        c
    })
    .await
    .unwrap();
    let daemon = daemon_via(cluster.port(), "postgres").await;
    let before = wait_for(&daemon, WAIT, "every collector polled", all_succeed).await;
    let probe_failures = |m: &Metrics| sum(m, "pgvitals_connection_probe_failures_total");
    let failures_before = probe_failures(&before);

    // The crash: every session killed at once, no shutdown checkpoint. The server stays down
    // until the daemon has reported it, so the crash is seen however fast a restart would be:
    // the target down, a probe failed, and every collector's last poll failed.
    let mut cluster = tokio::task::spawn_blocking(move || {
        let mut cluster = cluster;
        cluster.crash().expect("pg_ctl stop -m immediate");
        cluster
    })
    .await
    .unwrap();
    let m = wait_for(&daemon, WAIT, "the crash seen", |m| {
        m.get("pgvitals_up", &[("target", "main")]) == Some(0.0)
            && probe_failures(m) > failures_before
            && COLLECTORS
                .iter()
                .all(|c| m.get("pgvitals_collector_success", &[("collector", c)]) == Some(0.0))
    })
    .await;
    assert_nothing_negative(&m);
    assert_eq!(get(daemon.addr(), "/healthz").await.0, 200);

    cluster = tokio::task::spawn_blocking(move || {
        cluster
            .start_server()
            .expect("pg_ctl start after the crash");
        cluster
    })
    .await
    .unwrap();
    let back = Instant::now();
    let log = std::fs::read_to_string(cluster.dir().join("server.log")).unwrap();
    assert!(
        log.contains("not properly shut down; automatic recovery in progress"),
        "the restart went through crash recovery:\n{log}"
    );
    let admin = connect(&cluster.dsn("postgres", "postgres")).await;
    let restarted: f64 = admin
        .query_one(
            "SELECT extract(epoch FROM pg_postmaster_start_time())::float8",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // Recovered without a restart of the daemon: up again, and every collector's last
    // successful poll ended after the new server started (not one left over from before).
    let m = wait_for(
        &daemon,
        WAIT,
        "every collector polled after the restart",
        |m| {
            all_succeed(m)
                && COLLECTORS.iter().all(|c| {
                    m.get(
                        "pgvitals_collector_last_success_timestamp_seconds",
                        &[("collector", c)],
                    )
                    .is_some_and(|t| t > restarted)
                })
        },
    )
    .await;
    assert_nothing_negative(&m);
    println!(
        "crash restart: every collector polled successfully {:?} after the server was back",
        back.elapsed()
    );
    daemon.shutdown().await;
    drop(admin);
    tokio::task::spawn_blocking(move || {
        cluster.stop_server().ok();
        drop(cluster)
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_changing_under_the_collectors() {
    let cluster = tokio::task::spawn_blocking(|| {
        let c = Cluster::start(&[]).expect("starting PostgreSQL");
        prepare(&c);
        c
    })
    .await
    .unwrap();
    let admin = connect(&cluster.dsn("postgres", "postgres")).await;
    admin
        .batch_execute(
            "CREATE TABLE doomed (id int PRIMARY KEY, v text);
             INSERT INTO doomed SELECT g, 'x' FROM generate_series(1, 5000) g;
             CREATE TABLE kept (id int PRIMARY KEY);
             INSERT INTO kept SELECT generate_series(1, 1000);
             SET enable_seqscan = off;
             SELECT * FROM doomed WHERE id = 7;
             SELECT * FROM kept WHERE id = 7;",
        )
        .await
        .unwrap();
    let daemon = daemon_via(cluster.port(), "postgres").await;
    wait_for(&daemon, WAIT, "every collector polled", all_succeed).await;
    let statements_ok = |m: &Metrics, v: f64| {
        m.get("pgvitals_collector_success", &[("collector", "statements")]) == Some(v)
    };
    let others_ok = |m: &Metrics| {
        COLLECTORS
            .iter()
            .filter(|c| **c != "statements")
            .all(|c| m.get("pgvitals_collector_success", &[("collector", c)]) == Some(1.0))
    };

    // pg_stat_statements dropped: that collector fails and says so; the others go on.
    admin
        .batch_execute("DROP EXTENSION pg_stat_statements")
        .await
        .unwrap();
    let m = wait_for(&daemon, WAIT, "statements failing alone", |m| {
        statements_ok(m, 0.0) && others_ok(m)
    })
    .await;
    assert_eq!(m.get("pgvitals_statements_available", &[]), Some(0.0));
    assert_nothing_negative(&m);
    admin
        .batch_execute("CREATE EXTENSION pg_stat_statements")
        .await
        .unwrap();
    wait_for(&daemon, WAIT, "statements back", |m| {
        statements_ok(m, 1.0) && others_ok(m)
    })
    .await;

    // A monitored table dropped mid-run: its series go, nothing fails for long.
    admin.batch_execute("DROP TABLE doomed").await.unwrap();
    let m = wait_for(&daemon, WAIT, "the dropped table gone", |m| {
        all_succeed(m)
            && m.all("pgvitals_table_total_bytes", &[("table", "doomed")])
                .is_empty()
            && !m
                .all("pgvitals_table_total_bytes", &[("table", "kept")])
                .is_empty()
    })
    .await;
    assert_nothing_negative(&m);

    // Statistics reset: counted as a reset, figures restart from it, none negative.
    let resets = |m: &Metrics| sum(m, "pgvitals_indexes_resets_total");
    let r0 = resets(&m);
    admin.batch_execute("SELECT pg_stat_reset()").await.unwrap();
    admin
        .batch_execute("SET enable_seqscan = off; SELECT * FROM kept WHERE id = 9;")
        .await
        .unwrap();
    let m = wait_for(&daemon, WAIT, "the reset counted", |m| {
        resets(m) > r0 && all_succeed(m)
    })
    .await;
    assert_nothing_negative(&m);
    daemon.shutdown().await;
    drop(admin);
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}
