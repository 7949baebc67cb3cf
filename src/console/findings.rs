//! `/ui/findings`: what to fix in the schema and its upkeep, grouped by kind (unused and
//! duplicate indexes, unindexed foreign keys, bloat, autovacuum overdue, sequences near
//! exhaustion, the team's standards), largest first, each with the bytes it costs and the fix;
//! `target=` shows one target only. Read from the findings reports themselves (a fleet has
//! tens of thousands of findings): only the rows shown are rendered.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::detail::{Finding, Report};
use crate::pages::param;
use crate::snapshot::Snapshot;

use super::html::{bytes, document, empty, esc, s, td_num, thead};

/// Rows shown per kind, largest first.
const MAX_ROWS: usize = 100;

/// The page.
pub fn render(snapshot: &Snapshot, query: &str) -> String {
    let only = param(query, "target");
    let entries = snapshot.entries();
    let plans = crate::pages::findings::plans_by_database(&entries);
    let mut by_kind: BTreeMap<&str, Vec<(&str, &str, &Finding)>> = BTreeMap::new();
    for (key, entry) in &entries {
        let Some(Report::Findings(r)) = &entry.report else {
            continue;
        };
        if only.is_some_and(|o| o != key.target) {
            continue;
        }
        for f in &r.findings {
            by_kind.entry(f.kind).or_default().push((
                key.target.as_str(),
                key.database.as_str(),
                f,
            ));
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
    let size = |f: &Finding| f.bytes.unwrap_or(0.0);
    for (kind, mut rows) in by_kind {
        let found = rows.len();
        let total: f64 = rows.iter().map(|r| size(r.2)).sum();
        if rows.len() > MAX_ROWS {
            rows.select_nth_unstable_by(MAX_ROWS, |a, b| size(b.2).total_cmp(&size(a.2)));
            rows.truncate(MAX_ROWS);
        }
        rows.sort_by(|a, b| size(b.2).total_cmp(&size(a.2)));
        let _ = write!(
            out,
            "<section id=\"{0}\"><h2>{0} <small>{1} found{2}</small></h2><table class=\"sortable findings\">",
            esc(kind),
            found,
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
        for (target, database, f) in rows {
            let mut object = format!("{}.{}", f.schema, f.table);
            for (key, x) in [
                ("index", &f.index),
                ("constraint", &f.constraint),
                ("column", &f.column),
                ("sequence", &f.sequence),
            ] {
                if let Some(x) = x {
                    let _ = write!(object, " · {key} {x}");
                }
            }
            let _ = write!(
                out,
                "<tr><td>{}/{}</td><td><code>{}</code></td>{}<td class=\"fix\">{}",
                esc(target),
                esc(database),
                esc(&object),
                td_num(f.bytes, &bytes(f.bytes)),
                esc(&f.detail)
            );
            if f.kind == "unindexed_foreign_key" {
                let plans = plans.get(&(target, database)).copied();
                for st in crate::pages::findings::costs(f, plans) {
                    let _ = write!(out, "<br><small>{}</small>", esc(s(&st, "detail")));
                }
            }
            out.push_str("</td></tr>");
        }
        out.push_str("</tbody></table>");
        if found > MAX_ROWS {
            let _ = write!(
                out,
                "<p><small>… and {} more, smaller; pick a target (<code>?target=</code>, the overview links it) or read <a href=\"/findings\">/findings</a> for all.</small></p>",
                found - MAX_ROWS
            );
        }
        out.push_str("</section>");
    }
    document("Findings", "/ui/findings", &out)
}
