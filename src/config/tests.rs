//! Unit tests of the configuration parser: defaults, every kind of refusal with its location,
//! secrets, DSN forms.

use std::time::Duration;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.yaml")
}

#[test]
fn defaults_match_the_team_standards() {
    let c = parse("targets:\n  - name: a\n    dsn: postgresql://m@127.0.0.1/app\n").unwrap();
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.thresholds.query_latency.under, Dur::millis(100));
    assert_eq!(c.thresholds.query_latency.fraction, 0.95);
    assert_eq!(c.thresholds.index_hit_ratio, 0.90);
    assert_eq!(c.thresholds.connection_acquisition, Dur::millis(50));
    assert_eq!(c.thresholds.migration_duration, Dur::secs(300));
    assert_eq!(c.collectors.table_sizes.top_n, 200);
    let t = &c.resolve_targets().unwrap()[0];
    assert_eq!(t.primary_database, "app");
    assert_eq!(t.databases, Databases::FromDsn);
}

/// The error of `text`, which must be on `line`.
fn error_on_line(text: &str, line: usize) -> ConfigError {
    let e = parse(text).unwrap_err();
    assert_eq!(e.line, Some(line), "{e}");
    e
}

#[test]
fn unknown_key_names_file_line_column_and_key() {
    let e = error_on_line(
        "listen: 127.0.0.1:1\ntargets:\n  - name: a\n    dns: x\n",
        4,
    );
    assert_eq!(e.file, "test.yaml");
    assert_eq!(e.column, Some(5), "{e}");
    assert_eq!(e.key, "targets[0].dns", "{e}");
    assert!(e.message.contains("unknown field `dns`"), "{e}");
    assert!(
        e.to_string()
            .starts_with("test.yaml:4:5: key `targets[0].dns`"),
        "{e}"
    );
}

#[test]
fn bad_duration_and_wrong_type_are_located() {
    let text = "targets:\n  - name: a\n    dsn: host=x\ncollectors:\n  connection:\n    interval: 15 parsecs\n";
    assert!(parse(
        "targets:\n  - name: a\n    dsn: host=x\ncollectors:\n  connection: { enabled: false }\n"
    )
    .is_ok());
    let e = parse(text).unwrap_err();
    assert_eq!(e.key, "collectors.connection.interval", "{e}");
    assert_eq!(e.line, Some(6), "{e}");
    assert!(e.message.contains("invalid duration"), "{e}");

    let text = "targets:\n  - name: a\n    dsn: host=x\nconnections:\n  pool_size: many\n";
    let e = parse(text).unwrap_err();
    assert_eq!(e.key, "connections.pool_size", "{e}");
    assert_eq!(e.line, Some(5), "{e}");
}

#[test]
fn alert_rule_errors_name_the_rule_and_line() {
    let head = "targets:\n  - name: a\n    dsn: host=x\nalerts:\n";
    let cases = [
        (
            "  rules:\n    - alert: Many\n      expr: 'pgvitals_connections{state=\"active\"} >> 80'\n",
            "alerts.rules[0].expr",
            7,
            "expected a number",
        ),
        (
            "  rules:\n    - alert: Ok\n      expr: 'x > 1'\n      annotations:\n        summary: '{{ .Value }}'\n",
            "alerts.rules[0].annotations.summary",
            9,
            "unsupported template action",
        ),
        (
            "  builtin:\n    SlowQueries: {for: 1m}\n",
            "alerts.builtin.SlowQueries",
            6,
            "no built-in rule is called `SlowQueries`",
        ),
        (
            "  rules:\n    - alert: SlowQuery\n      expr: 'x > 1'\n",
            "alerts.rules[0].alert",
            6,
            "is a built-in rule",
        ),
        (
            "  builtin:\n    TargetDown: {for: soon}\n",
            "alerts.builtin.TargetDown.for",
            6,
            "invalid duration `soon`",
        ),
    ];
    for (tail, key, line, msg) in cases {
        let e = parse(&format!("{head}{tail}")).unwrap_err();
        assert_eq!(e.key, key, "{e}");
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.message.contains(msg), "{e}");
    }
    let e = parse("targets:\n  - name: a\n    dsn: host=x\nalertmanager:\n  urls: ['http://u:secret@am:9093']\n").unwrap_err();
    assert_eq!(e.key, "alertmanager.urls[0]");
    assert!(!e.to_string().contains("secret"), "{e}");
    let ok = parse(&format!("{head}  rules:\n    - alert: ManyActiveSessions\n      expr: 'pgvitals_connections{{state=\"active\"}} > 80'\n      for: 5m\n      labels: {{team: db}}\n      annotations:\n        summary: '{{{{ $labels.target }}}} has {{{{ $value }}}} active sessions'\nalertmanager:\n  urls: [http://127.0.0.1:9093]\n  basic_auth: {{username: u, password: hunter2}}\n")).unwrap();
    assert_eq!(ok.alerts.rules[0].for_.0, Duration::from_secs(300));
    let printed = ok.masked_yaml();
    assert!(
        !printed.contains("hunter2") && printed.contains("****"),
        "{printed}"
    );
}

