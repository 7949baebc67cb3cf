//! A fleet as teams run it: one target per application database.
//!
//! - Cluster-wide views list every database of the server; with a target per database each
//!   database's rows come from the target that polls it, once, not once per target.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use pgvitals::config::Config;

fn databases_of(m: &common::Metrics, name: &str, target: &str) -> BTreeSet<String> {
    m.all(name, &[("target", target)])
        .iter()
        .map(|(l, _)| l["database"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_database_of_a_cluster_wide_view_is_reported_once() {
    let cluster = common::shared_cluster();
    let a = common::fresh_database(cluster, "fleet_a").await;
    let b = common::fresh_database(cluster, "fleet_b").await;
    let yaml = format!(
        "listen: 127.0.0.1:0\ntargets:\n  - {{name: ta, dsn: \"{}\"}}\n  - {{name: tb, dsn: \"{}\"}}\n",
        cluster.dsn(common::MONITOR_ROLE, &a),
        cluster.dsn(common::MONITOR_ROLE, &b)
    );
    let daemon = common::start(Config::parse(&yaml, "<test>").unwrap()).await;
    let m = common::wait_for(
        &daemon,
        Duration::from_secs(60),
        "both targets' connections and ages",
        |m| {
            ["ta", "tb"].iter().all(|t| {
                !databases_of(m, "pgvitals_connections", t).is_empty()
                    && !databases_of(m, "pgvitals_database_transaction_id_age", t).is_empty()
                    && !databases_of(m, "pgvitals_database_commits_total", t).is_empty()
            })
        },
    )
    .await;
    for (name, others) in [
        ("pgvitals_connections", vec!["postgres"]),
        (
            "pgvitals_database_transaction_id_age",
            vec!["postgres", "template0", "template1"],
        ),
        ("pgvitals_database_commits_total", vec!["postgres"]),
    ] {
        for (target, own, other) in [("ta", &a, &b), ("tb", &b, &a)] {
            let dbs = databases_of(&m, name, target);
            assert!(
                dbs.contains(own),
                "{name}: {target} reports its own {own}: {dbs:?}"
            );
            assert!(
                !dbs.contains(other),
                "{name}: {other} is tb's to report, not {target}'s: {dbs:?}"
            );
            for o in &others {
                assert!(
                    dbs.contains(*o),
                    "{name}: nobody polls {o}: every target keeps it: {dbs:?}"
                );
            }
        }
        // Across targets: each application database exactly once.
        for db in [&a, &b] {
            let targets: BTreeSet<&String> = m
                .all(name, &[("database", db)])
                .iter()
                .map(|(l, _)| &l["target"])
                .collect();
            assert_eq!(targets.len(), 1, "{name}{{database={db}}} from {targets:?}");
        }
    }
    daemon.shutdown().await;
}
