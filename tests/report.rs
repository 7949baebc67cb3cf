//! `pgvitals report` as a CI gate, run as a user runs it (the binary, stdout piped): exit 0 on
//! an idle database; exit 1 while a slow statement runs, naming the statement and the missed
//! target (and, with `--fail-on warning`, the `SlowQuery` alert); JSON that validates against
//! `tests/schemas/report.schema.json`; a `--dsn` whose password the server refuses: exit 2,
//! one line, the password nowhere.

mod common;

use std::process::Output;

use common::*;
use serde_json::Value;

fn report(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_pgvitals"))
        .arg("report")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("running pgvitals report")
}

fn validate(doc: &Value) {
    let schema: Value =
        serde_json::from_str(include_str!("schemas/report.schema.json")).expect("schema JSON");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report JSON against the schema: {errors:#?}\n{doc:#}"
    );
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "report JSON: {e}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_passes_idle_fails_under_a_slow_statement_and_refuses_a_wrong_password() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "report").await;
    let app = connect(&cluster.dsn("postgres", &db)).await;
    app.batch_execute(
        "CREATE EXTENSION pg_stat_statements;
         CREATE TABLE report_jobs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL,
                                   created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO report_jobs (name) SELECT 'job ' || g FROM generate_series(1, 1000) g;
         ANALYZE;",
    )
    .await
    .unwrap();
    let dsn = cluster.dsn(MONITOR_ROLE, &db);

    // Idle: every target met (or not measured), nothing critical: exit 0.
    let idle = report(&["--dsn", &dsn, "--interval", "2s", "--format", "json"]);
    let doc = json_of(&idle);
    validate(&doc);
    assert_eq!(
        idle.status.code(),
        Some(0),
        "idle report failed: {doc:#}\nstderr: {}",
        String::from_utf8_lossy(&idle.stderr)
    );
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["problems"], serde_json::json!([]));
    let target = &doc["targets"][0];
    assert_eq!(target["target"], db.as_str());
    assert_eq!(target["up"], true);
    assert_eq!(target["goals"].as_array().unwrap().len(), 4);
    let connection = &target["goals"][2];
    assert_eq!(connection["name"], "connection_efficiency");
    assert_eq!(connection["met"], true, "{connection}");
    assert!(connection["value"].as_f64().unwrap() < 0.05, "{connection}");

    // A statement of 120 ms, over and over: query performance missed, the statement named.
    let workload = tokio::spawn({
        let dsn = cluster.dsn("postgres", &db);
        async move {
            let c = connect(&dsn).await;
            loop {
                c.query(
                    "SELECT name, pg_sleep(0.12) FROM report_jobs WHERE id = $1",
                    &[&42_i64],
                )
                .await
                .expect("the slow statement");
            }
        }
    });
    let slow = report(&["--dsn", &dsn, "--interval", "2s"]);
    let text = String::from_utf8(slow.stdout.clone()).unwrap();
    assert_eq!(
        slow.status.code(),
        Some(1),
        "{text}\n{}",
        String::from_utf8_lossy(&slow.stderr)
    );
    assert!(
        text.starts_with("FAIL pgvitals report, 1 targets"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "✗ query performance missed on {db}: 0% under 100ms"
        )),
        "{text}"
    );
    assert!(
        text.contains("pg_sleep"),
        "the slow statement is not named:\n{text}"
    );
    assert!(text.contains("SlowQuery (warning, pending)"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in piped output:\n{text}"
    );

    let strict = report(&[
        "--dsn",
        &dsn,
        "--interval",
        "2s",
        "--format",
        "json",
        "--fail-on",
        "warning",
    ]);
    let doc = json_of(&strict);
    validate(&doc);
    assert_eq!(strict.status.code(), Some(1));
    let problems: Vec<&str> = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("warning alert SlowQuery: Slow query")),
        "{problems:#?}"
    );
    let statement = doc["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["query"].as_str().is_some_and(|q| q.contains("pg_sleep")))
        .unwrap_or_else(|| panic!("no slow statement in {doc:#}"));
    assert!(
        statement["mean_ms"].as_f64().unwrap() >= 120.0,
        "{statement}"
    );
    let query = &doc["targets"][0]["goals"][0];
    assert_eq!(query["name"], "query_performance");
    assert_eq!(query["met"], false);
    assert_eq!(query["value"].as_f64(), Some(0.0));
    workload.abort();

    // A password the server refuses: bad input, exit 2, one line, the password nowhere.
    let admin = connect(&cluster.dsn("postgres", "postgres")).await;
    admin
        .batch_execute(
            "SET password_encryption = 'scram-sha-256';
             CREATE ROLE report_pw LOGIN PASSWORD 'right-pw-7'; GRANT pg_monitor TO report_pw;",
        )
        .await
        .unwrap();
    let hba: String = admin.query_one("SHOW hba_file", &[]).await.unwrap().get(0);
    let old = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("host all report_pw 127.0.0.1/32 scram-sha-256\n{old}"),
    )
    .unwrap();
    admin
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();
    let refused_dsn = format!(
        "postgresql://report_pw:WRONG-pw-123@127.0.0.1:{}/{db}?sslmode=disable",
        cluster.port()
    );
    let refused = report(&["--dsn", &refused_dsn, "--interval", "2s"]);
    let stderr = String::from_utf8(refused.stderr).unwrap();
    std::fs::write(&hba, old).unwrap();
    admin
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "more than one line:\n{stderr}");
    assert!(
        stderr.contains("password authentication failed for user \"report_pw\""),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("127.0.0.1:{}/{db}", cluster.port())),
        "{stderr}"
    );
    assert!(
        !stderr.contains("WRONG-pw-123"),
        "the password is shown: {stderr}"
    );
    assert!(refused.stdout.is_empty());
}
