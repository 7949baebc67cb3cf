//! The daemon end to end against a real PostgreSQL: poll, publish, scrape over HTTP.

mod common;

use std::time::Duration;

use common::proxy::{Mode, Proxy};
use common::*;
use pgvitals::config::Config;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_the_test_created_appears_with_its_real_size() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "sizes").await;
    let app = connect(&cluster.dsn("postgres", &db)).await;
    app.batch_execute(
        "CREATE TABLE events (id int PRIMARY KEY, payload text NOT NULL);
         INSERT INTO events SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 20000) g;
         CREATE INDEX events_payload ON events (payload);
         ANALYZE events;",
    )
    .await
    .unwrap();
    let row = app
        .query_one(
            "SELECT pg_total_relation_size('events')::float8, pg_indexes_size('events')::float8,
                    current_setting('server_version_num')",
            &[],
        )
        .await
        .unwrap();
    let (total, indexes, version): (f64, f64, String) = (row.get(0), row.get(1), row.get(2));

    let daemon = start(config(cluster, &db, "")).await;
    wait_ready(&daemon).await;
    let m = scrape(daemon.addr()).await;

    assert_eq!(m.get("pgvitals_up", &[("target", "main")]), Some(1.0));
    let table = [
        ("target", "main"),
        ("database", db.as_str()),
        ("schema", "public"),
        ("table", "events"),
    ];
    // 20,000 rows of 128-byte text: several MB, and exactly what PostgreSQL reports.
    assert!(total > 2_000_000.0, "{total}");
    assert_eq!(m.get("pgvitals_table_total_bytes", &table), Some(total));
    assert_eq!(m.get("pgvitals_table_index_bytes", &table), Some(indexes));
    assert_eq!(m.get("pgvitals_table_rows_estimate", &table), Some(20000.0));
    let heap = m.get("pgvitals_table_heap_bytes", &table).unwrap();
    let toast = m.get("pgvitals_table_toast_bytes", &table).unwrap();
    assert_eq!(heap + indexes + toast, total);

    let info = m.all("pgvitals_server_info", &[("target", "main")]);
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].0["version_num"], version);
    assert_eq!(
        m.get("pgvitals_connections_max", &[("target", "main")]),
        Some(100.0)
    );
    for collector in ["connection", "table_sizes"] {
        assert_eq!(
            m.get(
                "pgvitals_collector_success",
                &[("target", "main"), ("collector", collector)]
            ),
            Some(1.0),
            "{collector}"
        );
    }
    // Every HELP/TYPE appears once: families from several sources are merged.
    let types: Vec<&str> = m
        .text
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .collect();
    let mut unique = types.clone();
    unique.dedup();
    assert_eq!(types.len(), unique.len());
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_counted_by_state_and_idle_transactions_are_aged() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "activity").await;
    // Three sessions idle in a transaction on the test's database, one of them old enough to
    // have a measurable age by the time the collector polls.
    let mut idle = Vec::new();
    for _ in 0..3 {
        let c = connect(&cluster.dsn("postgres", &db)).await;
        c.batch_execute("BEGIN; SELECT 1").await.unwrap();
        idle.push(c);
    }
    let daemon = start(config(cluster, &db, "")).await;
    wait_ready(&daemon).await;
    let m = scrape(daemon.addr()).await;
    let key = [
        ("target", "main"),
        ("database", db.as_str()),
        ("state", "idle_in_transaction"),
    ];
    assert_eq!(m.get("pgvitals_connections", &key), Some(3.0));
    let age = m
        .get(
            "pgvitals_idle_in_transaction_longest_seconds",
            &[("target", "main"), ("database", db.as_str())],
        )
        .unwrap();
    assert!(age > 0.0, "{age}");
    let xact = m
        .get(
            "pgvitals_transaction_longest_seconds",
            &[("target", "main"), ("database", db.as_str())],
        )
        .unwrap();
    assert!(xact >= age, "{xact} < {age}");
    // Zero states are present too, so series do not come and go.
    let fast = [
        ("target", "main"),
        ("database", db.as_str()),
        ("state", "fastpath_function_call"),
    ];
    assert_eq!(m.get("pgvitals_connections", &fast), Some(0.0));
    daemon.shutdown().await;
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_n_bounds_the_series_and_the_remainder_keeps_the_total() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "topn").await;
    let app = connect(&cluster.dsn("postgres", &db)).await;
    app.batch_execute(
        "CREATE SCHEMA a; CREATE SCHEMA b;
         DO $$ BEGIN FOR i IN 1..12 LOOP
           EXECUTE format('CREATE TABLE a.t%s (id int PRIMARY KEY, v text)', i);
           EXECUTE format('INSERT INTO a.t%s SELECT g, md5(g::text) FROM generate_series(1, %s * 100) g', i, i);
           EXECUTE format('CREATE TABLE b.t%s (id int)', i);
         END LOOP; END $$;",
    )
    .await
    .unwrap();
    let exact: f64 = app
        .query_one(
            "SELECT sum(pg_total_relation_size(c.oid))::float8 FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'm') AND n.nspname IN ('a', 'b')",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  table_sizes: { interval: 1h, top_n: 5 }\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let m = scrape(daemon.addr()).await;
    let base = [("target", "main"), ("database", db.as_str())];
    let tables = m.all("pgvitals_table_total_bytes", &base);
    assert_eq!(tables.len(), 5, "{tables:?}");
    // The five largest are a.t8 … a.t12 (most rows).
    for (labels, _) in &tables {
        assert_eq!(labels["schema"], "a");
        let n: u32 = labels["table"][1..].parse().unwrap();
        assert!(n >= 8, "{labels:?}");
    }
    let rest_a = [
        ("target", "main"),
        ("database", db.as_str()),
        ("schema", "a"),
    ];
    let rest_b = [
        ("target", "main"),
        ("database", db.as_str()),
        ("schema", "b"),
    ];
    assert_eq!(
        m.get("pgvitals_table_sizes_remainder_tables", &rest_a),
        Some(7.0)
    );
    assert_eq!(
        m.get("pgvitals_table_sizes_remainder_tables", &rest_b),
        Some(12.0)
    );
    let listed: f64 = tables.iter().map(|(_, v)| v).sum();
    let rest = m
        .get("pgvitals_table_sizes_remainder_total_bytes", &rest_a)
        .unwrap()
        + m.get("pgvitals_table_sizes_remainder_total_bytes", &rest_b)
            .unwrap();
    assert_eq!(listed + rest, exact);
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_collector_is_reported_and_hides_nothing_else() {
    let cluster = shared_cluster();
    let open = fresh_database(cluster, "open").await;
    let closed = fresh_database(cluster, "closed").await;
    let admin = connect(&cluster.dsn("postgres", "postgres")).await;
    admin
        .batch_execute(&format!("REVOKE CONNECT ON DATABASE {closed} FROM PUBLIC"))
        .await
        .unwrap();
    let daemon = start(config(
        cluster,
        &open,
        &format!("    databases: [{open}, {closed}]\n"),
    ))
    .await;
    wait_ready(&daemon).await;
    let m = scrape(daemon.addr()).await;
    let ok = [
        ("target", "main"),
        ("database", open.as_str()),
        ("collector", "table_sizes"),
    ];
    let bad = [
        ("target", "main"),
        ("database", closed.as_str()),
        ("collector", "table_sizes"),
    ];
    assert_eq!(m.get("pgvitals_collector_success", &ok), Some(1.0));
    assert_eq!(m.get("pgvitals_collector_success", &bad), Some(0.0));
    assert_eq!(m.get("pgvitals_collector_errors_total", &bad), Some(1.0));
    assert_eq!(m.get("pgvitals_up", &[("target", "main")]), Some(1.0));
    assert_eq!(
        m.get(
            "pgvitals_table_sizes_estimated_tables",
            &[("target", "main"), ("database", open.as_str())]
        ),
        Some(0.0)
    );
    assert!(m
        .all(
            "pgvitals_table_sizes_estimated_tables",
            &[("database", closed.as_str())]
        )
        .is_empty());
    assert_eq!(
        m.get(
            "pgvitals_collector_success",
            &[("target", "main"), ("collector", "connection")]
        ),
        Some(1.0)
    );
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_auto_follows_databases_as_they_come_and_go() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "auto").await;
    let daemon = start(config(
        cluster,
        &db,
        "    databases: auto\ncollectors:\n  connection: { interval: 1s }\n  table_sizes: { interval: 1h }\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let late = fresh_database(cluster, "late").await;
    let polled = |m: &Metrics, d: &str| {
        m.get(
            "pgvitals_collector_success",
            &[
                ("target", "main"),
                ("database", d),
                ("collector", "table_sizes"),
            ],
        ) == Some(1.0)
    };
    wait_for(&daemon, WAIT, "the new database to be polled", |m| {
        polled(m, &late)
    })
    .await;
    let admin = connect(&cluster.dsn("postgres", "postgres")).await;
    admin
        .batch_execute(&format!("DROP DATABASE {late} WITH (FORCE)"))
        .await
        .unwrap();
    let m = wait_for(&daemon, WAIT, "the dropped database to be forgotten", |m| {
        m.all("pgvitals_collector_success", &[("database", late.as_str())])
            .is_empty()
    })
    .await;
    assert!(polled(&m, &db));
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_sessions_are_read_only_named_and_time_limited() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "session").await;
    let config = config(
        cluster,
        &db,
        "connections: { statement_timeout: 7s, lock_timeout: 900ms }\n",
    );
    let target = &config.resolve_targets().unwrap()[0];
    let pool = pgvitals::db::pool(
        pgvitals::db::session_config(target, &db, &config.connections),
        &config.connections,
        pgvitals::db::tls_connector(&target.tls).unwrap(),
    );
    let client = pool.get().await.unwrap();
    let show = |name: &'static str| {
        let client = &client;
        async move {
            let row = client
                .query_one(&format!("SHOW {name}"), &[])
                .await
                .unwrap();
            row.get::<_, String>(0)
        }
    };
    assert_eq!(show("application_name").await, "pgvitals");
    assert_eq!(show("default_transaction_read_only").await, "on");
    assert_eq!(show("statement_timeout").await, "7s");
    assert_eq!(show("lock_timeout").await, "900ms");
    let err = client
        .batch_execute("CREATE TABLE must_not_exist (id int)")
        .await
        .unwrap_err();
    let msg = pgvitals::db::error_chain(&err);
    assert!(msg.contains("read-only transaction"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints_and_index() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "health").await;
    let daemon = start(config(cluster, &db, "")).await;
    assert_eq!(get(daemon.addr(), "/healthz").await.0, 200);
    wait_ready(&daemon).await;
    assert_eq!(
        get(daemon.addr(), "/readyz").await,
        (200, "ready\n".to_string())
    );
    let (status, body) = get(daemon.addr(), "/").await;
    assert_eq!(status, 200);
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert!(body.contains(&format!("href=\"{path}\"")), "{body}");
    }
    assert_eq!(get(daemon.addr(), "/nope").await.0, 404);
    daemon.shutdown().await;
}

