//! `/ui/statements`: the statements that cost the most over a window (15m, 1h, 24h), per
//! target, sortable by total time, mean or calls; `/ui/statements/{queryid}`: one statement's
//! text, its history drawn as inline SVG, its plan as an indented tree, its plan changes, its
//! regression and the indexes suggested for it with the DDL to copy. Both from the values
//! `/statements` serves as JSON.

use std::fmt::Write as _;

use serde_json::Value;

use crate::pages::{self, param};
use crate::snapshot::Snapshot;

use super::html::{self, ago, badge, count, document, empty, esc, f, ms, s, td_num, thead, url};

/// Rows of the list across every target, and of one target's.
const MAX_ROWS_ALL: usize = 50;
const MAX_ROWS_ONE: usize = 200;

const WINDOWS: [&str; 3] = ["15m", "1h", "24h"];
const ORDERS: [(&str, &str); 3] = [
    ("total", "total time"),
    ("mean", "mean"),
    ("calls", "calls"),
];

/// The list page; `target=` shows one target only.
pub fn list(snapshot: &Snapshot, query: &str) -> Result<String, String> {
    let window = param(query, "window").unwrap_or("15m");
    let order = param(query, "order").unwrap_or("total");
    let only = param(query, "target");
    let v = pages::statements::top(snapshot, &format!("window={window}&order={order}"))?;
    let keep = |extra: &str| {
        let mut q = extra.to_string();
        if let Some(t) = only {
            let _ = write!(q, "&target={}", url(t));
        }
        q
    };
    let mut out = String::from("<p class=\"choices\">Window: ");
    for w in WINDOWS {
        if w == window {
            let _ = write!(out, "<strong>{w}</strong> ");
        } else {
            let _ = write!(
                out,
                "<a href=\"/ui/statements?{}\">{w}</a> ",
                keep(&format!("window={w}&order={order}"))
            );
        }
    }
    out.push_str(" · Order by: ");
    for (o, name) in ORDERS {
        if o == order {
            let _ = write!(out, "<strong>{name}</strong> ");
        } else {
            let _ = write!(
                out,
                "<a href=\"/ui/statements?{}\">{name}</a> ",
                keep(&format!("window={window}&order={o}"))
            );
        }
    }
    out.push_str("</p>");
    let targets = html::list(&v, "targets");
    let shown: Vec<&Value> = targets
        .iter()
        .filter(|t| only.is_none_or(|o| s(t, "target") == o))
        .collect();
    if shown.is_empty() {
        out.push_str(&empty(
            "No statements polled yet: the statements collector reports after its second poll (pg_stat_statements must be installed in the target's database).",
        ));
        return Ok(document("Statements", "/ui/statements", &out));
    }
    // One table across the targets shown, costliest first by the chosen order.
    let key = match order {
        "mean" => "mean_ms",
        "calls" => "calls",
        _ => "total_ms",
    };
    let mut rows: Vec<(&str, &Value)> = shown
        .iter()
        .flat_map(|t| {
            t["statements"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |r| (s(t, "target"), r))
        })
        .collect();
    rows.sort_by(|a, b| {
        f(b.1, key)
            .unwrap_or(0.0)
            .total_cmp(&f(a.1, key).unwrap_or(0.0))
    });
    let limit = if only.is_some() {
        MAX_ROWS_ONE
    } else {
        MAX_ROWS_ALL
    };
    let _ = write!(
        out,
        "<p><small>{} statements in the window on {} targets{}</small></p>",
        rows.len(),
        shown.len(),
        if rows.len() > limit {
            format!(
                "; the {limit} costliest shown{}",
                if only.is_none() {
                    " (pick a target for more)"
                } else {
                    ""
                }
            )
        } else {
            String::new()
        }
    );
    if rows.is_empty() {
        out.push_str(&empty("No statement ran in this window."));
    } else {
        out.push_str("<table class=\"sortable statements\">");
        out.push_str(&thead(&[
            ("Statement", false),
            ("Target", false),
            ("Database", false),
            ("User", false),
            ("Calls", true),
            ("Total", true),
            ("Mean", true),
            ("p95", true),
            ("Rows", true),
            ("Hit ratio", true),
        ]));
        out.push_str("<tbody>");
        for (target, r) in rows.iter().take(limit) {
            let queryid = s(r, "queryid");
            let text = r["query"].as_str().unwrap_or("(text not read yet)");
            let _ = write!(
                out,
                "<tr><td class=\"query\"><a href=\"/ui/statements/{}?target={}\">{}</a><br><code>{}</code></td><td><a href=\"/ui/statements?target={}\">{}</a></td><td>{}</td><td>{}</td>{}{}{}{}{}{}</tr>",
                url(queryid),
                url(target),
                esc(queryid),
                esc(&pages::one_line(text, 160)),
                url(target),
                esc(target),
                esc(s(r, "database")),
                esc(s(r, "user")),
                td_num(f(r, "calls"), &count(f(r, "calls"))),
                td_num(f(r, "total_ms"), &ms(f(r, "total_ms"))),
                td_num(f(r, "mean_ms"), &ms(f(r, "mean_ms"))),
                td_num(f(r, "p95_ms"), &ms(f(r, "p95_ms"))),
                td_num(f(r, "rows"), &count(f(r, "rows"))),
                td_num(
                    f(r, "hit_ratio"),
                    &f(r, "hit_ratio").map_or("–".into(), crate::template::humanize_percentage)
                ),
            );
        }
        out.push_str("</tbody></table>");
    }
    let (mut calls, mut total) = (0.0, 0.0);
    for t in &shown {
        if let Some(o) = t.get("other").filter(|o| !o.is_null()) {
            calls += f(o, "calls").unwrap_or(0.0);
            total += f(o, "total_ms").unwrap_or(0.0);
        }
    }
    if calls > 0.0 {
        let _ = write!(
            out,
            "<p><small>Statements outside each target's top (pg_stat_statements' other bucket): {} calls, {} in all.</small></p>",
            count(Some(calls)),
            ms(Some(total))
        );
    }
    Ok(document("Statements", "/ui/statements", &out))
}

