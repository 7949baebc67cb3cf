//! `pgvitals lint-migration`, run as CI would run it: a 30-statement migration file with every
//! unsafe shape beside its safe twin (comments, a dollar-quoted function body, `BEGIN`/`COMMIT`)
//! gives exactly the expected findings on the expected lines, as text and as JSON; a clean
//! input exits 0, an unreadable one 2; and `--dsn` replaces the "every table is large" guess
//! with the live sizes of a real server.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lint/migration.sql");

fn lint(args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pgvitals"))
        .arg("lint-migration")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// (line, rule) of every finding the file must give, in order.
const EXPECTED: &[(usize, &str)] = &[
    (11, "create_index_not_concurrently"),
    (13, "constraint_without_not_valid"),
    (15, "validate_in_same_transaction"),
    (17, "constraint_without_not_valid"),
    (20, "column_type_change"),
    (21, "volatile_default"),
    (43, "set_not_null"),
    (47, "concurrently_in_transaction"),
    (52, "vacuum_full"),
];

#[test]
fn the_migration_file_gives_exactly_the_expected_findings() {
    let text = std::fs::read_to_string(FILE).unwrap();
    assert_eq!(
        pgvitals::ddl::split(&text).len(),
        30,
        "statements in the file"
    );
    let (code, out, err) = lint(&[FILE], "");
    assert_eq!(code, Some(1), "{err}");
    let findings: Vec<&str> = out.lines().filter(|l| !l.starts_with("  fix: ")).collect();
    let fixes = out.lines().filter(|l| l.starts_with("  fix: ")).count();
    assert_eq!(fixes, EXPECTED.len(), "{out}");
    let got: Vec<(usize, String)> = findings
        .iter()
        .map(|l| {
            let rest = l
                .strip_prefix(&format!("{FILE}:"))
                .unwrap_or_else(|| panic!("{l}"));
            let mut parts = rest.splitn(4, ':');
            let line = parts.next().unwrap().parse().unwrap();
            assert_eq!(parts.next(), Some("1"), "{l}");
            (line, parts.next().unwrap().trim().to_string())
        })
        .collect();
    let want: Vec<(usize, String)> = EXPECTED.iter().map(|(l, r)| (*l, r.to_string())).collect();
    assert_eq!(got, want, "{out}");
    assert!(
        out.contains(&format!("{FILE}:11:1: create_index_not_concurrently: CREATE INDEX on large table orders blocks its writes for the whole build\n  fix: CREATE INDEX CONCURRENTLY, outside a transaction block\n")),
        "{out}"
    );

    let (code, out, _) = lint(&["--format", "json", FILE], "");
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), EXPECTED.len());
    assert_eq!(items[6]["rule"], "set_not_null");
    assert_eq!(items[6]["line"], 43);
    assert_eq!(items[6]["table"], "orders");
    assert_eq!(items[6]["file"], FILE);
}

#[test]
fn clean_input_exits_0_and_unreadable_input_2() {
    let (code, out, _) = lint(
        &["-"],
        "CREATE TABLE t (id int);\nCREATE INDEX t_id ON t (id);\nCREATE INDEX CONCURRENTLY o ON orders (a);\n",
    );
    assert_eq!((code, out.as_str()), (Some(0), ""));
    let (code, _, err) = lint(&["/nonexistent/V1__init.sql"], "");
    assert_eq!(code, Some(2));
    assert!(
        err.contains("/nonexistent/V1__init.sql: cannot read"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sizes_from_dsn_replace_the_guess() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "lint").await;
    let owner = connect(&cluster.dsn("postgres", &db)).await;
    owner
        .batch_execute(
            "CREATE TABLE big_events (id int, at timestamptz);
             INSERT INTO big_events SELECT g, now() FROM generate_series(1, 1000000) g;
             CREATE TABLE small_events (id int);
             INSERT INTO small_events VALUES (1), (2);
             ANALYZE big_events; ANALYZE small_events;",
        )
        .await
        .unwrap();
    let sql = "CREATE INDEX a ON big_events (at);\nCREATE INDEX b ON small_events (id);\n";
    let dsn = cluster.dsn(MONITOR_ROLE, &db);
    let (code, out, err) = tokio::task::spawn_blocking(move || lint(&["--dsn", &dsn, "-"], sql))
        .await
        .unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        out.lines().filter(|l| !l.starts_with("  fix")).count(),
        1,
        "{out}"
    );
    assert!(
        out.starts_with(
            "<stdin>:1:1: create_index_not_concurrently: CREATE INDEX on large table big_events"
        ),
        "{out}"
    );
    // standards.large_table from a configuration file: from 2 rows, both are large.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgvitals.yaml");
    std::fs::write(
        &file,
        format!(
            "targets:\n  - name: main\n    dsn: \"{}\"\nstandards:\n  large_table: {{rows: 2}}\n",
            cluster.dsn(MONITOR_ROLE, &db)
        ),
    )
    .unwrap();
    let dsn = cluster.dsn(MONITOR_ROLE, &db);
    let path = file.display().to_string();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || lint(&["--dsn", &dsn, "--config", &path, "-"], sql))
            .await
            .unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        out.lines().filter(|l| !l.starts_with("  fix")).count(),
        2,
        "{out}"
    );
    // Without the server every existing table counts as large.
    let (code, out, _) = tokio::task::spawn_blocking(move || lint(&["-"], sql))
        .await
        .unwrap();
    assert_eq!(code, Some(1));
    assert_eq!(
        out.lines().filter(|l| !l.starts_with("  fix")).count(),
        2,
        "{out}"
    );
    // A server that cannot be asked is exit 2, with why.
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        lint(
            &[
                "--dsn",
                "host=127.0.0.1 port=1 user=x connect_timeout=1",
                "-",
            ],
            sql,
        )
    })
    .await
    .unwrap();
    assert_eq!(code, Some(2));
    assert!(err.contains("--dsn: "), "{err}");
}
