//! PgBouncer pools, read through a real PgBouncer in front of the test cluster: clients that
//! wait for a server show up as waiting with their wait time, `ConnectionAcquisitionSlow` fires
//! for the pool and resolves when they are served; a PgBouncer that dies is
//! `pgvitals_pgbouncer_up 0` without touching the PostgreSQL target and is back once it is
//! restarted, with no restart of pgvitals.

mod common;

use std::time::Duration;

use common::pgbouncer::PgBouncer;
use common::*;

const WAIT: Duration = Duration::from_secs(60);

fn yaml(cluster: &pgvitals::pgcluster::Cluster, db: &str, bouncer: &PgBouncer) -> String {
    format!(
        "listen: 127.0.0.1:0\ntargets:\n  - name: main\n    dsn: \"{}\"\npgbouncers:\n  - name: bouncer\n    dsn: \"{}\"\ncollectors:\n  connection: {{interval: 1s}}\n  pgbouncer: {{interval: 1s}}\nalerts:\n  evaluation_interval: 1s\n  builtin:\n    ConnectionAcquisitionSlow: {{for: 0s}}\n",
        cluster.dsn(MONITOR_ROLE, db),
        bouncer.admin_dsn(pgbouncer::STATS_USER.1)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_waiting_in_a_full_pool_fire_connection_acquisition_slow_until_served() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "pooled").await;
    let bouncer = PgBouncer::start(cluster, &[("appdb", &db, 2)]).await;
    let config = pgvitals::config::Config::parse(&yaml(cluster, &db, &bouncer), "<test>").unwrap();
    let daemon = start(config).await;
    let pool = [
        ("target", "bouncer"),
        ("database", "appdb"),
        ("user", "postgres"),
    ];
    wait_for(&daemon, WAIT, "pgbouncer up", |m| {
        m.get("pgvitals_pgbouncer_up", &[("target", "bouncer")]) == Some(1.0)
    })
    .await;

    // Ten clients each open a transaction and hold it: two get the pool's two servers, eight
    // wait for one.
    let (release, released) = tokio::sync::watch::channel(false);
    let mut clients = Vec::new();
    for _ in 0..10 {
        let dsn = bouncer.dsn("appdb");
        let mut released = released.clone();
        clients.push(tokio::spawn(async move {
            let c = connect(&dsn).await;
            c.batch_execute("BEGIN; SELECT 1").await.unwrap();
            released.wait_for(|r| *r).await.unwrap();
            c.batch_execute("COMMIT").await.unwrap();
        }));
    }
    let m = wait_for(&daemon, WAIT, "8 clients waiting over 50 ms", |m| {
        m.get("pgvitals_pgbouncer_clients_waiting", &pool) >= Some(8.0)
            && m.get("pgvitals_pgbouncer_client_wait_longest_seconds", &pool) > Some(0.05)
    })
    .await;
    assert_eq!(
        m.get("pgvitals_pgbouncer_clients_waiting", &pool),
        Some(8.0)
    );
    assert_eq!(m.get("pgvitals_pgbouncer_clients_active", &pool), Some(2.0));
    let active = [pool[0], pool[1], pool[2], ("state", "active")];
    assert_eq!(m.get("pgvitals_pgbouncer_servers", &active), Some(2.0));
    assert_eq!(m.get("pgvitals_pgbouncer_pool_size", &pool), Some(2.0));
    assert_eq!(
        m.get("pgvitals_pgbouncer_pool_saturation_ratio", &pool),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "pgvitals_pgbouncer_database_connections",
            &[("target", "bouncer"), ("database", "appdb")]
        ),
        Some(2.0)
    );
    assert_eq!(m.get("pgvitals_up", &[("target", "main")]), Some(1.0));
    // /connections shows the pool with its waiting clients.
    let doc = get_json(daemon.addr(), "/connections").await;
    let bouncer_doc = &doc["pgbouncers"][0];
    assert_eq!(bouncer_doc["target"], "bouncer", "{doc:#}");
    assert_eq!(bouncer_doc["up"], true);
    let listed = bouncer_doc["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["database"] == "appdb")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(listed["clients_waiting"], 8.0);
    assert_eq!(listed["saturation"], 1.0);
    assert!(listed["longest_wait_seconds"].as_f64() > Some(0.05));
    let (_, text) = get(daemon.addr(), "/connections?format=text").await;
    assert!(
        text.contains("appdb/postgres: 8 clients waiting, the oldest for ")
            && text.contains("100% of its servers in use"),
        "{text}"
    );

    let alert = wait_firing(
        &daemon,
        WAIT,
        "ConnectionAcquisitionSlow",
        &[
            ("target", "bouncer"),
            ("database", "appdb"),
            ("user", "postgres"),
        ],
    )
    .await;
    assert_eq!(
        alert["annotations"]["saturation"], "100% of the pool's servers in use",
        "{alert:#}"
    );
    let description = alert["annotations"]["description"].as_str().unwrap();
    assert!(
        description.contains("PgBouncer pool appdb (user postgres)")
            && description.contains("50ms"),
        "{description}"
    );

    release.send(true).unwrap();
    for c in clients {
        c.await.unwrap();
    }
    let m = wait_for(&daemon, WAIT, "nobody waiting", |m| {
        m.get("pgvitals_pgbouncer_clients_waiting", &pool) == Some(0.0)
    })
    .await;
    assert_eq!(
        m.get("pgvitals_pgbouncer_client_wait_longest_seconds", &pool),
        Some(0.0)
    );
    // The transactions that waited count in PgBouncer's wait time.
    let db_labels = [("target", "bouncer"), ("database", "appdb")];
    assert!(m.get("pgvitals_pgbouncer_client_wait_seconds_total", &db_labels) > Some(0.05));
    assert!(m.get("pgvitals_pgbouncer_transactions_total", &db_labels) >= Some(10.0));
    wait_for_alerts(&daemon, WAIT, "ConnectionAcquisitionSlow resolved", |a| {
        alerts_named(a, "ConnectionAcquisitionSlow")
            .iter()
            .all(|a| a["state"] != "firing")
    })
    .await;
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pgbouncer_that_dies_is_down_alone_and_back_when_restarted() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "bouncedown").await;
    let mut bouncer = PgBouncer::start(cluster, &[("appdb", &db, 2)]).await;
    let config = pgvitals::config::Config::parse(&yaml(cluster, &db, &bouncer), "<test>").unwrap();
    let daemon = start(config).await;
    let up = |m: &Metrics| m.get("pgvitals_pgbouncer_up", &[("target", "bouncer")]);
    wait_for(&daemon, WAIT, "pgbouncer up", |m| up(m) == Some(1.0)).await;

    bouncer.kill();
    let m = wait_for(&daemon, WAIT, "pgbouncer down", |m| up(m) == Some(0.0)).await;
    assert_eq!(m.get("pgvitals_up", &[("target", "main")]), Some(1.0));
    assert!(
        m.all(
            "pgvitals_pgbouncer_clients_waiting",
            &[("target", "bouncer")]
        )
        .is_empty(),
        "a PgBouncer that is down has no pool figures"
    );
    let polls_down = m
        .get("pgvitals_collector_polls_total", &[("target", "bouncer")])
        .unwrap();
    // Polls go on while it is down, and fail.
    let m = wait_for(&daemon, WAIT, "more failed polls", |m| {
        m.get("pgvitals_collector_polls_total", &[("target", "bouncer")]) > Some(polls_down + 1.0)
    })
    .await;
    assert_eq!(up(&m), Some(0.0));
    assert_eq!(
        m.get(
            "pgvitals_collector_success",
            &[("target", "bouncer"), ("collector", "pgbouncer")]
        ),
        Some(0.0)
    );

    bouncer.start_again().await;
    let m = wait_for(&daemon, WAIT, "pgbouncer back", |m| up(m) == Some(1.0)).await;
    // The console's own database and appdb.
    assert_eq!(
        m.get(
            "pgvitals_pgbouncer_list_items",
            &[("target", "bouncer"), ("list", "databases")]
        ),
        Some(2.0)
    );
    assert_eq!(m.get("pgvitals_up", &[("target", "main")]), Some(1.0));
    daemon.shutdown().await;
}