/// One statement's page (`None`: in no target's history).
pub fn one(snapshot: &Snapshot, queryid: &str, query: &str) -> Result<Option<String>, String> {
    // The page's window defaults to 1h (the JSON's to 15m); `target` and the rest pass through.
    let window = param(query, "window").unwrap_or("1h");
    let detail_query = match param(query, "window") {
        Some(_) => query.to_string(),
        None => format!("window=1h&{query}"),
    };
    let Some(v) = pages::statements::detail(snapshot, queryid, &detail_query)? else {
        return Ok(None);
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<p>target <strong>{}</strong> · database <strong>{}</strong> · user <strong>{}</strong> · <a href=\"/statements/{}?target={}\">JSON</a></p>",
        esc(s(&v, "target")),
        esc(s(&v, "database")),
        esc(s(&v, "user")),
        url(queryid),
        url(s(&v, "target"))
    );
    let _ = write!(
        out,
        "<pre class=\"sql\">{}</pre>",
        esc(v["query"].as_str().unwrap_or("(text not read yet)"))
    );
    out.push_str("<p class=\"choices\">Window: ");
    for w in WINDOWS {
        if w == window {
            let _ = write!(out, "<strong>{w}</strong> ");
        } else {
            // The same statement of the same target: queryids repeat across targets.
            let _ = write!(
                out,
                "<a href=\"?window={w}&amp;target={}\">{w}</a> ",
                url(s(&v, "target"))
            );
        }
    }
    out.push_str("</p><table class=\"figures\">");
    out.push_str(&thead(&[
        ("Calls", true),
        ("Total", true),
        ("Mean", true),
        ("p95", true),
        ("Rows", true),
        ("Per minute", true),
    ]));
    let _ = write!(
        out,
        "<tbody><tr>{}{}{}{}{}{}</tr></tbody></table>",
        td_num(f(&v, "calls"), &count(f(&v, "calls"))),
        td_num(f(&v, "total_ms"), &ms(f(&v, "total_ms"))),
        td_num(f(&v, "mean_ms"), &ms(f(&v, "mean_ms"))),
        td_num(f(&v, "p95_ms"), &ms(f(&v, "p95_ms"))),
        td_num(f(&v, "rows"), &count(f(&v, "rows"))),
        td_num(
            f(&v, "exec_ms_per_minute"),
            &ms(f(&v, "exec_ms_per_minute"))
        ),
    );
    if let Some(r) = v.get("regression").filter(|r| !r.is_null()) {
        let regressed = r["regressed"].as_bool() == Some(true);
        let _ = write!(
            out,
            "<p>{} mean {} against a baseline of {} ({:.1}×; regressed means over {}×)</p>",
            if regressed {
                badge("bad", "regressed")
            } else {
                badge("good", "no regression")
            },
            ms(f(r, "mean_ms")),
            ms(f(r, "baseline_mean_ms")),
            f(r, "ratio").unwrap_or(0.0),
            f(r, "factor").unwrap_or(0.0)
        );
    }
    out.push_str("<section><h2>History</h2>");
    let history = html::list(&v, "history");
    let width = f(&v, "history_bucket_seconds").unwrap_or(60.0);
    let span = humantime::parse_duration(window).map_or(3600.0, |d| d.as_secs_f64());
    out.push_str(&chart(history, width, span.max(width)));
    out.push_str("</section><section><h2>Plan</h2>");
    match v.get("plan").filter(|p| !p.is_null()) {
        Some(p) => {
            let _ = write!(
                out,
                "<p>{} · cost {} · captured {} ({})</p><pre class=\"plan\">{}</pre>",
                esc(s(p, "summary")),
                count(f(p, "total_cost")),
                ago(f(p, "captured_at")),
                esc(s(p, "method")),
                esc(s(p, "tree"))
            );
        }
        None => out.push_str(&empty(match v["plan_error"].as_str() {
            Some(e) => e,
            None => "No plan captured yet: plans are captured when a statement turns slow or regresses, and for the top statements once an hour.",
        })),
    }
    if let Some(e) = v["plan_error"].as_str().filter(|_| !v["plan"].is_null()) {
        let _ = write!(
            out,
            "<p class=\"problem\">The last capture failed: {}</p>",
            esc(e)
        );
    }
    let plans = html::list(&v, "plans");
    if plans.len() > 1 {
        out.push_str("<h3>Plans seen</h3><table>");
        out.push_str(&thead(&[
            ("Plan", false),
            ("First seen", false),
            ("Last seen", false),
            ("Mean under it", true),
        ]));
        out.push_str("<tbody>");
        for p in plans {
            let _ = write!(
                out,
                "<tr><td><code>{}</code> {}</td><td>{}</td><td>{}</td>{}</tr>",
                esc(s(p, "fingerprint")),
                esc(s(p, "summary")),
                ago(f(p, "first_seen")),
                ago(f(p, "last_seen")),
                td_num(f(p, "mean_ms"), &ms(f(p, "mean_ms")))
            );
        }
        out.push_str("</tbody></table>");
    }
    let changes = v["plan_changes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if !changes.is_empty() {
        out.push_str("<h3>Plan changes</h3><ul>");
        for c in changes {
            let _ = write!(
                out,
                "<li>{}: {} → {} (mean {} → {})</li>",
                ago(f(c, "at")),
                esc(s(c, "from")),
                esc(s(c, "to")),
                ms(f(c, "mean_before_ms")),
                ms(f(c, "mean_after_ms"))
            );
        }
        out.push_str("</ul>");
    }
    let growth = v["table_growth"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if !growth.is_empty() {
        out.push_str("<h3>Tables it reads, then and now</h3><ul>");
        for g in growth {
            let _ = write!(
                out,
                "<li>{}.{}: {} rows → {} rows</li>",
                esc(s(g, "schema")),
                esc(s(g, "table")),
                count(f(g, "rows_before")),
                count(f(g, "rows_now"))
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</section><section><h2>Suggestions</h2>");
    let suggestions = v["suggestions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if suggestions.is_empty() {
        out.push_str(&empty("No index suggested for this statement."));
    }
    for g in suggestions {
        let checked = if g["verified"].as_bool() == Some(true) {
            badge("good", "checked by the planner")
        } else {
            badge("none", "not checked (hypopg not installed)")
        };
        let _ = write!(
            out,
            "<article class=\"suggestion\"><p>{checked} {}</p><pre class=\"sql copy\">{}</pre></article>",
            esc(s(g, "detail")),
            esc(s(g, "ddl"))
        );
    }
    out.push_str("</section>");
    let title = format!("Statement {queryid}");
    Ok(Some(document(&title, "/ui/statements", &out)))
}

/// The history as two inline SVG charts over the last `span` seconds: mean time per
/// execution (a line with a dot per bucket) and calls (a bar per bucket).
fn chart(history: &[Value], bucket_seconds: f64, span: f64) -> String {
    if history.is_empty() {
        return empty("No executions in this window.");
    }
    let (w, h, pad) = (720.0_f64, 120.0_f64, 4.0_f64);
    let now = crate::clock::now();
    let first = now - span;
    let x = |start: f64| pad + ((start - first) / span).clamp(0.0, 1.0) * (w - 2.0 * pad);
    let bar = ((w - 2.0 * pad) * bucket_seconds / span).max(2.0);
    let max_mean = history
        .iter()
        .filter_map(|b| f(b, "mean_ms"))
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let max_calls = history
        .iter()
        .filter_map(|b| f(b, "calls"))
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let points: Vec<(f64, f64, f64)> = history
        .iter()
        .filter_map(|b| {
            let (start, mean) = (f(b, "start")?, f(b, "mean_ms")?);
            Some((
                x(start) + bar / 2.0,
                h - pad - mean / max_mean * (h - 2.0 * pad),
                mean,
            ))
        })
        .collect();
    let mut out = format!(
        "<figure><figcaption>Mean per execution over the last {}, up to {} (one point per {})</figcaption>\
         <svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"mean per execution\"><polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\" points=\"",
        crate::template::humanize_duration(span),
        ms(Some(max_mean)),
        crate::template::humanize_duration(bucket_seconds)
    );
    for (px, py, _) in &points {
        let _ = write!(out, "{px:.1},{py:.1} ");
    }
    out.push_str("\"/>");
    for (px, py, mean) in &points {
        let _ = write!(
            out,
            "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3\" fill=\"currentColor\"><title>mean {}</title></circle>",
            ms(Some(*mean))
        );
    }
    let _ = write!(
        out,
        "</svg></figure><figure><figcaption>Calls, up to {} per {}</figcaption><svg class=\"chart bars\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"calls\">",
        count(Some(max_calls)),
        crate::template::humanize_duration(bucket_seconds)
    );
    for b in history {
        if let (Some(start), Some(calls)) = (f(b, "start"), f(b, "calls")) {
            let bh = calls / max_calls * (h - 2.0 * pad);
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"currentColor\"><title>{} calls, mean {}</title></rect>",
                x(start),
                h - pad - bh,
                (bar - 1.0).max(1.0),
                count(Some(calls)),
                ms(f(b, "mean_ms"))
            );
        }
    }
    out.push_str("</svg></figure>");
    out
}
