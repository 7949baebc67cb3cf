//! The version gate: a server older than PostgreSQL 13 is reported and left alone, and the
//! other targets carry on. CI runs this with `PGVITALS_PG_BIN` pointing at PostgreSQL 12 as well
//! as at every supported major; the assertions follow the version the server reports.

mod common;

use std::time::Duration;

use common::*;
use pgvitals::config::Config;
use pgvitals::pgcluster::{find_system_bin, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_older_than_13_are_reported_and_do_not_stop_other_targets() {
    let (under_test, system) = tokio::task::spawn_blocking(|| {
        let a = Cluster::start(&[]).expect("starting the PostgreSQL under test");
        prepare(&a);
        let b = Cluster::start_with(find_system_bin().unwrap(), &[])
            .expect("starting the system PostgreSQL");
        prepare(&b);
        (a, b)
    })
    .await
    .unwrap();
    let version = server_version(&connect(&under_test.dsn("postgres", "postgres")).await).await;
    let yaml = format!(
        "listen: 127.0.0.1:0\ntargets:\n  - name: tested\n    dsn: \"{}\"\n  - name: other\n    dsn: \"{}\"\n",
        under_test.dsn(MONITOR_ROLE, "postgres"),
        system.dsn(MONITOR_ROLE, "postgres")
    );
    let daemon = start(Config::parse(&yaml, "<test>").unwrap()).await;
    wait_ready(&daemon).await;
    let m = wait_for(
        &daemon,
        Duration::from_secs(30),
        "both targets probed",
        |m| {
            m.get("pgvitals_server_supported", &[("target", "tested")])
                .is_some()
                && m.get("pgvitals_server_supported", &[("target", "other")])
                    .is_some()
        },
    )
    .await;
    let supported = version >= 130000;
    eprintln!("server under test: {version}, supported: {supported}");
    assert_eq!(m.get("pgvitals_up", &[("target", "tested")]), Some(1.0));
    assert_eq!(
        m.get("pgvitals_server_supported", &[("target", "tested")]),
        Some(if supported { 1.0 } else { 0.0 })
    );
    let tested_collectors = m.all("pgvitals_collector_success", &[("target", "tested")]);
    if supported {
        assert!(!tested_collectors.is_empty());
    } else {
        assert!(
            tested_collectors.is_empty(),
            "an unsupported server is not polled: {tested_collectors:?}"
        );
    }
    for collector in ["connection", "table_sizes", "indexes"] {
        assert_eq!(
            m.get(
                "pgvitals_collector_success",
                &[("target", "other"), ("collector", collector)]
            ),
            Some(1.0),
            "{collector}"
        );
    }
    daemon.shutdown().await;
    tokio::task::spawn_blocking(move || drop((under_test, system)))
        .await
        .unwrap();
}
