//! A fleet as teams run it: one target per application database, several daemons splitting a
//! target file with `shard`, one real Prometheus scraping them all.
//!
//! - Cluster-wide views list every database of the server; with a target per database each
//!   database's rows come from the target that polls it, once, not once per target.
//! - Three daemons with `shard` over one target file of 30 databases on three clusters, scraped
//!   by Prometheus: every target's `pgvitals_up` is there exactly once, on the daemon its name
//!   hashes to; entries added to the file come up without a reload and move no other target;
//!   a deleted entry's series go; a broken file is refused and its last good list stays.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::prometheus::Prometheus;
use pgvitals::config::{Config, Shard};
use pgvitals::pgcluster::Cluster;

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

/// Writes a target file the way generators do: a whole new file renamed over the old.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn target_file(entries: &[(String, String)]) -> String {
    entries
        .iter()
        .map(|(name, dsn)| format!("- name: {name}\n  dsn: \"{dsn}\"\n"))
        .collect()
}

/// The targets up, as Prometheus has `pgvitals_up`: target → the instance (daemon) it came
/// from. Panics when a target's `pgvitals_up` comes from two daemons.
async fn up_by_target(prom: &Prometheus) -> BTreeMap<String, String> {
    let series = prom.query("pgvitals_up").await.unwrap();
    let mut seen = BTreeMap::new();
    let mut up = BTreeMap::new();
    for s in &series {
        let target = s["metric"]["target"].as_str().unwrap().to_string();
        let instance = s["metric"]["instance"].as_str().unwrap().to_string();
        if let Some(other) = seen.insert(target.clone(), instance.clone()) {
            panic!("{target} has pgvitals_up on two daemons: {other} and {instance}");
        }
        if s["value"][1] == "1" {
            up.insert(target, instance);
        }
    }
    up
}