#[test]
fn tls_parameters_come_out_of_either_dsn_form() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "x").unwrap();
    let ca = ca.display().to_string();
    let Dsn { pg, tls } = parse_dsn(&format!(
        "postgresql://u:p@db:5432/app?sslmode=verify-full&connect_timeout=3&sslrootcert={ca}"
    ))
    .unwrap();
    assert_eq!(pg.get_connect_timeout(), Some(&Duration::from_secs(3)));
    assert_eq!(pg.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
    assert_eq!(tls.mode, SslMode::VerifyFull);
    assert_eq!(tls.root_cert.unwrap().display().to_string(), ca);
    let Dsn { pg, tls } = parse_dsn(&format!(
        "host=db sslmode=verify-ca sslrootcert='{ca}' user=u"
    ))
    .unwrap();
    assert_eq!(pg.get_user(), Some("u"));
    assert_eq!(tls.mode, SslMode::VerifyCa);
    let Dsn { pg, tls } = parse_dsn("postgresql://db/app?sslmode=disable").unwrap();
    assert_eq!(
        (pg.get_ssl_mode(), tls.mode),
        (tokio_postgres::config::SslMode::Disable, SslMode::Disable)
    );
    assert_eq!(parse_dsn("host=db").unwrap().tls.mode, SslMode::Prefer);
    assert!(parse_dsn("host=db sslmode=sometimes")
        .unwrap_err()
        .contains("verify-full"));
    assert!(parse_dsn("host=db sslcert=/x")
        .unwrap_err()
        .contains("go together"));
    let e = parse("targets:\n  - name: a\n    dsn: host=x sslrootcert=/nonexistent/ca.pem\n")
        .unwrap_err();
    assert_eq!(e.key, "targets[0].dsn");
    assert!(e.message.contains("/nonexistent/ca.pem"), "{e}");
}

