//! Reloading the configuration while the daemon runs: `POST /-/reload` (with
//! `web.enable_lifecycle`) and `Daemon::reload_file` (what SIGHUP calls). A target added comes
//! up without touching the others (their polls and statement counters go on); a broken file is
//! refused with its location and the old configuration keeps running; a target removed takes its
//! series with it.

mod common;

use std::time::Duration;

use common::*;
use pgvitals::config::Config;
use pgvitals::daemon::Daemon;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_come_and_go_on_reload_without_touching_the_others() {
    let cluster = shared_cluster();
    let other = fresh_database(cluster, "second").await;
    let target = |name: &str, db: &str| {
        format!(
            "  - name: {name}\n    dsn: \"{}\"\n",
            cluster.dsn(MONITOR_ROLE, db)
        )
    };
    let yaml = |targets: &str| {
        format!(
            "listen: 127.0.0.1:0\nweb:\n  enable_lifecycle: true\ntargets:\n{targets}collectors:\n  connection: {{interval: 1s}}\n  statements: {{interval: 1s}}\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgvitals.yaml");
    std::fs::write(&file, yaml(&target("main", "postgres"))).unwrap();
    let daemon = Daemon::start_from_file(Config::load(&file).unwrap(), &file)
        .await
        .unwrap();
    wait_ready(&daemon).await;

    // A steady workload, so main's statement counters keep growing.
    let app = connect(&cluster.dsn("postgres", "postgres")).await;
    let workload = tokio::spawn(async move {
        loop {
            if app
                .batch_execute("SELECT 42 AS reload_marker")
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let polls = |m: &Metrics| {
        m.get(
            "pgvitals_collector_polls_total",
            &[("target", "main"), ("collector", "statements")],
        )
        .unwrap_or(0.0)
    };
    let calls = |m: &Metrics| -> f64 {
        m.all("pgvitals_statement_calls_total", &[("target", "main")])
            .iter()
            .map(|(_, v)| v)
            .sum()
    };
    let before = wait_for(&daemon, WAIT, "a few statements polls of main", |m| {
        polls(m) >= 3.0 && calls(m) > 0.0
    })
    .await;

    // Add a target through POST /-/reload.
    std::fs::write(
        &file,
        yaml(&format!(
            "{}{}",
            target("main", "postgres"),
            target("second", &other)
        )),
    )
    .unwrap();
    let (status, body) = request(daemon.addr(), "POST", "/-/reload").await;
    assert_eq!(status, 200, "{body}");
    let after = wait_for(&daemon, WAIT, "the new target up", |m| {
        m.get("pgvitals_up", &[("target", "second")]) == Some(1.0)
    })
    .await;
    assert!(
        polls(&after) >= polls(&before),
        "main's loops were not restarted: {} polls before, {} after",
        polls(&before),
        polls(&after)
    );
    assert!(
        calls(&after) >= calls(&before),
        "main's statement counters went on: {} before, {} after",
        calls(&before),
        calls(&after)
    );
    assert_eq!(
        after.get("pgvitals_config_last_reload_successful", &[]),
        Some(1.0)
    );

    // A broken file is refused with its location; both targets keep running.
    std::fs::write(&file, yaml("  - name: main\n    dns: oops\n")).unwrap();
    let (status, body) = request(daemon.addr(), "POST", "/-/reload").await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains(&format!("{}:6:5: key `targets[0].dns`", file.display())),
        "{body}"
    );
    let m = scrape(daemon.addr()).await;
    assert_eq!(
        m.get("pgvitals_config_last_reload_successful", &[]),
        Some(0.0)
    );
    let polls_then = polls(&m);
    wait_for(&daemon, WAIT, "both targets still polled", |m| {
        polls(m) > polls_then && m.get("pgvitals_up", &[("target", "second")]) == Some(1.0)
    })
    .await;

    // Remove the second target (what SIGHUP does): its series go, main stays.
    std::fs::write(&file, yaml(&target("main", "postgres"))).unwrap();
    let changes = daemon.reload_file().await.unwrap();
    assert_eq!(changes.removed, vec!["second".to_string()]);
    assert!(
        changes.added.is_empty() && changes.restarted.is_empty(),
        "{changes:?}"
    );
    let m = scrape(daemon.addr()).await;
    assert!(
        m.all("pgvitals_up", &[("target", "second")]).is_empty(),
        "{}",
        m.text
    );
    assert!(m
        .all("pgvitals_collector_success", &[("target", "second")])
        .is_empty());
    assert_eq!(m.get("pgvitals_up", &[("target", "main")]), Some(1.0));
    assert!(polls(&m) >= polls_then);

    // Changing a collector setting restarts every target.
    std::fs::write(
        &file,
        yaml(&target("main", "postgres"))
            .replace("statements: {interval: 1s}", "statements: {interval: 2s}"),
    )
    .unwrap();
    let changes = daemon.reload_file().await.unwrap();
    assert_eq!(changes.restarted, vec!["main".to_string()]);
    workload.abort();
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reload_endpoint_is_off_unless_enabled() {
    let cluster = shared_cluster();
    let daemon = start(config(cluster, "postgres", "")).await;
    let (status, body) = request(daemon.addr(), "POST", "/-/reload").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("web.enable_lifecycle"));
    daemon.shutdown().await;
}
