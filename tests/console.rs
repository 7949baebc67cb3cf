//! The web console in a real browser: a slow statement fires `SlowQuery` on a schema with an
//! unindexed foreign key, and headless Chromium (Debian's `chromium`, or `PGVITALS_CHROMIUM`)
//! loads every page. Each page shows what a person needs (the target and its state, the firing
//! alert with its annotation, the statement's text, the finding with its fix), every link on it
//! resolves, and no page carries inline style or script (the Content-Security-Policy allows
//! neither). Screenshots go to the test's temp directory (paths printed); with
//! `PGVITALS_UPDATE_SCREENSHOTS=1` they are also copied to `docs/` for the README. With basic
//! auth configured, every console page answers 401 without credentials.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

fn chromium() -> String {
    std::env::var("PGVITALS_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// Chromium's arguments for one headless run (`--no-sandbox`: the tests may run as root).
fn browser_args(profile: &Path) -> Vec<String> {
    vec![
        "--headless".into(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--no-first-run".into(),
        "--hide-scrollbars".into(),
        format!("--user-data-dir={}", profile.display()),
    ]
}

/// The DOM of `url` after Chromium ran the page (its script included).
async fn dump_dom(profile: &Path, url: &str) -> String {
    let out = tokio::process::Command::new(chromium())
        .args(browser_args(profile))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {} (install Debian's chromium): {e}", chromium()));
    assert!(
        out.status.success(),
        "chromium --dump-dom {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 DOM")
}

/// A screenshot of `url` at 1280×900 into `file`.
async fn screenshot(profile: &Path, url: &str, file: &Path) {
    let out = tokio::process::Command::new(chromium())
        .args(browser_args(profile))
        .arg("--window-size=1280,900")
        .arg(format!("--screenshot={}", file.display()))
        .arg(url)
        .output()
        .await
        .expect("running chromium");
    assert!(
        out.status.success() && file.metadata().map(|m| m.len() > 10_000).unwrap_or(false),
        "screenshot of {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every same-site link target of a page (`href="/…"`), without its fragment.
fn links(html: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for part in html.split("href=\"").skip(1) {
        let link = part.split('"').next().unwrap_or("").replace("&amp;", "&");
        let link = link.split('#').next().unwrap_or("").to_string();
        if link.starts_with('/') {
            out.insert(link);
        }
    }
    out
}

async fn slow_workload(dsn: String) {
    let c = connect(&dsn).await;
    loop {
        c.query(
            "SELECT count(*), pg_sleep(0.15) FROM sprint_tasks WHERE sprint_id = $1",
            &[&7_i64],
        )
        .await
        .expect("the slow statement");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_page_shows_what_a_person_needs_in_a_real_browser() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "console").await;
    let app = connect(&cluster.dsn("postgres", &db)).await;
    app.batch_execute(
        "CREATE EXTENSION pg_stat_statements;
         CREATE TABLE sprints (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL,
                               created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE sprint_tasks (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                    sprint_id bigint NOT NULL REFERENCES sprints (id) ON DELETE CASCADE,
                                    title text NOT NULL,
                                    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO sprints (name) SELECT 'sprint ' || g FROM generate_series(1, 100) g;
         INSERT INTO sprint_tasks (sprint_id, title) SELECT 1 + g % 100, 'task' FROM generate_series(1, 20000) g;
         ANALYZE;
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO pgvitals_monitor;",
    )
    .await
    .unwrap();
    let workload = tokio::spawn(slow_workload(cluster.dsn("postgres", &db)));
    let daemon = start(config(
        cluster,
        &db,
        "collectors:\n  statements: {interval: 1s}\n  plans: {interval: 1s, max_per_minute: 120}\n  indexes: {interval: 1s, findings_interval: 1s}\nalerts:\n  evaluation_interval: 1s\n  builtin:\n    SlowQuery: {for: 1s}\n",
    ))
    .await;
    let addr = daemon.addr();
    let firing = wait_firing(
        &daemon,
        Duration::from_secs(60),
        "SlowQuery",
        &[("target", "main")],
    )
    .await;
    let queryid = firing["labels"]["queryid"].as_str().unwrap().to_string();
    let summary = firing["annotations"]["summary"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for_json(
        &daemon,
        &format!("/statements/{queryid}"),
        Duration::from_secs(60),
        "the slow statement's plan and suggestion",
        |v| !v["plan"].is_null() && !v["suggestions"].as_array().is_none_or(Vec::is_empty),
    )
    .await;
    wait_for_json(
        &daemon,
        "/findings",
        Duration::from_secs(60),
        "the unindexed foreign key in /findings",
        |v| v.to_string().contains("unindexed_foreign_key"),
    )
    .await;

    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("profile");
    let base = format!("http://{addr}");
    let page = |path: &str| format!("{base}{path}");

    // The overview: the target, up, its version, the four targets, the firing alert.
    let overview = dump_dom(&profile, &page("/")).await;
    for needle in [
        ">main<",
        ">up<",
        "Query performance",
        "Index effectiveness",
        "Connection efficiency",
        "Migration speed",
        "SlowQuery",
        ">firing<",
        summary.as_str(),
        "Collectors",
        " ok<",
    ] {
        assert!(
            overview.contains(&crate::esc(needle)) || overview.contains(needle),
            "the overview lacks {needle:?}:\n{overview}"
        );
    }
    assert!(
        overview.contains(&format!("/ui/statements/{queryid}")),
        "the overview does not link the statement"
    );

    let statements = dump_dom(&profile, &page("/ui/statements?window=15m")).await;
    assert!(statements.contains("pg_sleep"), "{statements}");
    assert!(statements.contains(&queryid), "{statements}");
    let one = dump_dom(&profile, &page(&format!("/ui/statements/{queryid}"))).await;
    for needle in [
        "pg_sleep",
        "<svg",
        "<h2>History</h2>",
        "<h2>Plan</h2>",
        "Seq Scan on public.sprint_tasks",
        "<h2>Suggestions</h2>",
        "CREATE INDEX CONCURRENTLY",
        "(sprint_id)",
        // Another window keeps to the same target's statement.
        "href=\"?window=24h&amp;target=main\"",
    ] {
        assert!(
            one.contains(needle),
            "the statement page lacks {needle:?}:\n{one}"
        );
    }
    let findings = dump_dom(&profile, &page("/ui/findings")).await;
    assert!(findings.contains("unindexed_foreign_key"), "{findings}");
    assert!(findings.contains("public.sprint_tasks"), "{findings}");
    assert!(
        findings.contains("CREATE INDEX CONCURRENTLY"),
        "the finding carries no fix:\n{findings}"
    );
    let alerts = dump_dom(&profile, &page("/ui/alerts")).await;
    assert!(
        alerts.contains("SlowQuery") && alerts.contains("firing"),
        "{alerts}"
    );
    assert!(
        alerts.contains("TargetDown") && alerts.contains("inactive"),
        "{alerts}"
    );
    let migrations = dump_dom(&profile, &page("/ui/migrations")).await;
    assert!(
        migrations.contains("no schema change running"),
        "{migrations}"
    );
    let connections = dump_dom(&profile, &page("/ui/connections")).await;
    assert!(
        connections.contains("Holders") && connections.contains("postgres"),
        "{connections}"
    );

    // Every link of every page resolves; no page has inline style or script.
    let pages = [
        ("/", &overview),
        ("/ui/statements", &statements),
        ("/ui/statements/{queryid}", &one),
        ("/ui/findings", &findings),
        ("/ui/alerts", &alerts),
        ("/ui/migrations", &migrations),
        ("/ui/connections", &connections),
    ];
    let mut checked = BTreeSet::new();
    for (name, html) in pages {
        assert!(!html.contains(" style=\""), "{name} has an inline style");
        assert!(
            !html.contains("<script>"),
            "{name} has an inline script (only /ui/console.js is allowed)"
        );
        for link in links(html) {
            if checked.insert(link.clone()) {
                let (status, body) = get(addr, &link).await;
                assert_ne!(
                    status, 404,
                    "{name} links {link}, which is not found: {body}"
                );
                assert_eq!(status, 200, "{name} links {link}: {status} {body}");
            }
        }
    }
    assert!(
        checked.len() >= 15,
        "only {} links checked: {checked:?}",
        checked.len()
    );
    let (status, head) = raw_head(addr, "/").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains(
            "content-security-policy: default-src 'none'; style-src 'self'; script-src 'self'"
        ),
        "{head}"
    );

    // Screenshots, kept with the test's files.
    let shots = std::env::var_os("PGVITALS_SCREENSHOTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&shots).unwrap();
    for (name, path) in [
        ("overview", "/".to_string()),
        ("statement", format!("/ui/statements/{queryid}")),
        ("findings", "/ui/findings".to_string()),
        ("alerts", "/ui/alerts".to_string()),
    ] {
        let file = shots.join(format!("console-{name}.png"));
        screenshot(&profile, &page(&path), &file).await;
        println!("screenshot: {}", file.display());
        if std::env::var_os("PGVITALS_UPDATE_SCREENSHOTS").is_some() {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::copy(&file, docs.join(format!("console-{name}.png"))).unwrap();
        }
    }
    if std::env::var_os("PGVITALS_SCREENSHOTS_DIR").is_none() {
        // Kept past the test for a look: the temp dir is left in place.
        let kept = tmp.keep();
        println!("screenshots kept in {}", kept.display());
    }
    workload.abort();
    daemon.shutdown().await;
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// (status, response head) of `GET path`.
async fn raw_head(addr: SocketAddr, path: &str) -> (u16, String) {
    let raw = raw_get(addr, path, &[]).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_string();
    (parse_response(&raw).0, head)
}

/// The status of `GET path` with an `Authorization` header (or none).
async fn get_with(addr: SocketAddr, path: &str, auth: Option<&str>) -> u16 {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
    parse_response(&raw_get(addr, path, &headers).await).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_basic_auth_every_console_page_needs_credentials() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "console_auth").await;
    let hash = bcrypt::hash("console-secret-3", 4).unwrap();
    let daemon = start(config(
        cluster,
        &db,
        &format!("web:\n  basic_auth_users:\n    oncall: '{hash}'\n"),
    ))
    .await;
    let addr = daemon.addr();
    let good = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "oncall:console-secret-3"
        )
    );
    let bad = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "oncall:wrong")
    );
    for path in [
        "/",
        "/ui",
        "/ui/statements",
        "/ui/statements?window=1h&order=mean",
        "/ui/statements/123",
        "/ui/findings",
        "/ui/migrations",
        "/ui/alerts",
        "/ui/connections",
        "/ui/style.css",
        "/ui/console.js",
    ] {
        assert_eq!(
            get_with(addr, path, None).await,
            401,
            "{path} without credentials"
        );
        assert_eq!(
            get_with(addr, path, Some(&bad)).await,
            401,
            "{path} with a wrong password"
        );
        let expected = if path == "/ui/statements/123" {
            404
        } else {
            200
        };
        assert_eq!(
            get_with(addr, path, Some(&good)).await,
            expected,
            "{path} with credentials"
        );
    }
    daemon.shutdown().await;
}
