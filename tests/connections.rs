//! Who holds the connections: sessions opened by the test under three application names show
//! up in `pgvitals_connection_holders` with their exact counts, and a session left idle in a
//! transaction is listed in `/connections` (JSON and text) with its pid and its age.

mod common;

use std::time::{Duration, Instant};

use common::*;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holders_are_counted_by_application_and_idle_transactions_listed_with_their_age() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "holders").await;
    let session = |app: &str| {
        let dsn = format!("{}&application_name={app}", cluster.dsn("postgres", &db));
        async move { connect(&dsn).await }
    };
    let mut sessions = Vec::new();
    for (app, n) in [("billing", 3), ("reports", 1), ("worker", 2)] {
        for _ in 0..n {
            sessions.push(session(app).await);
        }
    }
    let idle = session("reports").await;
    idle.batch_execute("BEGIN; SELECT 42 AS answer")
        .await
        .unwrap();
    let idle_since = Instant::now();
    let pid: i32 = idle
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);

    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  connection: {interval: 1s}\n",
    ))
    .await;
    let holders = |m: &Metrics, app: &str, state: &str| {
        m.get(
            "pgvitals_connection_holders",
            &[
                ("target", "main"),
                ("application", app),
                ("user", "postgres"),
                ("client", "127.0.0.1"),
                ("state", state),
            ],
        )
    };
    let m = wait_for(&daemon, WAIT, "the test's sessions counted", |m| {
        holders(m, "billing", "idle") == Some(3.0)
            && holders(m, "worker", "idle") == Some(2.0)
            && holders(m, "reports", "idle_in_transaction") == Some(1.0)
    })
    .await;
    assert_eq!(holders(&m, "reports", "idle"), Some(1.0));
    assert_eq!(holders(&m, "billing", "active"), None);
    // pgvitals' own sessions are holders like any other.
    assert!(
        m.all(
            "pgvitals_connection_holders",
            &[("application", "pgvitals"), ("user", MONITOR_ROLE)]
        )
        .iter()
        .map(|(_, v)| v)
        .sum::<f64>()
            >= 1.0
    );

    let doc = get_json(daemon.addr(), "/connections").await;
    let server = &doc["servers"][0];
    assert_eq!(server["target"], "main", "{doc:#}");
    let listed = server["idle_in_transaction"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not listed: {doc:#}"));
    assert_eq!(listed["application"], "reports");
    assert_eq!(listed["user"], "postgres");
    assert_eq!(listed["database"], db.as_str());
    assert_eq!(listed["query"], "SELECT pg_backend_pid()");
    let age = listed["idle_seconds"].as_f64().unwrap();
    assert!(
        age > 0.0 && age <= idle_since.elapsed().as_secs_f64(),
        "idle for {age} s, at most {:?}",
        idle_since.elapsed()
    );
    assert!(listed["transaction_seconds"].as_f64().unwrap() >= age);
    let billing = server["holders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["application"] == "billing" && h["state"] == "idle")
        .unwrap();
    assert_eq!(billing["sessions"], 3);

    let (status, text) = get(daemon.addr(), "/connections?format=text").await;
    assert_eq!(status, 200);
    assert!(text.contains("target main: "), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("pid {pid}  idle "))
                && l.contains("reports as postgres from 127.0.0.1")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l
            .trim_start()
            .starts_with("3  billing  postgres  127.0.0.1  idle")),
        "{text}"
    );
    daemon.shutdown().await;
    drop(sessions);
}
