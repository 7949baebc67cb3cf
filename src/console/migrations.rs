//! `/ui/migrations`: the schema changes running now (statement, age, the tables they lock, the
//! sessions queued behind them, the safe-migration rules they break with the safe recipe), each
//! version table's revision, and the migrations seen with their durations. From the values
//! `/migrations` serves as JSON.

use std::fmt::Write as _;

use serde_json::Value;

use crate::pages;
use crate::snapshot::Snapshot;

use super::html::{ago, badge, document, empty, esc, f, list, s, seconds, td_num, thead};

/// The page.
pub fn render(snapshot: &Snapshot) -> String {
    let v = pages::migrations::value(snapshot);
    let databases = list(&v, "databases");
    let mut out = String::new();
    if databases.is_empty() {
        out.push_str(&empty(
            "No database polled by the migrations collector yet.",
        ));
    }
    let running: usize = databases.iter().map(|d| list(d, "running").len()).sum();
    let _ = write!(
        out,
        "<p class=\"summary\">{}</p>",
        if running == 0 {
            badge("good", "no schema change running")
        } else {
            badge("warn", &format!("{running} schema changes running"))
        }
    );
    let seen_nothing = |d: &Value| {
        ["running", "revisions", "history"]
            .iter()
            .all(|k| list(d, k).is_empty())
    };
    let quiet = databases.iter().filter(|d| seen_nothing(d)).count();
    if quiet > 0 {
        let _ = write!(
            out,
            "<p><small>{quiet} databases with no version table and no schema change seen since pgvitals started are not listed.</small></p>"
        );
    }
    for db in databases {
        if seen_nothing(db) {
            continue;
        }
        let _ = write!(
            out,
            "<section><h2>{}/{}</h2>",
            esc(s(db, "target")),
            esc(s(db, "database"))
        );
        for r in list(db, "running") {
            let blocked = f(r, "blocked_sessions").unwrap_or(0.0);
            let _ = write!(
                out,
                "<article class=\"change {}\"><h3>{} · pid {} · running {} {}</h3><pre class=\"sql\">{}</pre><p>tables: {}</p>",
                if list(r, "risks").is_empty() { "none" } else { "warn" },
                esc(s(r, "kind")),
                f(r, "pid").unwrap_or(0.0),
                seconds(f(r, "age_seconds")),
                if blocked > 0.0 {
                    badge("bad", &format!("{blocked} sessions queued behind it"))
                } else {
                    String::new()
                },
                esc(s(r, "query")),
                esc(&list(r, "tables")
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
            );
            for risk in list(r, "risks") {
                let _ = write!(
                    out,
                    "<p>{} on <code>{}.{}</code>: {}<br><strong>Safe recipe:</strong> {}</p>",
                    badge("warn", s(risk, "rule")),
                    esc(s(risk, "schema")),
                    esc(s(risk, "table")),
                    esc(s(risk, "message")),
                    esc(s(risk, "fix"))
                );
            }
            out.push_str("</article>");
        }
        let revisions = list(db, "revisions");
        if !revisions.is_empty() {
            out.push_str("<h3>Revisions</h3><table>");
            out.push_str(&thead(&[
                ("Version table", false),
                ("Revision", false),
                ("Since", false),
            ]));
            out.push_str("<tbody>");
            for r in revisions {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                    esc(s(r, "table")),
                    esc(s(r, "revision")),
                    ago(f(r, "first_seen"))
                );
            }
            out.push_str("</tbody></table>");
        }
        let history = list(db, "history");
        out.push_str("<h3>History</h3>");
        if history.is_empty() {
            out.push_str(&empty("No migration observed since pgvitals started."));
            out.push_str("</section>");
            continue;
        }
        out.push_str("<table class=\"sortable\">");
        out.push_str(&thead(&[
            ("Observed", false),
            ("Version table", false),
            ("From → to", false),
            ("Duration", true),
            ("Statements", false),
        ]));
        out.push_str("<tbody>");
        for m in history {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code> → <code>{}</code></td>{}<td><code>{}</code></td></tr>",
                ago(f(m, "observed_at")),
                esc(m["table"].as_str().unwrap_or("–")),
                esc(m["from_revision"].as_str().unwrap_or("–")),
                esc(m["to_revision"].as_str().unwrap_or("–")),
                td_num(f(m, "duration_seconds"), &seconds(f(m, "duration_seconds"))),
                esc(&list(m, "statements")
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; "))
            );
        }
        out.push_str("</tbody></table></section>");
    }
    document("Migrations", "/ui/migrations", &out)
}
