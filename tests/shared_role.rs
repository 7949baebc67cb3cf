//! The DSN's role is the application's role (`postgres`, as many small teams run it): the
//! application's statements count in every figure and alert, pgvitals' own are left out, and
//! the log says once that a dedicated role is safer.

mod common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use pgvitals::config::Config;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);
/// The application's report, slower than the 100 ms target on every run.
const REPORT: &str = "SELECT count(*) AS analyses, pg_sleep(0.12) FROM sprint_analyses";

/// The entries pg_stat_statements holds for pgvitals' own SQL (marked texts), as the labels
/// pgvitals would give them. A statement pgvitals explains has
/// an entry of its own nested under the EXPLAIN (toplevel false) with the application's queryid.
async fn pgvitals_entries(admin: &tokio_postgres::Client) -> HashSet<Entry> {
    // PostgreSQL 13's pg_stat_statements has no toplevel: every entry is top level.
    let toplevel = if server_version(admin).await >= 140000 {
        "s.toplevel::text"
    } else {
        "'true'"
    };
    admin
        .query(
            &format!(
                "SELECT s.queryid::text, {toplevel}, d.datname::text, r.rolname::text, s.query
                 FROM pg_stat_statements s
                 JOIN pg_database d ON d.oid = s.dbid
                 JOIN pg_roles r ON r.oid = s.userid"
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .filter(|r| pgvitals::queries::is_marked(r.get(4)))
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// An entry as its labels name it: queryid, toplevel, database, user.
type Entry = (String, String, String, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_applications_statements_count_when_it_shares_the_monitoring_role() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "sprints").await;
    let app = connect(&cluster.dsn("postgres", &db)).await;
    app.batch_execute(
        "CREATE TABLE sprint_analyses (id bigserial PRIMARY KEY, created_by int NOT NULL);
         INSERT INTO sprint_analyses (created_by) SELECT g % 50 FROM generate_series(1, 20000) g;",
    )
    .await
    .unwrap();
    let yaml = format!(
        "listen: 127.0.0.1:0\ntargets:\n  - name: main\n    dsn: \"{}\"\ncollectors:\n  statements: {{interval: 1s}}\nalerts:\n  evaluation_interval: 1s\n  builtin:\n    SlowQuery: {{for: 10m}}\n",
        cluster.dsn("postgres", "postgres")
    );
    let daemon = start(Config::parse(&yaml, "<test>").unwrap()).await;
    wait_ready(&daemon).await;

    let stop = Arc::new(AtomicBool::new(false));
    let workload = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                app.batch_execute(REPORT).await.unwrap();
            }
        })
    };

    // The report is in /statements, as the `postgres` role, with its mean over 100 ms.
    let report_of = |doc: &Value| -> Option<Value> {
        doc["targets"][0]["interval"]["statements"]
            .as_array()?
            .iter()
            .find(|s| s["query"].as_str().is_some_and(|q| q.contains("pg_sleep")))
            .cloned()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut changes = daemon.snapshot().subscribe();
    let report = loop {
        changes.borrow_and_update();
        let doc = get_json(daemon.addr(), "/statements?window=last").await;
        if let Some(s) = report_of(&doc) {
            break s;
        }
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .unwrap_or_else(|_| panic!("the report never reached /statements; last:\n{doc:#}"))
            .unwrap();
    };
    assert_eq!(report["user"], "postgres", "{report:#}");
    assert_eq!(report["database"], db.as_str(), "{report:#}");
    let mean = report["mean_ms"].as_f64().unwrap();
    assert!(mean >= 120.0, "mean {mean} ms of a 120 ms sleep");
    let queryid = report["queryid"].as_str().unwrap().to_string();

    // The same statement in the exposition, and the latency target counts it.
    let m = wait_for(&daemon, WAIT, "the report's interval mean", |m| {
        m.get(
            "pgvitals_statement_interval_mean_seconds",
            &[("queryid", &queryid)],
        )
        .is_some()
            && m.get("pgvitals_statements_under_threshold_ratio", &[])
                .is_some_and(|r| r < 1.0)
    })
    .await;
    let exported = m
        .get(
            "pgvitals_statement_interval_mean_seconds",
            &[("queryid", &queryid)],
        )
        .unwrap();
    assert!(exported >= 0.12, "exported mean {exported} s");

    // SlowQuery goes pending for it.
    wait_for_alerts(
        &daemon,
        WAIT,
        "SlowQuery pending for the report",
        |alerts| {
            alerts_named(alerts, "SlowQuery")
                .iter()
                .any(|a| a["labels"]["queryid"] == queryid.as_str() && a["state"] == "pending")
        },
    )
    .await;

    // pgvitals' own entries (same role, marked text) are in neither /statements nor the
    // exposition, while pg_stat_statements does hold them.
    let admin = connect(&cluster.dsn("postgres", "postgres")).await;
    let own = pgvitals_entries(&admin).await;
    assert!(
        own.len() >= 3,
        "pg_stat_statements holds pgvitals' marked statements: {own:?}"
    );
    let m = scrape(daemon.addr()).await;
    let label = |l: &std::collections::BTreeMap<String, String>, k: &str| {
        l.get(k).cloned().unwrap_or_default()
    };
    let exported: HashSet<Entry> = m
        .all("pgvitals_statement_interval_calls", &[])
        .iter()
        .filter(|(labels, _)| labels.get("queryid").is_some_and(|q| q != "other"))
        .map(|(l, _)| {
            (
                label(l, "queryid"),
                label(l, "toplevel"),
                label(l, "database"),
                label(l, "user"),
            )
        })
        .collect();
    assert!(
        exported.iter().any(|(q, _, _, _)| *q == queryid),
        "{exported:?}"
    );
    for entry in &own {
        assert!(
            !exported.contains(entry),
            "pgvitals' own statement {entry:?} is exported"
        );
    }
    let doc = get_json(daemon.addr(), "/statements?window=last").await;
    for s in doc["targets"][0]["interval"]["statements"]
        .as_array()
        .unwrap()
    {
        let entry = (
            s["queryid"].as_str().unwrap().to_string(),
            s["toplevel"].to_string(),
            s["database"].as_str().unwrap().to_string(),
            s["user"].as_str().unwrap().to_string(),
        );
        assert!(
            !own.contains(&entry),
            "pgvitals' own statement in /statements: {s:#}"
        );
        let text = s["query"].as_str().unwrap_or("");
        assert!(!text.contains("pgvitals"), "{s:#}");
    }

    stop.store(true, Ordering::Relaxed);
    workload.await.unwrap();
}

