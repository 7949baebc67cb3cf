//! The `pgvitals` binary: check-config, version, and the demo.

mod common;

use std::process::{Command, Stdio};

fn pgvitals() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pgvitals"))
}

#[test]
fn check_config_names_file_line_and_key_of_a_typo() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.yaml");
    std::fs::write(
        &path,
        "listen: 127.0.0.1:9816\ntargets:\n  - name: main\n    dsn: host=127.0.0.1\ncollectors:\n  table_sizes:\n    intervall: 5m\n",
    )
    .unwrap();
    let out = pgvitals().arg("check-config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "{}:7:5: key `collectors.table_sizes.intervall`: unknown field `intervall`",
        path.display()
    );
    assert!(err.contains(&want), "{err}");
}

#[test]
fn check_config_prints_the_effective_config_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.yaml");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "file-secret-1\n").unwrap();
    std::fs::write(
        &path,
        format!(
            "targets:\n  - name: main\n    dsn: \"postgresql://mon:${{PGVITALS_T_PW}}@127.0.0.1/app\"\n  - name: other\n    dsn: \"host=127.0.0.1 password=kw-secret-2\"\n    password_file: {}\n",
            pw.display()
        ),
    )
    .unwrap();
    let out = pgvitals()
        .arg("check-config")
        .arg(&path)
        .env("PGVITALS_T_PW", "env-secret-3")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in ["file-secret-1", "kw-secret-2", "env-secret-3"] {
        assert!(!all.contains(secret), "{secret} leaked:\n{all}");
    }
    assert!(all.contains("mon:****@127.0.0.1/app"), "{all}");
    assert!(all.contains("password=****"), "{all}");
    assert!(all.contains("index_hit_ratio: 0.9"), "{all}");
}

#[test]
fn version_and_help() {
    let out = pgvitals().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("pgvitals {}", env!("CARGO_PKG_VERSION"))
    );
    let out = pgvitals().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["run", "check-config", "demo", "--log-format"] {
        assert!(help.contains(cmd), "{help}");
    }
}

