//! The Grafana dashboards end to end: PostgreSQL with a workload, a streaming standby and a
//! PgBouncer in front, pgvitals, and a real Prometheus scraping it every second; then every panel query and every template-variable
//! query of both dashboards in `dashboards/` runs through Prometheus' HTTP API (variables
//! substituted the way Grafana would) and must parse and return at least one series. A panel
//! without data is asked again for a bounded time: per-interval series are absent, by design,
//! after an interval without access (see `NO_DATA_RETRY`).
//!
//! The checker is tested too: a copy of the overview with one misspelled metric and one broken
//! expression must fail on exactly those two panels.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::prometheus::{url_encode, Prometheus};
use common::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);

fn load(name: &str) -> Value {
    let path = format!("{}/dashboards/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (panel title, expr) of every query of every panel, rows' nested panels included.
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("").to_string();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push((title.clone(), expr.to_string()));
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// (variable name, query) of every query-type template variable.
fn variable_queries(dashboard: &Value) -> Vec<(String, String)> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let q = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .unwrap_or("");
            (v["name"].as_str().unwrap().to_string(), q.to_string())
        })
        .collect()
}

/// Replaces `$name`, `${name}` and `${name:format}` with the variables' values, and Grafana's
/// built-in `$__rate_interval`/`$__interval`/`$__range`. Unknown names stay (and then fail).
fn substitute(expr: &str, vars: &BTreeMap<&str, String>) -> String {
    let builtins = [
        ("__rate_interval", "1m"),
        ("__interval", "15s"),
        ("__range", "5m"),
    ];
    let lookup = |name: &str| {
        vars.get(name).cloned().or_else(|| {
            builtins
                .iter()
                .find(|(b, _)| *b == name)
                .map(|(_, v)| v.to_string())
        })
    };
    let mut out = String::new();
    let mut rest = expr;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').unwrap_or(braced.len());
            let inner = &braced[..end];
            (inner.split(':').next().unwrap_or(""), end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match lookup(name) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[pos..pos + 1 + len]),
        }
        rest = &rest[(pos + 1 + len).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

/// How long a panel query that returned no series is asked again before it counts as failed.
///
/// Why re-ask rather than make the workload touch the indexes in every interval: the
/// per-interval series (`pgvitals_database_index_hit_ratio`, `pgvitals_index_hit_ratio`,
/// `pgvitals_index_interval_*`, `pgvitals_statement_interval_*`, ...) are absent by design for
/// an interval without access, and no workload can rule such an interval out. A backend
/// publishes its statistics at most once a second (PostgreSQL 15+; before, every 500 ms to a
/// collector that may drop them), the test's collector interval is 1 s too, so an interval can
/// fall between two publications however busy the workload is. The next scrape lacks the
/// series, Prometheus marks them stale, and an instant query then returns nothing, as a
/// Grafana panel refreshed at that moment would show a gap. Each panel must still return data:
/// within this bound, ten scrapes and collector intervals, when one interval without access is
/// followed by one with it. A panel that never does (the misspelled metric below) fails after
/// it. The empty panels are re-asked together, every round, so a broken dashboard costs this
/// bound once, not once per panel; a query Prometheus refuses fails at once.
const NO_DATA_RETRY: Duration = Duration::from_secs(10);

/// What the checker found: queries run, and the ones that failed (with why).
#[derive(Debug, Default)]
struct Report {
    panels: usize,
    variables: usize,
    failures: Vec<String>,
    /// Panel queries that returned no series at first and data on a later round.
    late: Vec<String>,
}

/// Runs every panel and variable query of `dashboard` through Prometheus.
async fn check(
    prom: &Prometheus,
    name: &str,
    dashboard: &Value,
    vars: &BTreeMap<&str, String>,
) -> Report {
    let mut report = Report::default();
    let queries: Vec<(String, String)> = panel_queries(dashboard)
        .into_iter()
        .map(|(panel, expr)| (panel, substitute(&expr, vars)))
        .collect();
    report.panels = queries.len();
    // Failures by panel index, so they are listed in the dashboard's order whatever the round.
    let failed = RefCell::new(BTreeMap::new());
    let empty = RefCell::new((0..queries.len()).collect::<Vec<usize>>());
    let late = RefCell::new(Vec::new());
    let first_round = Cell::new(true);
    let (queries, failed, empty, late, first_round) =
        (&queries, &failed, &empty, &late, &first_round);
    let _ = try_poll_until(
        NO_DATA_RETRY,
        Duration::from_millis(250),
        move || async move {
            let first = first_round.replace(false);
            for i in empty.take() {
                let (panel, q) = &queries[i];
                match prom.query(q).await {
                    Err(e) => {
                        failed
                            .borrow_mut()
                            .insert(i, format!("{name} / {panel}: `{q}`: {e}"));
                    }
                    Ok(series) if series.is_empty() => empty.borrow_mut().push(i),
                    Ok(_) if !first => late.borrow_mut().push(i),
                    Ok(_) => {}
                }
            }
            match empty.borrow().len() {
                0 => Ok(()),
                n => Err(format!("{n} panel queries without data")),
            }
        },
    )
    .await;
    let mut failed = failed.take();
    for i in empty.take() {
        let (panel, q) = &queries[i];
        failed.insert(
            i,
            format!("{name} / {panel}: `{q}` returned no series within {NO_DATA_RETRY:?}"),
        );
    }
    report.late = late
        .take()
        .into_iter()
        .map(|i| format!("{name} / {}: `{}`", queries[i].0, queries[i].1))
        .collect();
    report.failures.extend(failed.into_values());
    for (var, query) in variable_queries(dashboard) {
        report.variables += 1;
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| {
                panic!("{name}: variable {var}: only label_values() is used: {query}")
            });
        let (selector, label) = inner
            .rsplit_once(',')
            .expect("label_values(selector, label)");
        let selector = substitute(selector.trim(), vars);
        let v = prom
            .api(&format!(
                "/api/v1/label/{}/values?match[]={}",
                label.trim(),
                url_encode(&selector)
            ))
            .await;
        let values = v["data"].as_array().map_or(0, Vec::len);
        if v["status"] != "success" || values == 0 {
            report
                .failures
                .push(format!("{name} / variable {var}: `{selector}` → {v}"));
        }
    }
    report
}

