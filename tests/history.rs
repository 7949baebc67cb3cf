//! Statement history: a statement is still on `/statements` after its workload stopped (the
//! latest interval no longer has it; the 15-minute, 1-hour and 24-hour windows do, with its
//! exact call count), ordering and the text form, a bad window refused, and one statement's page
//! for the target named (`?target=`) and for no other. The unit tests
//! of `src/history.rs` cover what minutes later and a day later look like.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn find<'a>(doc: &'a Value, needle: &str) -> Option<&'a Value> {
    doc["targets"][0]["statements"]
        .as_array()?
        .iter()
        .find(|s| s["query"].as_str().is_some_and(|q| q.contains(needle)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_stays_on_the_page_after_its_workload_stopped() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "history").await;
    let app = connect(&cluster.dsn("postgres", &db)).await;
    app.batch_execute("CREATE EXTENSION pg_stat_statements")
        .await
        .unwrap();
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  statements: {interval: 1s}\n",
    ))
    .await;
    wait_ready(&daemon).await;
    for _ in 0..12 {
        app.batch_execute("SELECT pg_sleep(0.02) AS nightly_report")
            .await
            .unwrap();
        app.batch_execute("SELECT 1 AS quick_one").await.unwrap();
    }
    // The workload stopped: wait for an interval that has neither statement.
    let mut changes = daemon.snapshot().subscribe();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        changes.borrow_and_update();
        let last = get_json(daemon.addr(), "/statements?window=last").await;
        let interval = &last["targets"][0]["interval"]["statements"];
        let listed = interval.as_array().is_some_and(|a| {
            a.iter().any(|s| {
                s["query"]
                    .as_str()
                    .is_some_and(|q| q.contains("nightly_report") || q.contains("quick_one"))
            })
        });
        let window = get_json(daemon.addr(), "/statements").await;
        if !listed && interval.is_array() && find(&window, "nightly_report").is_some() {
            break;
        }
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .expect("an interval without the workload")
            .unwrap();
    }
    for w in ["", "?window=15m", "?window=1h", "?window=24h"] {
        let doc = get_json(daemon.addr(), &format!("/statements{w}")).await;
        let s = find(&doc, "nightly_report").unwrap_or_else(|| panic!("{w}: {doc:#}"));
        assert_eq!(s["calls"], 12.0, "{w}: {s:#}");
        let mean = s["mean_ms"].as_f64().unwrap();
        assert!(mean >= 20.0, "{w}: mean {mean} ms of a 20 ms sleep");
        assert_eq!(
            doc["window"],
            if w.is_empty() { "15m" } else { &w[8..] },
            "{doc:#}"
        );
    }
    // By total time the report leads; by calls the two tie (12 each), by mean the report leads.
    let doc = get_json(daemon.addr(), "/statements?order=mean").await;
    let first = &doc["targets"][0]["statements"][0];
    assert!(
        first["query"].as_str().unwrap().contains("nightly_report"),
        "{doc:#}"
    );
    let quick = find(&doc, "quick_one").unwrap();
    assert_eq!(quick["calls"], 12.0);
    let (status, text) = get(daemon.addr(), "/statements?window=1h&format=text").await;
    assert_eq!(status, 200);
    assert!(
        text.contains("last 1h") && text.contains("nightly_report"),
        "{text}"
    );
    let (status, body) = get(daemon.addr(), "/statements?window=soon").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("window `soon`"), "{body}");
    let (status, _) = get(daemon.addr(), "/statements/12345").await;
    assert_eq!(status, 404);
    // One statement's page, for the target named or for none other.
    let queryid = find(&doc, "nightly_report").unwrap()["queryid"]
        .as_str()
        .unwrap()
        .to_string();
    let one = get_json(daemon.addr(), &format!("/statements/{queryid}?target=main")).await;
    assert_eq!(one["target"], "main", "{one:#}");
    assert_eq!(one["queryid"], queryid.as_str(), "{one:#}");
    let (status, body) = get(
        daemon.addr(),
        &format!("/statements/{queryid}?target=other"),
    )
    .await;
    assert_eq!(status, 404, "{body}");
}