async fn wait_up(
    prom: &Prometheus,
    what: &str,
    want: impl Fn(&BTreeMap<String, String>) -> bool,
) -> BTreeMap<String, String> {
    common::poll_until(
        Duration::from_secs(90),
        Duration::from_millis(250),
        what,
        || async {
            let up = up_by_target(prom).await;
            if want(&up) {
                Ok(up)
            } else {
                Err(format!(
                    "{} up: {:?}",
                    up.len(),
                    up.keys().collect::<Vec<_>>()
                ))
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_over_a_target_file_behind_one_prometheus() {
    let shared = common::shared_cluster();
    let more: Vec<Cluster> = (0..2)
        .map(|_| {
            let c = Cluster::start(&[]).expect("starting a test cluster");
            common::prepare(&c);
            c
        })
        .collect();
    let clusters: Vec<&Cluster> = std::iter::once(shared).chain(more.iter()).collect();
    let mut entries = Vec::new();
    for (c, cluster) in clusters.iter().enumerate() {
        for i in 0..11 {
            let db = common::fresh_database(cluster, &format!("shard_c{c}")).await;
            entries.push((
                format!("c{c}-db{i}"),
                cluster.dsn(common::MONITOR_ROLE, &db),
            ));
        }
    }
    // 30 now; 3 more are added later.
    let (first, later) = {
        let mut later: Vec<(String, String)> = Vec::new();
        let mut first = Vec::new();
        for (k, e) in entries.into_iter().enumerate() {
            if k % 11 == 10 {
                later.push(e);
            } else {
                first.push(e);
            }
        }
        (first, later)
    };
    assert_eq!((first.len(), later.len()), (30, 3));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.yaml");
    write_atomically(&file, &target_file(&first));

    let mut daemons = Vec::new();
    for index in 0..3 {
        let yaml = format!(
            "listen: 127.0.0.1:0\ntarget_files: [\"{}/*.yaml\"]\ntarget_files_refresh: 1s\nshard: {{index: {index}, count: 3}}\n",
            dir.path().display()
        );
        daemons.push(common::start(Config::parse(&yaml, "<test>").unwrap()).await);
    }
    let addrs: Vec<SocketAddr> = daemons.iter().map(|d| d.addr()).collect();
    let instance_of = |name: &str| addrs[Shard::of(name, 3) as usize].to_string();
    let prom = Prometheus::start(&addrs).await;

    let up = wait_up(&prom, "the 30 targets up", |up| up.len() == 30).await;
    for (target, instance) in &up {
        assert_eq!(
            instance,
            &instance_of(target),
            "{target} is polled by its shard's daemon"
        );
    }
    let counted = prom
        .wait_for(
            Duration::from_secs(30),
            "sum(pgvitals_targets{source=~\".*fleet.yaml\"})",
        )
        .await;
    assert_eq!(counted[0]["value"][1], "30", "{counted:?}");
    let reloads_before = prom
        .query("pgvitals_config_last_reload_success_timestamp_seconds")
        .await
        .unwrap();
    assert_eq!(reloads_before.len(), 3);

    // Three entries more: they come up where their names hash; nothing else moves.
    let mut grown = first.clone();
    grown.extend(later.iter().cloned());
    write_atomically(&file, &target_file(&grown));
    let after = wait_up(&prom, "the 3 added targets up", |up| up.len() == 33).await;
    for (target, instance) in &up {
        assert_eq!(
            after.get(target),
            Some(instance),
            "{target} stayed on its daemon"
        );
    }
    for (name, _) in &later {
        assert_eq!(after[name], instance_of(name));
    }
    let reloads_after = prom
        .query("pgvitals_config_last_reload_success_timestamp_seconds")
        .await
        .unwrap();
    let times = |v: &[serde_json::Value]| {
        v.iter()
            .map(|s| {
                (
                    s["metric"]["instance"].to_string(),
                    s["value"][1].to_string(),
                )
            })
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        times(&reloads_after),
        times(&reloads_before),
        "no reload happened"
    );

    // One entry deleted: its series go.
    let gone = grown.remove(0).0;
    write_atomically(&file, &target_file(&grown));
    common::poll_until(
        Duration::from_secs(60),
        Duration::from_millis(250),
        "the deleted target's series to go",
        || async {
            let left = prom.query(&format!("{{target=\"{gone}\"}}")).await.unwrap();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{} series left", left.len()))
            }
        },
    )
    .await;
    assert_eq!(up_by_target(&prom).await.len(), 32);

    // A broken file: refused on every daemon, which keeps its last good list.
    write_atomically(
        &file,
        &format!("{}- name: broken\n  dns: oops\n", target_file(&grown)),
    );
    let refused = prom
        .wait_for(
            Duration::from_secs(30),
            "count(pgvitals_target_file_read_successful == 0) == 3",
        )
        .await;
    assert_eq!(refused.len(), 1);
    for d in &daemons {
        let m = common::scrape(d.addr()).await;
        let file_label = file.display().to_string();
        assert_eq!(
            m.get(
                "pgvitals_target_file_read_successful",
                &[("file", &file_label)]
            ),
            Some(0.0)
        );
        assert!(m.get("pgvitals_up", &[("target", "broken")]).is_none());
    }
    let kept = up_by_target(&prom).await;
    assert_eq!(kept.len(), 32, "the last good list stays: {kept:?}");
    let counted = prom
        .query("sum(pgvitals_targets{source=~\".*fleet.yaml\"})")
        .await
        .unwrap();
    assert_eq!(counted[0]["value"][1], "32", "{counted:?}");

    for d in daemons {
        d.shutdown().await;
    }
}

/// README's fleet example (`contrib/fleet`): the three shard files load, share one target file
/// and split it; Prometheus accepts its scrape configuration.
#[test]
fn the_contrib_fleet_example_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/fleet");
    let mut owners = BTreeMap::new();
    for index in 0..3u32 {
        let c = Config::load(&dir.join(format!("shard-{index}.yaml"))).unwrap();
        assert_eq!(c.shard, Some(Shard { index, count: 3 }));
        assert_eq!(c.listen.port(), 9816 + index as u16);
        assert_eq!(
            c.target_files,
            [dir.join("targets/*.yaml").display().to_string()]
        );
        let files = pgvitals::config::expand_pattern(&c.target_files[0]).unwrap();
        assert_eq!(files, [dir.join("targets/fleet.yaml")]);
        let text = std::fs::read_to_string(&files[0]).unwrap();
        let list = pgvitals::config::parse_target_file(&text, "fleet.yaml").unwrap();
        assert_eq!(list.entries.len(), 3);
        for t in &list.entries {
            if c.shard.unwrap().owns(&t.name) {
                assert!(owners.insert(t.name.clone(), index).is_none());
            }
        }
    }
    assert_eq!(
        owners.len(),
        3,
        "every entry has exactly one daemon: {owners:?}"
    );
    let out = std::process::Command::new("promtool")
        .args(["check", "config"])
        .arg(dir.join("prometheus.yml"))
        .output()
        .expect("promtool is needed for this test (Debian package `prometheus`)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