#[test]
fn the_checker_finds_every_query_and_substitutes_like_grafana() {
    let d = serde_json::json!({
        "panels": [
            {"title": "a", "targets": [{"expr": "up{job=~\"$job\"}"}, {"expr": "x[$__rate_interval]"}]},
            {"type": "row", "title": "r", "panels": [{"title": "b", "targets": [{"expr": "y{t=\"${target:regex}\"} > ${limit}"}]}]}
        ],
        "templating": {"list": [
            {"name": "job", "type": "query", "query": {"query": "label_values(up, job)"}},
            {"name": "limit", "type": "custom", "query": "1,2"}
        ]}
    });
    let q = panel_queries(&d);
    assert_eq!(q.len(), 3);
    assert_eq!(
        variable_queries(&d),
        vec![("job".to_string(), "label_values(up, job)".to_string())]
    );
    let vars = BTreeMap::from([
        ("job", "pgvitals".to_string()),
        ("target", "main".into()),
        ("limit", "10".into()),
    ]);
    assert_eq!(substitute(&q[0].1, &vars), "up{job=~\"pgvitals\"}");
    assert_eq!(substitute(&q[1].1, &vars), "x[1m]");
    assert_eq!(substitute(&q[2].1, &vars), "y{t=\"main\"} > 10");
    assert_eq!(substitute("z{a=\"$unknown\"}", &vars), "z{a=\"$unknown\"}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "shop").await;
    let setup = connect(&cluster.dsn("postgres", &db)).await;
    setup
        .batch_execute(
            "CREATE TABLE customers (id int PRIMARY KEY, name text);
             INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 2000) g;
             CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers (id), total numeric);
             INSERT INTO orders SELECT g, 1 + g % 2000, g FROM generate_series(1, 20000) g;
             CREATE INDEX orders_total_a ON orders (total);
             CREATE INDEX orders_total_b ON orders (total);
             CREATE TABLE audit (id int PRIMARY KEY, v int);
             INSERT INTO audit VALUES (1, 7), (2, 7);
             -- Never vacuumed, autovacuum off: past its insert threshold (1000 + 0.2 x 2000).
             CREATE TABLE sessions_log (id bigserial PRIMARY KEY, at timestamptz NOT NULL)
                 WITH (autovacuum_enabled = false);
             INSERT INTO sessions_log (at) SELECT now() FROM generate_series(1, 2000);
             ANALYZE;
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO pgvitals_monitor;
             GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO pgvitals_monitor;",
        )
        .await
        .unwrap();
    // The inserts reach the statistics (on 13 a backend sends them only with its next
    // transaction at least 500 ms after the last).
    wait_for_value(
        &setup,
        "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'sessions_log'",
        "the inserts counted",
        |n| n == 2000,
    )
    .await;
    // A failed concurrent build leaves an invalid index behind.
    assert!(setup
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY audit_v ON audit (v)")
        .await
        .is_err());

    // A steady workload: primary-key lookups (index hits) and a join, every few milliseconds.
    let stop = Arc::new(AtomicBool::new(false));
    let workload = {
        let stop = stop.clone();
        let app = connect(&cluster.dsn("postgres", &db)).await;
        tokio::spawn(async move {
            let c = app
                .prepare("SELECT name FROM customers WHERE id = $1")
                .await
                .unwrap();
            let o = app
                .prepare("SELECT total FROM orders WHERE id = $1")
                .await
                .unwrap();
            let j = app
                .prepare("SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.id = $1")
                .await
                .unwrap();
            // A filtered Seq Scan of a 20,000-row table: a plan with an index suggestion.
            let s = app
                .prepare("SELECT count(*), max(total) FROM orders WHERE customer_id = $1")
                .await
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                let id = fastrand::i32(1..=2000);
                app.query(&c, &[&id]).await.unwrap();
                app.query(&o, &[&(id * 10)]).await.unwrap();
                app.query(&j, &[&id]).await.unwrap();
                app.query(&s, &[&id]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    // A standby streaming from the cluster, for the replication row.
    let _standby = pgvitals::pgcluster::Cluster::standby_of(cluster, "replica1").unwrap();
    // A PgBouncer in front of the database with one client, for the connections row.
    let bouncer = common::pgbouncer::PgBouncer::start(cluster, &[("shop", &db, 2)]).await;
    let pooled = connect(&bouncer.dsn("shop")).await;
    pooled.batch_execute("SELECT 1").await.unwrap();

    let daemon = start(config(
        cluster,
        "postgres",
        &format!(
            "    databases: [{db}]\npgbouncers:\n  - name: bouncer\n    dsn: \"{}\"\ncollectors:\n  pgbouncer: {{interval: 1s}}\n  connection: {{interval: 1s}}\n  statements: {{interval: 1s}}\n  indexes: {{interval: 1s, findings_interval: 1s, unused_index_min_age: 1ms}}\n  migrations: {{interval: 1s}}\n  table_sizes: {{interval: 1s}}\n  plans: {{interval: 1s, max_per_minute: 120}}\n  wraparound: {{interval: 1s}}\n  vacuum: {{interval: 1s}}\n  sequences: {{interval: 1s}}\n  bloat: {{interval: 1s}}\n  replication: {{interval: 1s}}\n  checkpoints: {{interval: 1s}}\nalerts:\n  evaluation_interval: 1s\n  rules:\n    - alert: Watchdog\n      expr: 'pgvitals_up == 1'\n      severity: none\n      annotations: {{summary: 'Always firing while pgvitals reaches the target'}}\n",
            bouncer.admin_dsn(common::pgbouncer::STATS_USER.1)
        ),
    ))
    .await;
    let shop = [("database", db.as_str())];
    wait_for(&daemon, WAIT, "every figure the dashboards show", |m| {
        m.get("pgvitals_database_index_hit_ratio", &shop).is_some()
            && m.all("pgvitals_statement_interval_calls", &shop).len() >= 2
            && m.get("pgvitals_finding_invalid_index_bytes", &shop)
                .is_some()
            && !m
                .all("pgvitals_finding_unused_index_bytes", &shop)
                .is_empty()
            && !m
                .all("pgvitals_finding_duplicate_index_bytes", &shop)
                .is_empty()
            && !m
                .all("pgvitals_finding_unindexed_foreign_key", &shop)
                .is_empty()
            && !m.all("pgvitals_table_total_bytes", &shop).is_empty()
            && !m.all("pgvitals_statement_plan_info", &shop).is_empty()
            && !m
                .all("pgvitals_statement_index_suggestion", &shop)
                .is_empty()
            && m.get(
                "pgvitals_alerts",
                &[("alertname", "Watchdog"), ("alertstate", "firing")],
            )
            .is_some()
            && !m
                .all("pgvitals_table_autovacuum_overdue_seconds", &shop)
                .is_empty()
            && !m.all("pgvitals_table_bloat_bytes", &shop).is_empty()
            && !m.all("pgvitals_sequence_used_ratio", &shop).is_empty()
            && !m
                .all(
                    "pgvitals_replication_replay_lag_seconds",
                    &[("standby", "replica1")],
                )
                .is_empty()
            && m.get(
                "pgvitals_pgbouncer_clients_active",
                &[("target", "bouncer"), ("database", "shop")],
            )
            .is_some()
            && !m.all("pgvitals_connection_holders", &[]).is_empty()
    })
    .await;

    let prom = Prometheus::start(&[daemon.addr()]).await;
    // A few scrapes, so rate(), deriv() and predict_linear() have points to work with.
    prom.wait_for(
        WAIT,
        "count_over_time(pgvitals_build_info{job=\"pgvitals\"}[1m]) >= 5",
    )
    .await;
    let busiest = prom
        .wait_for(
            WAIT,
            &format!("topk(1, pgvitals_statement_interval_calls{{job=\"pgvitals\", database=\"{db}\", queryid!=\"other\"}})"),
        )
        .await;
    let queryid = busiest[0]["metric"]["queryid"]
        .as_str()
        .unwrap()
        .to_string();
    let vars = BTreeMap::from([
        ("job", "pgvitals".to_string()),
        ("target", "main".to_string()),
        ("database", db.clone()),
        ("pgbouncer", "bouncer".to_string()),
        ("size_limit", "107374182400".to_string()),
        ("queryid", queryid),
    ]);

    let mut failures = Vec::new();
    let mut counted = Vec::new();
    let mut late = Vec::new();
    for name in ["pgvitals-overview.json", "pgvitals-statement.json"] {
        let d = load(name);
        let r = check(&prom, name, &d, &vars).await;
        counted.push(format!(
            "{name}: {} panel queries, {} variable queries",
            r.panels, r.variables
        ));
        failures.extend(r.failures);
        late.extend(r.late);
    }
    println!("checked against Prometheus: {}", counted.join("; "));
    if !late.is_empty() {
        println!(
            "no series at first, data when asked again:\n{}",
            late.join("\n")
        );
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The checker catches a misspelled metric and a broken expression.
    let mut broken = load("pgvitals-overview.json");
    let text = broken.to_string();
    let text = text.replacen(
        "pgvitals_finding_unindexed_foreign_key{",
        "pgvitals_finding_unindexed_foreing_key{",
        1,
    );
    let text = text.replacen(
        "sum by (kind) (pgvitals_findings{",
        "sum by (kind) (pgvitals_findings{{",
        1,
    );
    broken = serde_json::from_str(&text).unwrap();
    let t = std::time::Instant::now();
    let r = check(&prom, "broken", &broken, &vars).await;
    println!(
        "broken copy checked in {:.1?} (no-data bound {NO_DATA_RETRY:?})",
        t.elapsed()
    );
    assert_eq!(r.failures.len(), 2, "{:#?}", r.failures);
    assert!(
        r.failures[0].contains("Findings by kind") && r.failures[0].contains("bad_data"),
        "{:#?}",
        r.failures
    );
    assert!(
        r.failures[1].contains("Unindexed foreign keys") && r.failures[1].contains("no series"),
        "{:#?}",
        r.failures
    );

    stop.store(true, Ordering::Relaxed);
    workload.await.unwrap();
    daemon.shutdown().await;
}
