//! A PostgreSQL server stopped and restarted under a running daemon.

mod common;

use std::time::Duration;

use common::*;
use pgvitals::pgcluster::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_is_up_zero_and_comes_back_without_a_restart() {
    let mut cluster = tokio::task::spawn_blocking(|| {
        let c = Cluster::start(&[]).expect("starting PostgreSQL");
        prepare(&c);
        c
    })
    .await
    .unwrap();
    let interval = Duration::from_secs(1);
    let daemon = start(config(
        &cluster,
        "postgres",
        "collectors:\n  connection: { interval: 1s }\n  table_sizes: { interval: 1s }\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let up = |m: &Metrics| m.get("pgvitals_up", &[("target", "main")]);
    let table_sizes_ok = |m: &Metrics| {
        m.get(
            "pgvitals_collector_success",
            &[("target", "main"), ("collector", "table_sizes")],
        ) == Some(1.0)
    };
    wait_for(&daemon, 10 * interval, "up 1 and table sizes", |m| {
        up(m) == Some(1.0) && table_sizes_ok(m)
    })
    .await;

    let mut cluster = tokio::task::spawn_blocking(move || {
        cluster.stop_server().expect("stopping PostgreSQL");
        cluster
    })
    .await
    .unwrap();
    // The bound is generous for a loaded CI machine; the probe runs every interval.
    let m = wait_for(&daemon, 10 * interval, "up 0", |m| up(m) == Some(0.0)).await;
    assert!(
        m.get(
            "pgvitals_connection_probe_failures_total",
            &[("target", "main")]
        )
        .unwrap()
            >= 1.0
    );
    // No stale numbers: once a poll fails or a tick sees the target down, the collectors'
    // series go; ticks while the target is down are skipped and counted, not attempted.
    wait_for(
        &daemon,
        10 * interval,
        "stale series removed, down ticks skipped",
        |m| {
            m.all("pgvitals_connections_max", &[]).is_empty()
                && m.all("pgvitals_table_total_bytes", &[]).is_empty()
                && m.get(
                    "pgvitals_collector_skipped_ticks_total",
                    &[
                        ("target", "main"),
                        ("collector", "table_sizes"),
                        ("reason", "target_down"),
                    ],
                )
                .is_some_and(|v| v >= 1.0)
        },
    )
    .await;
    assert_eq!(get(daemon.addr(), "/healthz").await.0, 200);

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.start_server().expect("restarting PostgreSQL");
        cluster
    })
    .await
    .unwrap();
    wait_for(&daemon, 20 * interval, "up 1 again with fresh polls", |m| {
        up(m) == Some(1.0)
            && table_sizes_ok(m)
            && !m.all("pgvitals_connections_max", &[]).is_empty()
    })
    .await;
    daemon.shutdown().await;
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}
