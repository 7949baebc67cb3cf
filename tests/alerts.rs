//! The alert engine against a real PostgreSQL and a real Alertmanager: a slow workload makes
//! `SlowQuery` pending, then firing, Alertmanager lists it, and both resolve it once the
//! workload stops; a reload that changes a threshold keeps `activeAt`; `/alerts` satisfies a
//! JSON schema of Prometheus' alerts response.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::alertmanager::Alertmanager;
use common::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn schema() -> jsonschema::Validator {
    let text = include_str!("schemas/prometheus-alerts.schema.json");
    let schema: Value = serde_json::from_str(text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles")
}

fn assert_valid(doc: &Value) {
    let errors: Vec<String> = schema()
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "/alerts against the schema: {errors:#?}\n{doc:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_query_goes_pending_then_firing_reaches_alertmanager_and_resolves() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "slow").await;
    let am = Alertmanager::start().await;
    // pg_stat_statements is read from the database it is installed in; it sees every database.
    let daemon = start(config(
        cluster,
        "postgres",
        &format!(
            "collectors:\n  statements: {{interval: 1s}}\nalerts:\n  evaluation_interval: 1s\n  hold_absent: 2s\n  builtin:\n    SlowQuery: {{for: 3s}}\nalertmanager:\n  urls: ['{}']\n  timeout: 2s\n",
            am.url()
        ),
    ))
    .await;
    wait_ready(&daemon).await;

    // A workload of 150 ms statements, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let app = connect(&cluster.dsn("postgres", &db)).await;
    let workload = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                app.batch_execute("SELECT pg_sleep(0.15)").await.unwrap();
            }
        })
    };
    let slow_here = |alerts: &[Value], state: &str| {
        alerts_named(alerts, "SlowQuery")
            .iter()
            .any(|a| a["state"] == state && a["labels"]["database"] == db.as_str())
    };
    let pending = wait_for_alerts(&daemon, WAIT, "SlowQuery pending", |a| {
        slow_here(a, "pending")
    })
    .await;
    assert_valid(&pending);
    let doc = wait_for_alerts(&daemon, WAIT, "SlowQuery firing", |a| {
        slow_here(a, "firing")
    })
    .await;
    assert_valid(&doc);
    let alerts = doc["data"]["alerts"].as_array().unwrap();
    let alert = alerts_named(alerts, "SlowQuery")
        .into_iter()
        .find(|a| a["labels"]["database"] == db.as_str())
        .unwrap()
        .clone();
    eprintln!("firing: {alert:#}");
    let queryid = alert["labels"]["queryid"].as_str().unwrap().to_string();
    assert_eq!(alert["labels"]["severity"], "warning");
    assert_eq!(alert["labels"]["target"], "main");
    assert!(
        alert["annotations"]["query"]
            .as_str()
            .unwrap()
            .contains("pg_sleep"),
        "the statement's text is in the alert"
    );
    assert!(alert["annotations"]["description"]
        .as_str()
        .unwrap()
        .contains("slow means over 100ms"));
    let value: f64 = alert["value"].as_str().unwrap().parse().unwrap();
    assert!(value > 0.1, "mean {value}");
    // The same alert in /metrics, like Prometheus' ALERTS series, and /rules shows the rule
    // firing with its threshold. Awaited, not read once: evaluations go on after the /alerts
    // read, over a per-interval series that an interval without executions leaves absent.
    wait_for(&daemon, WAIT, "SlowQuery firing in /metrics", |m| {
        m.get(
            "pgvitals_alerts",
            &[
                ("alertname", "SlowQuery"),
                ("alertstate", "firing"),
                ("queryid", &queryid),
            ],
        ) == Some(1.0)
    })
    .await;
    let slow_query_rule = |rules: &Value| {
        rules["data"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "SlowQuery")
            .unwrap()
            .clone()
    };
    let rules = wait_for_json(&daemon, "/rules", WAIT, "SlowQuery firing in /rules", |r| {
        slow_query_rule(r)["state"] == "firing"
    })
    .await;
    let rule = slow_query_rule(&rules);
    assert_eq!(rule["threshold"], 0.1);
    assert_eq!(rule["duration"], 3.0);
    assert_eq!(rule["health"], "ok");

    let in_am = |alerts: &[Value]| {
        alerts.iter().any(|a| {
            a["labels"]["alertname"] == "SlowQuery" && a["labels"]["queryid"] == queryid.as_str()
        })
    };
    let held = am.wait_for(WAIT, "SlowQuery", in_am).await;
    let a = held
        .iter()
        .find(|a| a["labels"]["queryid"] == queryid.as_str())
        .unwrap();
    assert_eq!(a["status"]["state"], "active");
    assert!(a["annotations"]["query"]
        .as_str()
        .unwrap()
        .contains("pg_sleep"));
    assert!(a["generatorURL"].as_str().unwrap().ends_with("/alerts"));

    // The workload stops: the statement has no more executions, its alert resolves in
    // pgvitals (after hold_absent) and then in Alertmanager.
    stop.store(true, Ordering::Relaxed);
    workload.await.unwrap();
    wait_for_alerts(&daemon, WAIT, "SlowQuery resolved", |a| {
        !alerts_named(a, "SlowQuery")
            .iter()
            .any(|a| a["labels"]["queryid"] == queryid.as_str())
    })
    .await;
    am.wait_for(WAIT, "SlowQuery resolved", |a| !in_am(a)).await;
    let m = scrape(daemon.addr()).await;
    assert!(
        m.get("pgvitals_alertmanager_notifications_total", &[])
            .unwrap()
            >= 2.0
    );
    assert_eq!(
        m.get(
            "pgvitals_alerts",
            &[("alertname", "SlowQuery"), ("queryid", &queryid)]
        ),
        None
    );
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_active_at_and_applies_the_new_threshold() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "reload").await;
    // Every connection takes longer than 1 µs: ConnectionAcquisitionSlow fires at once.
    let yaml = |threshold: &str| {
        format!(
            "listen: 127.0.0.1:0\ntargets:\n  - name: main\n    dsn: \"{}\"\ncollectors:\n  connection: {{interval: 1s}}\nthresholds:\n  connection_acquisition: {threshold}\nalerts:\n  evaluation_interval: 1s\n  builtin:\n    ConnectionAcquisitionSlow: {{for: 0s}}\n",
            cluster.dsn(MONITOR_ROLE, &db)
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgvitals.yaml");
    std::fs::write(&file, yaml("1us")).unwrap();
    let config = pgvitals::config::Config::load(&file).unwrap();
    let daemon = pgvitals::daemon::Daemon::start_from_file(config, &file)
        .await
        .unwrap();
    let firing = |a: &[Value]| {
        alerts_named(a, "ConnectionAcquisitionSlow")
            .iter()
            .any(|a| a["state"] == "firing")
    };
    let doc = wait_for_alerts(&daemon, WAIT, "ConnectionAcquisitionSlow firing", firing).await;
    assert_valid(&doc);
    let acquisition = |doc: &Value| {
        alerts_named(
            doc["data"]["alerts"].as_array().unwrap(),
            "ConnectionAcquisitionSlow",
        )[0]
        .clone()
    };
    let active_at = acquisition(&doc)["activeAt"].clone();
    let threshold = |rules: &Value| {
        rules["data"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "ConnectionAcquisitionSlow")
            .unwrap()["threshold"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(threshold(&get_json(daemon.addr(), "/rules").await), 1e-6);

    // A new threshold the alert still breaks: same alert, same activeAt, new threshold.
    std::fs::write(&file, yaml("2us")).unwrap();
    daemon.reload_file().await.unwrap();
    assert_eq!(threshold(&get_json(daemon.addr(), "/rules").await), 2e-6);
    let evaluations = |m: &Metrics| m.get("pgvitals_alert_evaluations_total", &[]).unwrap();
    let before = evaluations(&scrape(daemon.addr()).await);
    wait_for(&daemon, WAIT, "an evaluation after the reload", |m| {
        evaluations(m) > before
    })
    .await;
    let doc = get_json(daemon.addr(), "/alerts").await;
    let alerts = doc["data"]["alerts"].as_array().unwrap();
    assert!(firing(alerts), "{doc:#}");
    assert_eq!(
        acquisition(&doc)["activeAt"],
        active_at,
        "activeAt survives the reload"
    );

    // A broken file is refused with its location; nothing changes.
    std::fs::write(
        &file,
        yaml("2us").replace("evaluation_interval: 1s", "evaluation_intervall: 1s"),
    )
    .unwrap();
    let err = daemon.reload_file().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("{}:10:", file.display())) && err.contains("evaluation_intervall"),
        "{err}"
    );
    let m = scrape(daemon.addr()).await;
    assert_eq!(
        m.get("pgvitals_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert_eq!(threshold(&get_json(daemon.addr(), "/rules").await), 2e-6);
    let doc = get_json(daemon.addr(), "/alerts").await;
    assert_eq!(acquisition(&doc)["activeAt"], active_at);

    // A threshold nothing breaks: the alert resolves at the next evaluation.
    std::fs::write(&file, yaml("10s")).unwrap();
    daemon.reload_file().await.unwrap();
    wait_for_alerts(&daemon, WAIT, "ConnectionAcquisitionSlow resolved", |a| {
        alerts_named(a, "ConnectionAcquisitionSlow").is_empty()
    })
    .await;
    let m = scrape(daemon.addr()).await;
    assert_eq!(
        m.get("pgvitals_config_last_reload_successful", &[]),
        Some(1.0)
    );
    daemon.shutdown().await;
}

/// Alertmanager behind TLS (a CA the test makes) and basic auth (bcrypt, as exporter-toolkit
/// takes it): delivered with the right password; refused, retried and counted with a wrong one
/// after a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_over_tls_with_basic_auth() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "tls").await;
    let pki = common::tls::test_pki();
    let hash = bcrypt::hash("am-secret-7", 4).unwrap();
    let web = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  pgvitals: '{hash}'\n",
        pki.cert.display(),
        pki.key.display()
    );
    let am = Alertmanager::start_with_web_config(Some(&web)).await;
    let url = format!("https://127.0.0.1:{}", am.addr().port());
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = (dir.path().join("good"), dir.path().join("bad"));
    std::fs::write(&good, "am-secret-7\n").unwrap();
    std::fs::write(&bad, "not-the-password\n").unwrap();
    let yaml = |password_file: &std::path::Path| {
        format!(
            "listen: 127.0.0.1:0\ntargets:\n  - name: main\n    dsn: \"{}\"\ncollectors:\n  connection: {{interval: 1s}}\nalerts:\n  evaluation_interval: 1s\n  rules:\n    - alert: Reachable\n      expr: 'pgvitals_up == 1'\nalertmanager:\n  urls: ['{url}']\n  timeout: 2s\n  tls: {{ca_file: '{}'}}\n  basic_auth: {{username: pgvitals, password_file: '{}'}}\n",
            cluster.dsn(MONITOR_ROLE, &db),
            pki.ca.display(),
            password_file.display()
        )
    };
    let file = dir.path().join("pgvitals.yaml");
    std::fs::write(&file, yaml(&good)).unwrap();
    let daemon = pgvitals::daemon::Daemon::start_from_file(
        pgvitals::config::Config::load(&file).unwrap(),
        &file,
    )
    .await
    .unwrap();
    let sent = |m: &Metrics| {
        m.get(
            "pgvitals_alertmanager_notifications_total",
            &[("alertmanager", &url)],
        )
        .unwrap_or(0.0)
    };
    let failed = |m: &Metrics| {
        m.get(
            "pgvitals_alertmanager_notifications_failed_total",
            &[("alertmanager", &url)],
        )
        .unwrap_or(0.0)
    };
    let m = wait_for(&daemon, WAIT, "a delivery over TLS", |m| sent(m) >= 1.0).await;
    assert_eq!(failed(&m), 0.0, "{}", m.text);

    // The password file is re-read on reload: a wrong password is refused (401), retried and
    // counted, and nothing more is delivered.
    std::fs::write(&file, yaml(&bad)).unwrap();
    daemon.reload_file().await.unwrap();
    let m = wait_for(&daemon, WAIT, "a refused delivery", |m| failed(m) >= 1.0).await;
    let delivered = sent(&m);
    let refused = failed(&m);
    let m = wait_for(&daemon, WAIT, "more refused deliveries", |m| {
        failed(m) >= refused + 2.0
    })
    .await;
    assert_eq!(
        sent(&m),
        delivered,
        "nothing delivered with a wrong password"
    );
    daemon.shutdown().await;
}

#[test]
fn the_schema_refuses_what_prometheus_would_not_send() {
    let good = serde_json::json!({"status": "success", "data": {"alerts": [{
        "labels": {"alertname": "X", "target": "main"},
        "annotations": {},
        "state": "firing",
        "activeAt": "2026-11-25T10:00:00.123Z",
        "value": "9.5e-01"
    }]}});
    assert!(schema().is_valid(&good));
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        assert!(!schema().is_valid(&v), "accepted {v:#}");
    };
    broken(&|v| v["data"]["alerts"][0]["state"] = "resolved".into());
    broken(&|v| v["data"]["alerts"][0]["value"] = 0.95.into());
    broken(&|v| v["data"]["alerts"][0]["activeAt"] = "yesterday".into());
    broken(&|v| {
        v["data"]["alerts"][0]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("alertname");
    });
    broken(&|v| v["status"] = "ok".into());
}
