//! `pgvitals report`: one look at every target, for a terminal or a CI gate.
//!
//! Starts the daemon in-process (listening on a free loopback port, nothing else exposed),
//! waits until every target that is up has been polled twice by the statements and indexes
//! collectors (the first poll is the baseline of the interval figures), evaluates the alert
//! rules once and prints what the console's overview shows: each target's four performance
//! targets met or missed with their values, the top statements, the findings with their fixes,
//! the schema changes running, and the alerts whose condition holds. A one-shot check cannot
//! wait out a rule's `for`, so an alert counts when its condition holds (pending or firing).
//!
//! The verdict ([`Report::problems`]): a target down, a performance target missed, or an alert
//! at or above `--fail-on` (critical by default) makes the report fail (exit 1).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::alerts::goals::TargetStatus;
use crate::config::Config;
use crate::daemon::Daemon;
use crate::pages;
use crate::template::{humanize, humanize_1024, humanize_duration};

/// Statements listed per target.
const TOP_STATEMENTS: usize = 10;
/// Findings listed per target (all are counted).
const TOP_FINDINGS: usize = 20;

/// The lowest alert severity that fails the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    /// Critical alerts only.
    Critical,
    /// Warning and critical alerts.
    Warning,
}

impl FailOn {
    fn fails(self, severity: &str) -> bool {
        match self {
            FailOn::Critical => severity == "critical",
            FailOn::Warning => severity == "critical" || severity == "warning",
        }
    }
}

/// What the report found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// pgvitals' version.
    pub pgvitals_version: &'static str,
    /// When the report was made (RFC 3339).
    pub generated_at: String,
    /// The `--fail-on` level.
    pub fail_on: FailOn,
    /// Whether the report passes (no problem).
    pub ok: bool,
    /// Why it fails, one line each.
    pub problems: Vec<String>,
    /// Every target's state and four performance targets.
    pub targets: Vec<TargetStatus>,
    /// Alerts whose condition holds.
    pub alerts: Vec<Value>,
    /// The costliest statements of each target since the report started.
    pub statements: Vec<Value>,
    /// Findings, largest first, at most [`TOP_FINDINGS`] per target.
    pub findings: Vec<Value>,
    /// Findings per kind, all of them.
    pub finding_counts: BTreeMap<String, usize>,
    /// Schema changes running, with the rules they break.
    pub migrations: Vec<Value>,
    /// Anything the report could not wait for.
    pub notes: Vec<String>,
}

/// Tunes `config` for one look: a loopback listener on a free port, no Alertmanager delivery,
/// and the indexes collector on the statements collector's interval (the hit ratio needs two
/// polls too).
pub fn prepare(mut config: Config) -> Config {
    config.listen = "127.0.0.1:0".parse().expect("a socket address");
    config.alertmanager = None;
    config.web = Default::default();
    let interval = config.collectors.statements.interval;
    if config.collectors.indexes.interval.0 > interval.0 {
        config.collectors.indexes.interval = interval;
    }
    config
}

/// Connects to every target once (the DSN given on the command line must work: a report of a
/// server it cannot reach is bad input, exit 2). The error names the server, never the
/// password.
pub async fn check_connect(config: &Config) -> anyhow::Result<()> {
    for t in config.resolve_targets()? {
        let pg = crate::db::session_config(&t, &t.primary_database, &config.connections);
        let tls = crate::db::tls_connector(&t.tls)?;
        let deadline = crate::db::connect_deadline(&pg);
        crate::db::probe(&pg, &tls, deadline, false, false)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect: {e}"))?;
    }
    Ok(())
}

/// Runs the daemon until every reachable target has two polls of statements and indexes (or
/// `patience` passed), then makes the report. `progress` draws a waiting line on stderr.
pub async fn run(config: Config, fail_on: FailOn, progress: bool) -> anyhow::Result<Report> {
    let interval = config.collectors.statements.interval.0;
    let patience = interval * 3 + Duration::from_secs(30);
    let daemon = Daemon::start(prepare(config)).await?;
    let snapshot = daemon.snapshot().clone();
    let mut changed = snapshot.subscribe();
    let started = Instant::now();
    let mut polls: BTreeMap<crate::snapshot::SourceKey, HashSet<std::time::SystemTime>> =
        BTreeMap::new();
    let mut notes = Vec::new();
    loop {
        let entries = snapshot.entries();
        for (k, e) in &entries {
            if k.collector == "statements" || k.collector == "indexes" {
                polls.entry(k.clone()).or_default().insert(e.at);
            }
        }
        let up: Vec<String> = snapshot
            .telemetry()
            .samples("pgvitals_up")
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, v)| *v == 1.0)
            .filter_map(|(l, _)| l.into_iter().find(|(k, _)| *k == "target").map(|(_, v)| v))
            .collect();
        let ready = snapshot.not_ready().is_empty();
        let settled = up.iter().all(|t| {
            let mine: Vec<_> = polls.iter().filter(|(k, _)| &k.target == t).collect();
            mine.iter().any(|(k, _)| k.collector == "statements")
                && mine.iter().all(|(_, at)| at.len() >= 2)
        });
        if ready && settled {
            break;
        }
        let waited = started.elapsed();
        if waited > patience {
            notes.push(format!(
                "stopped waiting after {}: not every target had two polls of statements and indexes",
                humanize_duration(waited.as_secs_f64().round())
            ));
            break;
        }
        if progress {
            eprint!(
                "\r\x1b[2Kpolling: {} of about {} (statements and indexes are measured over one interval)",
                humanize_duration(waited.as_secs_f64().round()),
                humanize_duration(interval.as_secs_f64() * 2.0)
            );
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), changed.changed()).await;
    }
    if progress {
        eprint!("\r\x1b[2K");
    }
    daemon.alerts().evaluate();
    let report = build(&daemon, fail_on, notes);
    daemon.shutdown().await;
    Ok(report)
}

