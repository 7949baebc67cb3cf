//! The replication collector against real servers: a streaming standby made by
//! `pg_basebackup -R`, its replay paused while the primary writes, falls behind on both sides
//! (the primary's view and its own) and fires `ReplicationLagHigh` for each; an inactive
//! physical slot keeps more WAL as the primary writes and fires `ReplicationSlotInactive`.
//! Both servers are polled by a bare `pg_monitor` role. The standby is made by `pg_basebackup -R`
//! where it is beside the server binaries (Debian's 15), else by the low-level backup API.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use pgvitals::config::Config;
use pgvitals::pgcluster::Cluster;

const WAIT: Duration = Duration::from_secs(90);

fn two_targets(primary: &Cluster, standby: Option<&Cluster>, extra: &str) -> Config {
    let mut yaml = format!(
        "listen: 127.0.0.1:0\ntargets:\n  - name: primary\n    dsn: \"{}\"\n",
        primary.dsn(MONITOR_ROLE, "postgres")
    );
    if let Some(s) = standby {
        yaml.push_str(&format!(
            "  - name: standby\n    dsn: \"{}\"\n",
            s.dsn(MONITOR_ROLE, "postgres")
        ));
    }
    yaml.push_str(extra);
    Config::parse(&yaml, "<test>").unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// Writes to the primary until `stop`: WAL for the standby to fall behind on.
fn writer(client: tokio_postgres::Client, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            client
                .batch_execute("INSERT INTO ticks (at) VALUES (now())")
                .await
                .unwrap();
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_standby_falls_behind_on_both_sides_and_fires_replication_lag_high() {
    let primary = Cluster::start(&[]).unwrap();
    prepare(&primary);
    let admin = connect(&primary.dsn("postgres", "postgres")).await;
    admin
        .batch_execute("CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz NOT NULL)")
        .await
        .unwrap();
    let standby = Cluster::standby_of(&primary, "replica1").unwrap();
    let standby_admin = connect(&standby.dsn("postgres", "postgres")).await;
    let daemon = start(two_targets(
        &primary,
        Some(&standby),
        "collectors:\n  replication: {interval: 1s}\nthresholds:\n  replication_lag: 3s\nalerts:\n  evaluation_interval: 1s\n  builtin:\n    ReplicationLagHigh: {for: 0s}\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let seen_by_primary = [
        ("target", "primary"),
        ("role", "standby"),
        ("standby", "replica1"),
    ];
    let seen_by_itself = [
        ("target", "standby"),
        ("role", "self"),
        ("standby", "replica1"),
    ];
    // Streaming, and one transaction replayed (the standby times its lag from the last one).
    admin
        .batch_execute("INSERT INTO ticks (at) VALUES (now())")
        .await
        .unwrap();
    let m = wait_for(&daemon, WAIT, "the standby streaming and caught up", |m| {
        m.get("pgvitals_replication_replay_lag_seconds", &seen_by_primary)
            .is_some()
            && m.get(
                "pgvitals_standby_last_replay_timestamp_seconds",
                &[("target", "standby")],
            )
            .is_some()
            && m.get("pgvitals_replication_replay_lag_seconds", &seen_by_itself) == Some(0.0)
    })
    .await;
    assert_eq!(
        m.get("pgvitals_replication_standbys", &[("target", "primary")]),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "pgvitals_standby_wal_receiver_streaming",
            &[("target", "standby")]
        ),
        Some(1.0)
    );

    standby_admin
        .batch_execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writing = writer(
        connect(&primary.dsn("postgres", "postgres")).await,
        stop.clone(),
    );
    let alerts = wait_for_json(
        &daemon,
        "/alerts",
        WAIT,
        "ReplicationLagHigh on both sides",
        |a| {
            firing_alert(a, "ReplicationLagHigh", &seen_by_primary).is_some()
                && firing_alert(a, "ReplicationLagHigh", &seen_by_itself).is_some()
        },
    )
    .await;
    let from_primary = firing_alert(&alerts, "ReplicationLagHigh", &seen_by_primary).unwrap();
    assert!(
        from_primary["annotations"]["description"]
            .as_str()
            .unwrap()
            .starts_with("Standby replica1 has not replayed WAL that is "),
        "{from_primary:#}"
    );
    let m = scrape(daemon.addr()).await;
    assert_eq!(
        m.get("pgvitals_standby_replay_paused", &[("target", "standby")]),
        Some(1.0)
    );
    let replay_bytes = [
        ("target", "primary"),
        ("standby", "replica1"),
        ("stage", "replay"),
    ];
    let behind = m
        .get("pgvitals_replication_lag_bytes", &replay_bytes)
        .unwrap();
    assert!(behind > 0.0, "{}", m.text);
    // Still writing, still paused: further behind, in bytes and in time, on both sides.
    let lag = |m: &Metrics, want: &[(&str, &str)]| {
        m.get("pgvitals_replication_replay_lag_seconds", want)
            .unwrap()
    };
    let (primary_lag, own_lag) = (lag(&m, &seen_by_primary), lag(&m, &seen_by_itself));
    eprintln!(
        "paused: replay lag {primary_lag} s seen by the primary, {own_lag} s by the standby, {behind} bytes"
    );
    wait_for(&daemon, WAIT, "the lag growing", |m| {
        m.get("pgvitals_replication_lag_bytes", &replay_bytes)
            .is_some_and(|b| b > behind)
            && lag(m, &seen_by_primary) > primary_lag
            && lag(m, &seen_by_itself) > own_lag
    })
    .await;

    // Resumed: the standby catches up once the writes stop.
    stop.store(true, Ordering::Relaxed);
    writing.await.unwrap();
    standby_admin
        .batch_execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    wait_for(&daemon, WAIT, "the standby caught up", |m| {
        m.get("pgvitals_replication_replay_lag_seconds", &seen_by_itself) == Some(0.0)
            && m.get("pgvitals_standby_replay_paused", &[("target", "standby")]) == Some(0.0)
            && m.get("pgvitals_replication_lag_bytes", &replay_bytes) == Some(0.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inactive_slot_keeps_more_wal_as_the_primary_writes_and_fires() {
    let primary = Cluster::start(&[]).unwrap();
    prepare(&primary);
    let admin = connect(&primary.dsn("postgres", "postgres")).await;
    admin
        .batch_execute(
            "SELECT pg_create_physical_replication_slot('abandoned', true);
             CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz NOT NULL);",
        )
        .await
        .unwrap();
    let daemon = start(two_targets(
        &primary,
        None,
        "collectors:\n  replication: {interval: 1s}\nthresholds:\n  replication_slot_retained_bytes: 65536\nalerts:\n  evaluation_interval: 1s\n  builtin:\n    ReplicationSlotInactive: {for: 0s}\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let slot = [("slot", "abandoned"), ("active", "false")];
    let m = wait_for(&daemon, WAIT, "the slot", |m| {
        m.get("pgvitals_replication_slot_retained_bytes", &slot)
            .is_some()
    })
    .await;
    let before = m
        .get("pgvitals_replication_slot_retained_bytes", &slot)
        .unwrap();
    assert_eq!(
        m.get(
            "pgvitals_replication_slot_wal_status",
            &[("slot", "abandoned"), ("status", "reserved")]
        ),
        Some(1.0)
    );
    admin
        .batch_execute("INSERT INTO ticks (at) SELECT now() FROM generate_series(1, 5000)")
        .await
        .unwrap();
    let written: f64 = admin
        .query_one(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8
             FROM pg_replication_slots WHERE slot_name = 'abandoned'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(written > before + 65536.0, "{before} → {written}");
    let m = wait_for(&daemon, WAIT, "the retained WAL grown", |m| {
        m.get("pgvitals_replication_slot_retained_bytes", &slot)
            .is_some_and(|b| b >= written)
    })
    .await;
    eprintln!(
        "slot retained {before} → {} bytes",
        m.get("pgvitals_replication_slot_retained_bytes", &slot)
            .unwrap()
    );
    let alert = wait_firing(
        &daemon,
        WAIT,
        "ReplicationSlotInactive",
        &[("slot", "abandoned")],
    )
    .await;
    let description = alert["annotations"]["description"].as_str().unwrap();
    assert!(
        description.starts_with("Replication slot abandoned (physical) has no consumer and keeps ")
            && description.ends_with("SELECT pg_drop_replication_slot('abandoned')."),
        "{description}"
    );
}
