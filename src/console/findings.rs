//! `/ui/findings`: what to fix in the schema and its upkeep, grouped by kind (unused and
//! duplicate indexes, unindexed foreign keys, bloat, autovacuum overdue, sequences near
//! exhaustion, the team's standards), largest first, each with the bytes it costs and the fix;
//! `target=` shows one target only. From the values `/findings` serves as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::pages::{self, param};
use crate::snapshot::Snapshot;

use super::html::{bytes, document, empty, esc, f, s, td_num, thead};

/// The page.
pub fn render(snapshot: &Snapshot, query: &str) -> String {
    let only = param(query, "target");
    let v = pages::findings::value(snapshot);
    let mut by_kind: BTreeMap<String, Vec<(String, String, &Value)>> = BTreeMap::new();
    for db in v["databases"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let (target, database) = (s(db, "target"), s(db, "database"));
        if only.is_some_and(|o| o != target) {
            continue;
        }
        for finding in db["findings"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            by_kind
                .entry(s(finding, "kind").to_string())
                .or_default()
                .push((target.to_string(), database.to_string(), finding));
        }
    }
    let mut out = String::new();
    if by_kind.is_empty() {
        out.push_str(&empty(
            "No findings: the indexes, vacuum, bloat, sequences and standards collectors found nothing to fix (or have not polled yet).",
        ));
    } else {
        out.push_str("<ul class=\"kinds\">");
        for (kind, rows) in &by_kind {
            let _ = write!(
                out,
                "<li><a href=\"#{0}\">{0}</a> ({1})</li>",
                esc(kind),
                rows.len()
            );
        }
        out.push_str("</ul>");
    }
    for (kind, mut rows) in by_kind {
        rows.sort_by(|a, b| {
            f(b.2, "bytes")
                .unwrap_or(0.0)
                .total_cmp(&f(a.2, "bytes").unwrap_or(0.0))
        });
        let total: f64 = rows.iter().filter_map(|r| f(r.2, "bytes")).sum();
        let _ = write!(
            out,
            "<section id=\"{0}\"><h2>{0} <small>{1} found{2}</small></h2><table class=\"sortable findings\">",
            esc(&kind),
            rows.len(),
            if total > 0.0 {
                format!(", {} in all", bytes(Some(total)))
            } else {
                String::new()
            }
        );
        out.push_str(&thead(&[
            ("Where", false),
            ("Object", false),
            ("Bytes", true),
            ("What to do", false),
        ]));
        out.push_str("<tbody>");
        for (target, database, finding) in rows {
            let mut object = format!("{}.{}", s(finding, "schema"), s(finding, "table"));
            for key in ["index", "constraint", "column", "sequence"] {
                if let Some(x) = finding[key].as_str() {
                    let _ = write!(object, " · {key} {x}");
                }
            }
            let _ = write!(
                out,
                "<tr><td>{}/{}</td><td><code>{}</code></td>{}<td class=\"fix\">{}",
                esc(&target),
                esc(&database),
                esc(&object),
                td_num(f(finding, "bytes"), &bytes(f(finding, "bytes"))),
                esc(s(finding, "detail"))
            );
            for st in finding["statements"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                let _ = write!(out, "<br><small>{}</small>", esc(s(st, "detail")));
            }
            out.push_str("</td></tr>");
        }
        out.push_str("</tbody></table></section>");
    }
    document("Findings", "/ui/findings", &out)
}