/// `pgvitals demo` on this machine: serves /metrics for a real cluster, then cleans up on SIGTERM.
#[test]
fn demo_serves_metrics_and_removes_its_cluster() {
    use std::io::BufRead;
    let port = pgvitals::pgcluster::free_port().unwrap();
    let mut child = pgvitals()
        .args([
            "--log-format",
            "json",
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    let mut cluster_dir = None;
    // Read the daemon's log until it says the demo target has been polled once.
    for line in lines.by_ref() {
        let line = line.unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if let Some(dir) = v["fields"]["dir"].as_str() {
            cluster_dir = Some(std::path::PathBuf::from(dir));
        }
        log.push(line);
        if v["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("target ready"))
        {
            break;
        }
    }
    let body = http_get(port, "/metrics").unwrap_or_default();
    assert!(
        body.contains("pgvitals_up{target=\"demo\"} 1"),
        "{body}\n{log:?}"
    );
    assert!(body.contains("pgvitals_table_total_bytes{target=\"demo\",database=\"demo\",schema=\"public\",table=\"orders\"}"), "{body}");
    let cluster_dir = cluster_dir.expect("the demo logs its cluster directory");
    assert!(cluster_dir.join("data").is_dir());

    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    log.extend(lines.map_while(Result::ok));
    let status = child.wait().unwrap();
    assert!(status.success(), "{log:?}");
    assert!(
        log.iter().any(|l| l.contains("demo cluster removed")),
        "{log:?}"
    );
    assert!(
        !cluster_dir.exists(),
        "{} left behind",
        cluster_dir.display()
    );
}

fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

fn promtool(args: &[&str], dir: &std::path::Path) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool is needed for this test (Debian package `prometheus`)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

/// `pgvitals rules` on the shipped config.yaml passes `promtool check rules`, and the repo's
/// promtool unit tests (tests/promtool/rules_test.yml) pass against it.
#[test]
fn rules_pass_promtool_check_and_the_shipped_rule_tests() {
    let dir = tempfile::tempdir().unwrap();
    let out = pgvitals()
        .args([
            "rules",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.path().join("rules.yml"), &out.stdout).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/promtool/rules_test.yml"),
        dir.path().join("rules_test.yml"),
    )
    .unwrap();
    let check = promtool(&["check", "rules", "rules.yml"], dir.path());
    assert!(check.contains("SUCCESS: 20 rules found"), "{check}");
    let test = promtool(&["test", "rules", "rules_test.yml"], dir.path());
    assert!(test.contains("SUCCESS"), "{test}");

    // The unit tests can fail: a threshold the tests do not expect breaks them.
    let stricter = String::from_utf8(out.stdout).unwrap().replace(
        "pgvitals_database_index_hit_ratio < 0.9",
        "pgvitals_database_index_hit_ratio < 0.5",
    );
    std::fs::write(dir.path().join("rules.yml"), stricter).unwrap();
    let failed = Command::new("promtool")
        .args(["test", "rules", "rules_test.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        !failed.status.success(),
        "promtool accepted rules its tests do not describe"
    );
}

/// `pgvitals run` on SIGHUP: a broken file is refused with its location in the log and
/// `pgvitals_config_last_reload_successful 0`, the process keeps serving; a good file applies.
/// The target is unreachable on purpose: a down database is a metric, not a reason to stop.
#[test]
fn sighup_reloads_and_a_broken_file_keeps_the_running_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pgvitals.yaml");
    let port = pgvitals::pgcluster::free_port().unwrap();
    let good = |interval: &str| {
        format!(
            "listen: 127.0.0.1:{port}\ntargets:\n  - name: main\n    dsn: host=127.0.0.1 port=1 user=x connect_timeout=1\ncollectors:\n  connection: {{interval: {interval}}}\n"
        )
    };
    std::fs::write(&path, good("1s")).unwrap();
    let mut child = pgvitals()
        .args(["--log-format", "json", "run", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = common::LogLines::read(child.stderr.take().unwrap());
    log.wait_for("pgvitals listening");
    std::fs::write(&path, good("1s").replace("dsn:", "dns:")).unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let refused = log.wait_for("configuration reload refused");
    assert!(
        refused.contains(&format!("{}:4:5: key `targets[0].dns`", path.display())),
        "{refused}"
    );
    let body = http_get(port, "/metrics").unwrap();
    assert!(
        body.contains("pgvitals_config_last_reload_successful 0"),
        "{body}"
    );
    assert!(body.contains("pgvitals_up{target=\"main\"} 0"), "{body}");

    std::fs::write(&path, good("2s")).unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    log.wait_for("configuration reloaded");
    let body = http_get(port, "/metrics").unwrap();
    assert!(
        body.contains("pgvitals_config_last_reload_successful 1"),
        "{body}"
    );

    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

/// Log lines of `pgvitals run` with an unreachable target, read until the target is reported
/// down; `via_terminal` runs it under `script`, so that its stderr is a terminal.
fn log_until_down(via_terminal: bool, no_color: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("down.yaml");
    std::fs::write(
        &path,
        "listen: 127.0.0.1:0\ntargets:\n  - name: main\n    dsn: host=127.0.0.1 port=1 user=x connect_timeout=1\n",
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_pgvitals");
    let mut cmd = if via_terminal {
        let mut c = Command::new("script");
        c.args([
            "-qefc",
            &format!("{bin} run --config {}", path.display()),
            "/dev/null",
        ]);
        c
    } else {
        let mut c = pgvitals();
        c.args(["run", "--config"]).arg(&path);
        c
    };
    cmd.env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let mut child = common::KillOnDrop(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Under `script` the log arrives on its stdout (the terminal's output), else on stderr.
    let mut log = if via_terminal {
        common::LogLines::read(child.0.stdout.take().unwrap())
    } else {
        common::LogLines::read(child.0.stderr.take().unwrap())
    };
    log.wait_for("target is down");
    log.lines.join("\n")
}

#[test]
fn logs_are_coloured_only_on_a_terminal_without_no_color() {
    let piped = log_until_down(false, false);
    assert!(!piped.contains('\x1b'), "colour in a pipe: {piped:?}");
    let terminal = log_until_down(true, false);
    assert!(
        terminal.contains("\x1b["),
        "no colour on a terminal: {terminal:?}"
    );
    let no_color = log_until_down(true, true);
    assert!(
        !no_color.contains('\x1b'),
        "colour despite NO_COLOR: {no_color:?}"
    );
}
