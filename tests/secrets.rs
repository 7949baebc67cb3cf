//! Secrets stay secret: passwords given in a DSN, a `password_file`, a `dsn_env` variable, and
//! Alertmanager's basic auth never appear in any output — the daemon's debug log (errors
//! included: wrong DSNs, unreachable servers, a refused reload, a refused delivery),
//! `check-config`, and every HTTP endpoint. The test greps everything it captured.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const SECRETS: [&str; 5] = [
    "dsn-Secret-4711",
    "file-Secret-0815",
    "env-Secret-1234",
    "am-Secret-5678",
    "bad-dsn-Secret-999",
];

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(
            !text.contains(s),
            "{what} contains the secret `{s}`:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_appear_in_logs_errors_or_endpoints() {
    let cluster = shared_cluster();
    let dir = tempfile::tempdir().unwrap();
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, format!("{}\n", SECRETS[1])).unwrap();
    let am_pw = dir.path().join("am-pw");
    std::fs::write(&am_pw, format!("{}\n", SECRETS[3])).unwrap();
    let port = pgvitals::pgcluster::free_port().unwrap();
    let dead_am = pgvitals::pgcluster::free_port().unwrap();
    let config = |extra_target: &str| {
        format!(
            "listen: 127.0.0.1:{port}\nweb:\n  enable_lifecycle: true\ntargets:\n  - name: url\n    dsn: \"postgresql://{MONITOR_ROLE}:{}@127.0.0.1:{}/postgres\"\n  - name: file\n    dsn: \"host=127.0.0.1 port={} user={MONITOR_ROLE} dbname=postgres\"\n    password_file: {}\n  - name: env\n    dsn_env: PGVITALS_TEST_SECRET_DSN\n{extra_target}collectors:\n  connection: {{interval: 1s}}\nalerts:\n  evaluation_interval: 1s\n  rules:\n    - alert: Always\n      expr: 'pgvitals_build_info == 1'\nalertmanager:\n  urls: ['http://127.0.0.1:{dead_am}']\n  timeout: 1s\n  basic_auth: {{username: pgvitals, password_file: {}}}\n",
            SECRETS[0],
            cluster.port(),
            cluster.port(),
            pw_file.display(),
            am_pw.display()
        )
    };
    let path = dir.path().join("pgvitals.yaml");
    std::fs::write(&path, config("")).unwrap();
    // The env target points at a closed port: its connection errors get logged.
    let env_dsn = format!(
        "host=127.0.0.1 port=1 user=x password={} connect_timeout=1",
        SECRETS[2]
    );
    let mut captured = String::new();

    let out = Command::new(env!("CARGO_BIN_EXE_pgvitals"))
        .args(["check-config"])
        .arg(&path)
        .env("PGVITALS_TEST_SECRET_DSN", &env_dsn)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    captured += &String::from_utf8_lossy(&out.stdout);
    captured += &String::from_utf8_lossy(&out.stderr);
    assert!(captured.contains("****"), "{captured}");

    // A DSN that does not parse, with a password in it: the error shows it masked.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        format!(
            "targets:\n  - name: bad\n    dsn: \"postgresql://u:{}@127.0.0.1:notaport/db\"\n",
            SECRETS[4]
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pgvitals"))
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    captured += &String::from_utf8_lossy(&out.stderr);

    let mut child = Command::new(env!("CARGO_BIN_EXE_pgvitals"))
        .args(["--log-format", "json", "run", "--config"])
        .arg(&path)
        .env("PGVITALS_TEST_SECRET_DSN", &env_dsn)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = LogLines::read(child.stderr.take().unwrap());
    // Both reachable targets polled, the unreachable one failing, a delivery failing.
    log.wait_for("delivering alerts failed");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for path in [
        "/",
        "/metrics",
        "/alerts",
        "/rules",
        "/statements",
        "/statements?format=text",
        "/findings",
        "/migrations",
        "/connections",
        "/connections?format=text",
        "/readyz",
        "/healthz",
    ] {
        let (_, body) = get(addr, path).await;
        assert_clean(path, &body);
        captured += &body;
    }
    // A reload that is refused because a target's DSN does not parse.
    std::fs::write(
        &path,
        config(&format!(
            "  - name: broken\n    dsn: \"postgresql://u:{}@127.0.0.1:notaport/db\"\n",
            SECRETS[4]
        )),
    )
    .unwrap();
    let (status, body) = request(addr, "POST", "/-/reload").await;
    assert_eq!(status, 500, "{body}");
    captured += &body;
    log.wait_for("configuration reload refused");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success());
    let log = log.until_closed();
    assert!(
        log.contains("target is down"),
        "the unreachable target was logged:\n{log}"
    );
    assert!(log.contains("****"), "masked DSNs appear:\n{log}");
    captured += &log;
    assert_clean("everything captured", &captured);
    println!(
        "captured {} bytes of logs, errors and responses; no secret in them",
        captured.len()
    );
}

/// A PgBouncer admin password that PgBouncer refuses: `pgvitals_pgbouncer_up 0`, the reason
/// logged once however many polls fail, the password in no log line (debug included), no
/// endpoint, and the PostgreSQL target polled as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pgbouncer_password_is_down_logged_once_and_never_shown() {
    const WRONG: &str = "pgb-Secret-2468";
    let cluster = shared_cluster();
    let bouncer = common::pgbouncer::PgBouncer::start(cluster, &[("appdb", "postgres", 2)]).await;
    let dir = tempfile::tempdir().unwrap();
    let port = pgvitals::pgcluster::free_port().unwrap();
    let path = dir.path().join("pgvitals.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:{port}\ntargets:\n  - name: main\n    dsn: \"{}\"\npgbouncers:\n  - name: bouncer\n    dsn: \"{}\"\ncollectors:\n  connection: {{interval: 1s}}\n  pgbouncer: {{interval: 1s}}\n",
            cluster.dsn(MONITOR_ROLE, "postgres"),
            bouncer.admin_dsn(WRONG)
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pgvitals"))
        .args(["run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = LogLines::read(child.stderr.take().unwrap());
    let failed = log.wait_for("pgbouncer poll failed");
    assert!(
        failed.contains("password authentication failed"),
        "{failed}"
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let m = poll_until(
        Duration::from_secs(30),
        Duration::from_millis(200),
        "three failed PgBouncer polls",
        || async move {
            let m = scrape(addr).await;
            let polls = m.get("pgvitals_collector_polls_total", &[("target", "bouncer")]);
            if polls >= Some(3.0) {
                Ok(m)
            } else {
                Err(format!("{polls:?} polls"))
            }
        },
    )
    .await;
    assert_eq!(
        m.get("pgvitals_pgbouncer_up", &[("target", "bouncer")]),
        Some(0.0)
    );
    assert_eq!(m.get("pgvitals_up", &[("target", "main")]), Some(1.0));
    assert_clean("/metrics", &m.text);
    assert!(!m.text.contains(WRONG));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let log = log.until_closed();
    assert!(!log.contains(WRONG), "the password is in the log:\n{log}");
    let warned = log.matches("pgbouncer poll failed").count();
    assert_eq!(warned, 1, "logged once, not on every poll:\n{log}");
    assert!(log.contains("pgbouncer poll still failing"), "{log}");
}