#[tokio::test]
async fn a_superuser_dsn_is_warned_about_once() {
    let cluster = shared_cluster();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let addr = free_local_addr();
    std::fs::write(
        &path,
        format!(
            "listen: {addr}\ntargets:\n  - name: main\n    dsn: \"{}\"\n  - name: monitor\n    dsn: \"{}\"\ncollectors:\n  connection: {{interval: 1s}}\n",
            cluster.dsn("postgres", "postgres"),
            cluster.dsn(MONITOR_ROLE, "postgres"),
        ),
    )
    .unwrap();
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_pgvitals"))
            .args(["run", "--config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut log = LogLines::read(child.0.stderr.take().unwrap());
    let warning = log.wait_for("probably the application's role");
    assert!(warning.contains("main"), "{warning}");
    assert!(warning.contains("is a superuser"), "{warning}");
    assert!(warning.contains("GRANT pg_monitor"), "{warning}");
    // Probes run every second: after three more of each target, still one warning.
    let probes = |m: &Metrics, target: &str| {
        m.get(
            "pgvitals_connection_acquisition_seconds_count",
            &[("target", target), ("method", "connect")],
        )
        .unwrap_or(0.0)
    };
    poll_until(
        WAIT,
        Duration::from_millis(200),
        "three probes of each target",
        || async {
            let (_, body) = get(addr, "/metrics").await;
            let m = Metrics::parse(&body);
            if probes(&m, "main") >= 4.0 && probes(&m, "monitor") >= 4.0 {
                Ok(())
            } else {
                Err(body)
            }
        },
    )
    .await;
    let _ = child.0.kill();
    let all = log.until_closed();
    let warnings: Vec<&str> = all
        .lines()
        .filter(|l| l.contains("probably the application's role"))
        .collect();
    assert_eq!(warnings.len(), 1, "{all}");
}