fn build(daemon: &Daemon, fail_on: FailOn, notes: Vec<String>) -> Report {
    let views = daemon.alerts().views();
    let snapshot = daemon.snapshot();
    let mut problems = Vec::new();
    for t in views.status.iter() {
        if t.up != Some(true) {
            problems.push(format!("target {} is down", t.target));
        }
        for g in t.goals.iter().filter(|g| g.met == Some(false)) {
            problems.push(format!(
                "{} missed on {}: {} (target {})",
                g.title.to_lowercase(),
                t.target,
                g.value_text,
                g.target_text
            ));
        }
    }
    let mut alerts = Vec::new();
    for a in views.active.iter() {
        let severity = a.labels.get("severity").cloned().unwrap_or_default();
        let summary = a.annotations.get("summary").cloned().unwrap_or_default();
        if fail_on.fails(&severity) {
            problems.push(format!("{severity} alert {}: {summary}", a.rule));
        }
        alerts.push(json!({
            "name": a.rule,
            "state": a.state.as_str(),
            "severity": severity,
            "labels": a.labels,
            "summary": summary,
            "description": a.annotations.get("description"),
        }));
    }
    let mut statements = Vec::new();
    let top = pages::statements::top(snapshot, "window=15m&order=total").unwrap_or(Value::Null);
    for t in top["targets"].as_array().into_iter().flatten() {
        for st in t["statements"]
            .as_array()
            .into_iter()
            .flatten()
            .take(TOP_STATEMENTS)
        {
            let mut st = st.clone();
            st["target"] = t["target"].clone();
            statements.push(st);
        }
    }
    let (mut findings, mut finding_counts) = (Vec::new(), BTreeMap::new());
    let mut per_target: BTreeMap<String, usize> = BTreeMap::new();
    let all = pages::findings::value(snapshot);
    for db in all["databases"].as_array().into_iter().flatten() {
        let target = db["target"].as_str().unwrap_or("").to_string();
        for f in db["findings"].as_array().into_iter().flatten() {
            *finding_counts
                .entry(f["kind"].as_str().unwrap_or("").to_string())
                .or_insert(0) += 1;
            let n = per_target.entry(target.clone()).or_insert(0);
            *n += 1;
            if *n <= TOP_FINDINGS {
                findings.push(json!({
                    "target": target,
                    "database": db["database"],
                    "kind": f["kind"],
                    "schema": f["schema"],
                    "table": f["table"],
                    "index": f.get("index"),
                    "bytes": f.get("bytes"),
                    "detail": f["detail"],
                }));
            }
        }
    }
    let mut migrations = Vec::new();
    let m = pages::migrations::value(snapshot);
    for db in m["databases"].as_array().into_iter().flatten() {
        for r in db["running"].as_array().into_iter().flatten() {
            let mut r = r.clone();
            r["target"] = db["target"].clone();
            r["database"] = db["database"].clone();
            migrations.push(r);
        }
    }
    Report {
        pgvitals_version: env!("CARGO_PKG_VERSION"),
        generated_at: crate::clock::rfc3339(std::time::SystemTime::now()),
        fail_on,
        ok: problems.is_empty(),
        problems,
        targets: views.status.as_ref().clone(),
        alerts,
        statements,
        findings,
        finding_counts,
        migrations,
        notes,
    }
}

/// Colours for a terminal; none when piped or with `NO_COLOR`.
pub struct Paint(bool);

impl Paint {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset (no-color.org).
    pub fn for_stdout() -> Paint {
        Paint(
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal(),
        )
    }