#[test]
fn a_second_document_is_located() {
    let e = parse("targets: []\n---\nlisten: x\n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    let e = parse("{targets}--").unwrap_err();
    assert_eq!(e.line, Some(1), "{e}");
}

#[test]
fn semantic_errors_are_located_too() {
    let text = "targets:\n  - name: a\n    dsn: host=x\n  - name: a\n    dsn: host=y\n";
    assert_eq!(error_on_line(text, 4).key, "targets[1].name");
    let text = "targets:\n  - name: a\n    dsn: host=x\nthresholds:\n  index_hit_ratio: 90\n";
    let e = parse(text).unwrap_err();
    assert_eq!(e.key, "thresholds.index_hit_ratio");
    assert_eq!(e.line, Some(5), "{e}");
}

#[test]
fn env_expansion_and_dsn_env() {
    std::env::set_var("PGVITALS_TEST_SECRET", "s3cret");
    std::env::set_var("PGVITALS_TEST_DSN", "postgresql://u:pw@127.0.0.1:5/db");
    let c = parse(
        "targets:\n  - name: a\n    dsn: postgresql://u:${PGVITALS_TEST_SECRET}@127.0.0.1/db\n  - name: b\n    dsn_env: PGVITALS_TEST_DSN\n",
    )
    .unwrap();
    let ts = c.resolve_targets().unwrap();
    assert_eq!(ts[0].pg.get_password(), Some(&b"s3cret"[..]));
    assert_eq!(ts[1].pg.get_ports(), &[5]);
    let e = parse("targets:\n  - name: a\n    dsn: postgresql://u:${PGVITALS_NOT_SET_X}@h/db\n")
        .unwrap_err();
    assert_eq!(e.key, "targets[0].dsn");
    assert!(e.message.contains("PGVITALS_NOT_SET_X"), "{e}");
    assert_eq!(expand_env("a$$b").unwrap(), "a$b");
}

#[test]
fn masking_hides_passwords_in_every_dsn_form() {
    assert_eq!(
        mask_dsn("postgresql://mon:hunter2@db:5432/app?sslmode=require"),
        "postgresql://mon:****@db:5432/app?sslmode=require"
    );
    assert_eq!(
        mask_dsn("postgres://mon@db/app?password=hunter2&x=1"),
        "postgres://mon@db/app?password=****&x=1"
    );
    assert_eq!(
        mask_dsn("host=db password='hun ter2' user=mon"),
        "host=db password=**** user=mon"
    );
    assert_eq!(
        mask_dsn("host=db password=hunter2"),
        "host=db password=****"
    );
    let c = parse("targets:\n  - name: a\n    dsn: postgresql://u:hunter2@127.0.0.1/db\n").unwrap();
    let y = c.masked_yaml();
    assert!(!y.contains("hunter2"), "{y}");
    assert!(y.contains("u:****@"), "{y}");
}

#[test]
fn shards_split_the_targets_exactly_and_stably() {
    let names: Vec<String> = (0..200).map(|i| format!("db-{i}")).collect();
    let mut yaml = String::from("targets:\n");
    for n in &names {
        yaml.push_str(&format!("  - {{name: {n}, dsn: \"host=127.0.0.1\"}}\n"));
    }
    let mut seen = std::collections::BTreeMap::new();
    for index in 0..3 {
        let c = parse(&format!("{yaml}shard: {{index: {index}, count: 3}}\n")).unwrap();
        let sh = c.shard.unwrap();
        let owned: Vec<_> = c
            .resolve_targets()
            .unwrap()
            .into_iter()
            .filter(|t| sh.owns(&t.name))
            .collect();
        assert!(owned.len() > 40, "shard {index}: {}", owned.len());
        for t in owned {
            assert!(
                seen.insert(t.name, index).is_none(),
                "a target in two shards"
            );
        }
    }
    assert_eq!(seen.len(), names.len());
    // Stable: the assignment depends on the name only.
    assert_eq!(Shard::of("db-7", 3), Shard::of("db-7", 3));
    // Pinned: changing the hash would move targets between daemons on upgrade.
    assert_eq!(Shard::of("main", 3), 2);
    let e = parse(&format!("{yaml}shard: {{index: 3, count: 3}}\n")).unwrap_err();
    assert_eq!(e.key, "shard");
}

#[test]
fn databases_accepts_auto_or_a_list() {
    let c = parse("targets:\n  - name: a\n    dsn: host=x\n    databases: auto\n").unwrap();
    assert_eq!(c.targets[0].databases, Databases::Auto);
    let c = parse("targets:\n  - name: a\n    dsn: host=x\n    databases: [x, y]\n").unwrap();
    assert_eq!(
        c.targets[0].databases,
        Databases::List(vec!["x".into(), "y".into()])
    );
    let e = parse("targets:\n  - name: a\n    dsn: host=x\n    databases: all\n").unwrap_err();
    assert_eq!(e.key, "targets[0].databases");
}

#[test]
fn shipped_config_yaml_is_valid() {
    let text = include_str!("../../config.yaml");
    parse(text).unwrap();
}

#[test]
fn zero_durations_only_where_zero_means_at_once() {
    let base = "targets:\n  - name: a\n    dsn: postgresql://m@127.0.0.1/app\n";
    let c = parse(&format!(
        "{base}alerts:\n  hold_absent: 0s\n  builtin:\n    SlowQuery: {{for: 0s, keep_firing_for: 0s}}\n  rules:\n    - alert: X\n      expr: up > 1\n      for: 0s\n"
    ))
    .unwrap();
    assert_eq!(c.alerts.hold_absent, Dur::zero());
    assert_eq!(c.alerts.builtin["SlowQuery"].for_, Some(Dur::zero()));
    assert_eq!(c.alerts.rules[0].for_, Dur::zero());
    assert!(c.masked_yaml().contains("hold_absent: 0s"));
    let e = parse(&format!(
        "{base}collectors:\n  statements:\n    interval: 0s\n"
    ))
    .unwrap_err();
    assert_eq!(e.line, Some(6), "{e}");
    assert_eq!(e.key, "collectors.statements.interval", "{e}");
    assert!(e.message.contains("must be greater than zero"), "{e}");
    let e = parse(&format!("{base}alerts:\n  hold_absent: soon\n")).unwrap_err();
    assert!(e.message.contains("write e.g. `0s`"), "{e}");
}

#[test]
fn pgbouncers_share_the_name_space_and_the_secret_handling_of_targets() {
    let base = "targets:\n  - name: a\n    dsn: postgresql://m@127.0.0.1/app\npgbouncers:\n";
    let e = error_on_line(
        &format!("{base}  - name: a\n    dsn: host=127.0.0.1 port=6432 user=stats\n"),
        5,
    );
    assert_eq!(e.key, "pgbouncers[0].name");
    assert!(e.message.contains("used twice"), "{e}");
    let e = error_on_line(&format!("{base}  - name: pool\n"), 5);
    assert_eq!(e.key, "pgbouncers[0]");
    assert!(e.message.contains("`dsn` or `dsn_env`"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let c = parse(&format!(
        "{base}  - name: pool\n    dsn: host=127.0.0.1 port=6432 user=stats\n    password_file: {}\n",
        pw.display()
    ))
    .unwrap();
    let b = &c.resolve_pgbouncers().unwrap()[0];
    assert_eq!(b.pg.get_password(), Some(&b"s3cret"[..]));
    assert_eq!(b.pg.get_dbname(), Some("pgbouncer"));
    assert!(!c.masked_yaml().contains("s3cret"));
    let e = parse(&format!(
        "{base}  - name: pool\n    dsn: host=127.0.0.1 user=stats\n    password_file: {}/missing\n",
        dir.path().display()
    ))
    .unwrap_err();
    assert_eq!(e.key, "pgbouncers[0].password_file");
    // PgBouncers alone are enough to watch; nothing at all is not.
    let c = parse("pgbouncers:\n  - name: pool\n    dsn: host=127.0.0.1 port=6432 user=stats\n")
        .unwrap();
    assert!(c.targets.is_empty());
    let e = parse("listen: 127.0.0.1:1\n").unwrap_err();
    assert!(
        e.message
            .contains("at least one target, pgbouncer or target file"),
        "{e}"
    );
}

#[test]
fn target_files_alone_are_enough_and_their_patterns_are_checked() {
    let c = parse("target_files: [/etc/pgvitals/targets/*.yaml]\n").unwrap();
    assert!(c.targets.is_empty());
    assert_eq!(c.target_files_refresh.0, Duration::from_secs(30));
    let e = parse("target_files:\n  - /etc/*/targets.yaml\n").unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.line),
        ("target_files[0]", Some(2)),
        "{e}"
    );
    assert!(e.message.contains("last path segment"), "{e}");
    let e = parse("target_files: [t.yaml]\ntarget_files_refresh: 0s\n").unwrap_err();
    assert_eq!(e.key, "target_files_refresh", "{e}");
    let e = parse("listen: 127.0.0.1:1\n").unwrap_err();
    assert!(e.message.contains("target file"), "{e}");
}

#[test]
fn relative_target_files_are_read_beside_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, "target_files: [targets/*.yaml, /abs/t.json]\n").unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(
        c.target_files,
        [
            dir.path().join("targets/*.yaml").display().to_string(),
            "/abs/t.json".to_string()
        ]
    );
}
