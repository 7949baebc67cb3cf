//! TLS to PostgreSQL: a server with `ssl = on` and a certificate for `db.example.invalid` made
//! by the test, watched by targets with every `sslmode`. verify-full checks the chain and the
//! name, verify-ca the chain only, require encrypts without checking, disable does not encrypt;
//! a wrong CA or name keeps the target down (`pgvitals_up 0`), never the daemon.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::tls::test_pki_for;
use common::*;
use pgvitals::pgcluster::Cluster;

/// The server reads its key as its own user, and only if nobody else can.
fn hand_to_server(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    if unsafe { libc::geteuid() } == 0 {
        let ok = std::process::Command::new("chown")
            .arg("postgres")
            .arg(path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "chown postgres {}", path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sslmode_against_a_tls_server() {
    let pki = test_pki_for(&["db.example.invalid"]);
    let stranger = test_pki_for(&["db.example.invalid"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    std::fs::copy(&pki.cert, &cert).unwrap();
    std::fs::copy(&pki.key, &key).unwrap();
    hand_to_server(&cert, 0o644);
    hand_to_server(&key, 0o600);
    let settings = [
        "ssl = on".to_string(),
        format!("ssl_cert_file = '{}'", cert.display()),
        format!("ssl_key_file = '{}'", key.display()),
    ];
    let cluster = tokio::task::spawn_blocking(move || {
        let s: Vec<&str> = settings.iter().map(String::as_str).collect();
        let c = Cluster::start(&s).expect("starting PostgreSQL with TLS");
        prepare(&c);
        c
    })
    .await
    .unwrap();
    let port = cluster.port();
    let target = |name: &str, params: &str| {
        format!("  - name: {name}\n    dsn: \"host={params} port={port} user={MONITOR_ROLE} dbname=postgres connect_timeout=2\"\n")
    };
    let ca = pki.ca.display().to_string();
    let wrong_ca = stranger.ca.display().to_string();
    let targets = [
        target(
            "full",
            &format!("db.example.invalid hostaddr=127.0.0.1 sslmode=verify-full sslrootcert={ca}"),
        ),
        target(
            "full_wrong_name",
            &format!("127.0.0.1 sslmode=verify-full sslrootcert={ca}"),
        ),
        target(
            "ca",
            &format!("127.0.0.1 sslmode=verify-ca sslrootcert={ca}"),
        ),
        target(
            "ca_wrong_ca",
            &format!("127.0.0.1 sslmode=verify-ca sslrootcert={wrong_ca}"),
        ),
        target("require", "127.0.0.1 sslmode=require"),
        target("plain", "127.0.0.1 sslmode=disable"),
    ]
    .concat();
    let yaml = format!(
        "listen: 127.0.0.1:0\ntargets:\n{targets}collectors:\n  connection: {{interval: 1s}}\n"
    );
    let daemon = start(
        pgvitals::config::Config::parse(&yaml, "<tls>").unwrap_or_else(|e| panic!("{e}\n{yaml}")),
    )
    .await;
    let up = |m: &Metrics, t: &str| m.get("pgvitals_up", &[("target", t)]);
    let m = wait_for(
        &daemon,
        Duration::from_secs(60),
        "every target probed",
        |m| {
            [
                "full",
                "full_wrong_name",
                "ca",
                "ca_wrong_ca",
                "require",
                "plain",
            ]
            .iter()
            .all(|t| up(m, t).is_some())
                && m.get(
                    "pgvitals_connection_probe_failures_total",
                    &[("target", "full_wrong_name")],
                )
                .is_some_and(|v| v >= 1.0)
                && ["full", "require", "plain"].iter().all(|t| {
                    m.get(
                        "pgvitals_collector_success",
                        &[("target", t), ("collector", "connection")],
                    ) == Some(1.0)
                })
        },
    )
    .await;
    for (t, want) in [
        ("full", 1.0),
        ("full_wrong_name", 0.0),
        ("ca", 1.0),
        ("ca_wrong_ca", 0.0),
        ("require", 1.0),
        ("plain", 1.0),
    ] {
        assert_eq!(up(&m, t), Some(want), "target {t}:\n{}", m.text);
    }
    let admin = connect(&cluster.dsn("postgres", "postgres")).await;
    let row = admin
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
               FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
              WHERE a.application_name = 'pgvitals'",
            &[],
        )
        .await
        .unwrap();
    let (encrypted, plain): (i64, i64) = (row.get(0), row.get(1));
    assert!(
        encrypted >= 1 && plain >= 1,
        "{encrypted} TLS and {plain} plain pgvitals sessions"
    );
    daemon.shutdown().await;
    drop(admin);
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}
