//! `/statements`: the statements that cost the most in the latest interval of every target,
//! JSON or (`?format=text`) a plain table.

use crate::detail::{Report, StatementsReport};
use crate::snapshot::Snapshot;

use super::{wants_text, Page};

/// The page for the query string `query`.
pub fn page(snapshot: &Snapshot, query: &str) -> Page {
    let mut targets = Vec::new();
    for (key, entry) in snapshot.entries() {
        if let Some(Report::Statements(r)) = &entry.report {
            targets.push((key.target, entry.polled_at_unix(), r.clone()));
        }
    }
    if wants_text(query) {
        let mut out = String::new();
        for (target, _, r) in &targets {
            out.push_str(&render_text(target, r));
        }
        if targets.is_empty() {
            out.push_str("no statements polled yet\n");
        }
        return Page::text(out);
    }
    Page::json(&serde_json::json!({
        "targets": targets.iter().map(|(target, polled_at, r)| {
            serde_json::json!({ "target": target, "polled_at": polled_at, "interval": &**r })
        }).collect::<Vec<_>>()
    }))
}

/// A plain-text table of one target's interval, for `/statements?format=text`.
pub fn render_text(target: &str, r: &StatementsReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let opt =
        |v: Option<f64>, scale: f64| v.map_or("-".to_string(), |v| format!("{:.1}", v * scale));
    let _ = writeln!(
        out,
        "target {target}: interval {} s, {} calls, {:.1} ms total, {} % under {} ms, p95 {} ms, p99 {} ms ({})",
        opt(r.interval_seconds, 1.0),
        r.calls,
        r.total_ms,
        opt(r.under_threshold_ratio, 100.0),
        r.threshold_seconds * 1000.0,
        opt(r.p95_ms, 1.0),
        opt(r.p99_ms, 1.0),
        r.source
    );
    let _ = writeln!(
        out,
        "{:>20} {:>10} {:>12} {:>10} {:>10} {:>10} {:>10} {:>6}  {:<16} {:<16} query",
        "queryid",
        "calls",
        "total_ms",
        "mean_ms",
        "stddev_ms",
        "p95_ms",
        "rows",
        "hit%",
        "database",
        "user"
    );
    for s in r.statements.iter().chain(r.other.iter()) {
        let query: String = s
            .query
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(120)
            .collect();
        let _ = writeln!(
            out,
            "{:>20} {:>10} {:>12.1} {:>10.2} {:>10.2} {:>10} {:>10} {:>6}  {:<16} {:<16} {}",
            s.queryid,
            s.calls,
            s.total_ms,
            s.mean_ms,
            s.stddev_ms,
            opt(s.p95_ms, 1.0),
            s.rows,
            opt(s.hit_ratio, 100.0),
            s.database,
            s.user,
            query
        );
    }
    out.push('\n');
    out
}