    fn code(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn good(&self, t: &str) -> String {
        self.code("32", t)
    }
    fn bad(&self, t: &str) -> String {
        self.code("31;1", t)
    }
    fn warn(&self, t: &str) -> String {
        self.code("33", t)
    }
    fn bold(&self, t: &str) -> String {
        self.code("1", t)
    }
}

/// Rows as columns padded to their widest cell (by characters).
fn table(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            let w = c.chars().count();
            if widths.len() <= i {
                widths.push(w);
            } else {
                widths[i] = widths[i].max(w);
            }
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::from("  ");
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn ms(v: &Value) -> String {
    v.as_f64()
        .map_or("–".into(), |v| humanize_duration(v / 1000.0))
}

/// The report for people.
pub fn render_text(r: &Report, paint: &Paint) -> String {
    let mut out = String::new();
    let verdict = if r.ok {
        paint.good("PASS")
    } else {
        paint.bad("FAIL")
    };
    let _ = writeln!(
        out,
        "{} pgvitals report, {} targets, {}\n",
        verdict,
        r.targets.len(),
        r.generated_at
    );
    for p in &r.problems {
        let _ = writeln!(out, "  {} {p}", paint.bad("✗"));
    }
    if !r.problems.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "{}", paint.bold("Targets"));
    for t in &r.targets {
        let state = match t.up {
            Some(true) => paint.good("up"),
            _ => paint.bad("down"),
        };
        let _ = writeln!(
            out,
            "  {} {state} {}",
            paint.bold(&t.target),
            t.version.as_deref().unwrap_or("")
        );
        let rows: Vec<Vec<String>> = t
            .goals
            .iter()
            .map(|g| {
                let word = match g.met {
                    Some(true) => paint.good("met   "),
                    Some(false) => paint.bad("missed"),
                    None => "no data".to_string(),
                };
                vec![
                    format!("  {word}"),
                    g.title.to_string(),
                    g.value_text.clone(),
                    format!("target {}", g.target_text),
                ]
            })
            .collect();
        out.push_str(&table(&rows));
        if !t.collectors_failing.is_empty() {
            let _ = writeln!(
                out,
                "    {} {}",
                paint.warn("collectors failing:"),
                t.collectors_failing.join(", ")
            );
        }
    }
    let _ = writeln!(out, "\n{}", paint.bold("Alerts whose condition holds"));
    if r.alerts.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for a in &r.alerts {
        let sev = a["severity"].as_str().unwrap_or("");
        let name = a["name"].as_str().unwrap_or("");
        let head = format!("{name} ({sev}, {})", a["state"].as_str().unwrap_or(""));
        let head = if sev == "critical" {
            paint.bad(&head)
        } else {
            paint.warn(&head)
        };
        let _ = writeln!(out, "  {head}: {}", a["summary"].as_str().unwrap_or(""));
        if let Some(d) = a["description"].as_str() {
            let _ = writeln!(out, "    {d}");
        }
    }
    let _ = writeln!(out, "\n{}", paint.bold("Top statements (by total time)"));
    if r.statements.is_empty() {
        let _ = writeln!(out, "  none measured");
    } else {
        let mut rows = vec![vec![
            "target".into(),
            "queryid".into(),
            "calls".into(),
            "mean".into(),
            "p95".into(),
            "total".into(),
            "query".into(),
        ]];
        for s in &r.statements {
            rows.push(vec![
                s["target"].as_str().unwrap_or("").into(),
                s["queryid"].as_str().unwrap_or("").into(),
                s["calls"].as_f64().map_or("–".into(), humanize),
                ms(&s["mean_ms"]),
                ms(&s["p95_ms"]),
                ms(&s["total_ms"]),
                pages::one_line(s["query"].as_str().unwrap_or("(text not read)"), 70),
            ]);
        }
        out.push_str(&table(&rows));
    }
    let total: usize = r.finding_counts.values().sum();
    let _ = writeln!(out, "\n{} ({total})", paint.bold("Findings"));
    for f in &r.findings {
        let object = match f["index"].as_str() {
            Some(i) => format!(
                "{}.{} index {i}",
                f["schema"].as_str().unwrap_or(""),
                f["table"].as_str().unwrap_or("")
            ),
            None => format!(
                "{}.{}",
                f["schema"].as_str().unwrap_or(""),
                f["table"].as_str().unwrap_or("")
            ),
        };
        let bytes = f["bytes"]
            .as_f64()
            .map(|b| format!(" ({}B)", humanize_1024(b)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {}/{} {object}{bytes}\n    {}",
            paint.warn(f["kind"].as_str().unwrap_or("")),
            f["target"].as_str().unwrap_or(""),
            f["database"].as_str().unwrap_or(""),
            f["detail"].as_str().unwrap_or("")
        );
    }
    if total > r.findings.len() {
        let counts: Vec<String> = r
            .finding_counts
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "  … {} more; by kind: {}",
            total - r.findings.len(),
            counts.join(", ")
        );
    }
    let _ = writeln!(out, "\n{}", paint.bold("Schema changes running"));
    if r.migrations.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for m in &r.migrations {
        let _ = writeln!(
            out,
            "  {}/{} pid {} running {}: {}",
            m["target"].as_str().unwrap_or(""),
            m["database"].as_str().unwrap_or(""),
            m["pid"],
            humanize_duration(m["age_seconds"].as_f64().unwrap_or(0.0)),
            pages::one_line(m["query"].as_str().unwrap_or(""), 100)
        );
        for risk in m["risks"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "    {} {}\n    fix: {}",
                paint.warn(risk["rule"].as_str().unwrap_or("")),
                risk["message"].as_str().unwrap_or(""),
                risk["fix"].as_str().unwrap_or("")
            );
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "\nnote: {n}");
    }
    out
}