/// `promtool check metrics` (from Debian's `prometheus` package) on a live scrape reports
/// nothing: names, units, HELP and TYPE follow Prometheus' rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_finds_no_problem_in_a_live_scrape() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "lint").await;
    let app = connect(&cluster.dsn("postgres", &db)).await;
    app.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY); CREATE SCHEMA s; CREATE TABLE s.u (v text);",
    )
    .await
    .unwrap();
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  table_sizes: { top_n: 1 }\n",
    ))
    .await;
    wait_ready(&daemon).await;
    let m = scrape(daemon.addr()).await;
    // Both kinds of table-size series are present, so both are checked.
    assert!(!m.all("pgvitals_table_total_bytes", &[]).is_empty());
    assert!(!m
        .all("pgvitals_table_sizes_remainder_total_bytes", &[])
        .is_empty());
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is needed for this test (Debian package `prometheus`)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(m.text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool:\n{report}"
    );
    daemon.shutdown().await;
}

/// With one poll at a time across every collector, polls run one after the other and they all
/// still get their turn. Seen from the network: a stalled proxy between pgvitals and
/// PostgreSQL holds the traffic of whatever polls are running, and while they hang every
/// collector ticks and waits; the proxy then holds the traffic of exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poll_at_a_time_still_polls_everything() {
    let cluster = shared_cluster();
    let proxy = Proxy::start(format!("127.0.0.1:{}", cluster.port()).parse().unwrap()).await;
    // Four collectors tick every second; `connection` (whose interval is also the probe's)
    // polls once at start, so no probe has a connection in the proxy during the stall. Timeouts
    // outlast the test: a stalled poll hangs until the stall ends.
    let ticking = ["statements", "indexes", "migrations", "table_sizes"];
    let every = ticking
        .iter()
        .map(|c| format!("  {c}: {{interval: 1s, timeout: 5m}}\n"))
        .collect::<String>();
    let yaml = format!(
        "listen: 127.0.0.1:0\ntargets:\n  - name: main\n    dsn: \"postgresql://{MONITOR_ROLE}@{}/postgres?sslmode=disable\"\nmax_concurrent_polls: 1\nconnections:\n  connect_timeout: 5m\ncollectors:\n  connection: {{interval: 1h}}\n{every}",
        proxy.addr()
    );
    let daemon =
        start(Config::parse(&yaml, "<test>").unwrap_or_else(|e| panic!("{e}\n{yaml}"))).await;
    wait_ready(&daemon).await;
    let m = scrape(daemon.addr()).await;
    let polls = |m: &Metrics, c: &str| {
        m.get("pgvitals_collector_polls_total", &[("collector", c)])
            .unwrap_or_else(|| panic!("no polls_total for {c}:\n{}", m.text))
    };
    let succeeded = |m: &Metrics, c: &str| {
        m.get("pgvitals_collector_success", &[("collector", c)]) == Some(1.0)
    };
    for c in ticking.iter().chain(&["connection"]) {
        assert!(polls(&m, c) >= 1.0 && succeeded(&m, c), "{c}:\n{}", m.text);
    }

    proxy.set(Mode::Stall);
    let busy = |m: &Metrics, c: &str| {
        m.get(
            "pgvitals_collector_skipped_ticks_total",
            &[("collector", c), ("reason", "busy")],
        )
        .unwrap_or_else(|| panic!("no busy skips series for {c}:\n{}", m.text))
    };
    let stalled = scrape(daemon.addr()).await;
    // Two ticks of every collector skipped as busy: each has a poll running or waiting for
    // its turn, for at least a second after the stall began.
    let waiting = wait_for(&daemon, WAIT, "every collector waiting for its turn", |m| {
        ticking
            .iter()
            .all(|c| busy(m, c) >= busy(&stalled, c) + 2.0)
    })
    .await;
    // Of those four, one is running: its connection is the only one whose traffic (its
    // requests, or the answers to them) the proxy holds. Two polls at once would be two.
    assert_eq!(
        proxy.holding(),
        1,
        "connections holding traffic in the stall with four polls due; the daemon says:\n{}",
        waiting.text
    );

    // Once the network passes again the running poll finishes and the others take their turns.
    proxy.set(Mode::Pass);
    let last_success = |m: &Metrics, c: &str| {
        m.get(
            "pgvitals_collector_last_success_timestamp_seconds",
            &[("collector", c)],
        )
    };
    wait_for(
        &daemon,
        WAIT,
        "every collector polled after the stall",
        |m| {
            ticking.iter().all(|c| {
                polls(m, c) > polls(&waiting, c)
                    && succeeded(m, c)
                    && last_success(m, c) > last_success(&waiting, c)
            })
        },
    )
    .await;
    daemon.shutdown().await;
}

/// `curl -H 'Accept-Encoding: gzip'` gets a gzip body that inflates to the very exposition a
/// plain scrape gets (taken between two plain scrapes that agree, so nothing was published in
/// between); without the header the body is plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_gzipped_when_the_scraper_asks() {
    use std::io::Read;
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "gzip").await;
    let daemon = start(config(cluster, &db, "")).await;
    wait_ready(&daemon).await;
    let url = format!("http://{}/metrics", daemon.addr());
    let curl = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-s", "-D", "-"])
            .args(args)
            .arg(&url)
            .output()
            .expect("running curl");
        assert!(out.status.success(), "curl {args:?}: {out:?}");
        let split = out
            .stdout
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        let head = String::from_utf8_lossy(&out.stdout[..split]).to_lowercase();
        (head, out.stdout[split + 4..].to_vec())
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (plain_head, before) = curl(&[]);
        let (gzip_head, gz) = curl(&["-H", "Accept-Encoding: gzip"]);
        let (_, after) = curl(&[]);
        assert!(
            !plain_head.contains("content-encoding"),
            "plain scrape: {plain_head}"
        );
        assert!(
            gzip_head.contains("content-encoding: gzip"),
            "gzip scrape: {gzip_head}"
        );
        assert!(gz.starts_with(&[0x1f, 0x8b]), "not gzip: {:?}", &gz[..8]);
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut inflated)
            .expect("a valid gzip body");
        assert!(
            gz.len() < inflated.len(),
            "{} of {}",
            gz.len(),
            inflated.len()
        );
        if before == after {
            assert!(
                inflated == before,
                "the gzip body inflates to another exposition"
            );
            assert!(String::from_utf8(inflated)
                .unwrap()
                .contains("pgvitals_up{target=\"main\"} 1\n"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the exposition never held still across three scrapes"
        );
    }
}
