//! `/statements`: the statements that cost the most over a window (default the last 15
//! minutes, from the statement history; `window=last` is the latest interval), of every target,
//! ordered by total time (`order=mean|calls|total`), JSON or (`format=text`) a plain table.
//! `/statements/{queryid}`: one statement's history, plans, plan changes, regression and
//! index suggestions.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::detail::{PlansReport, Report, StatementKey, StatementsReport};
use crate::history::{Bucket, COARSE_SECONDS, FINE_SECONDS};
use crate::latency;
use crate::snapshot::Snapshot;

use super::{param, wants_text, Page};

/// How far back a page looks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Window {
    /// The latest interval.
    Last,
    /// The last this many seconds.
    Seconds(u64),
}

fn window(query: &str) -> Result<(Window, String), String> {
    let w = param(query, "window").unwrap_or("15m");
    if w == "last" {
        return Ok((Window::Last, w.into()));
    }
    let d = humantime::parse_duration(w).map_err(|_| {
        format!("window `{w}`: use last, 15m, 1h, 24h (or another duration up to 24h)")
    })?;
    let secs = d.as_secs().clamp(FINE_SECONDS, COARSE_SECONDS * 144);
    Ok((Window::Seconds(secs), w.into()))
}

fn order(query: &str) -> Result<&str, String> {
    match param(query, "order").unwrap_or("total") {
        o @ ("total" | "mean" | "calls") => Ok(o),
        o => Err(format!("order `{o}`: use total, mean or calls")),
    }
}

/// Every target's latest statements report.
fn reports(snapshot: &Snapshot) -> Vec<(String, f64, Arc<StatementsReport>)> {
    snapshot
        .entries()
        .into_iter()
        .filter_map(|(key, entry)| match &entry.report {
            Some(Report::Statements(r)) => Some((key.target, entry.polled_at_unix(), r.clone())),
            _ => None,
        })
        .collect()
}

/// One statement over a window, as the pages show it.
fn summed(key: &StatementKey, text: Option<&String>, b: &Bucket, seconds: u64) -> Value {
    let spread = b.spread();
    let p95 = latency::quantile_of(&spread.moments_seconds(), 0.95);
    let accessed = f64::from(b.hit) + f64::from(b.read);
    json!({
        "queryid": key.queryid,
        "database": key.database,
        "user": key.user,
        "toplevel": key.toplevel,
        "query": text,
        "calls": b.calls,
        "total_ms": b.total_ms,
        "mean_ms": b.mean_ms(),
        "stddev_ms": spread.stddev(),
        "p95_ms": p95.map(|s| s * 1000.0),
        "rows": b.rows,
        "hit_ratio": (accessed > 0.0).then(|| f64::from(b.hit) / accessed),
        "exec_ms_per_minute": b.total_ms * 60.0 / seconds as f64,
    })
}

/// The page for the query string `query`.
pub fn page(snapshot: &Snapshot, query: &str) -> Result<Page, String> {
    let (w, _) = window(query)?;
    order(query)?;
    if w == Window::Last {
        return Ok(last(&reports(snapshot), query));
    }
    let v = top(snapshot, query)?;
    if wants_text(query) {
        let mut text = String::new();
        let targets = v["targets"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        for t in targets {
            text.push_str(&window_text(t));
        }
        if targets.is_empty() {
            text.push_str("no statements polled yet\n");
        }
        return Ok(Page::text(text));
    }
    Ok(Page::json(&v))
}

/// `{"window", "order", "targets": [{target, statements, other…}]}` over a window of the
/// history (`window=last` is refused: it has no history view).
pub fn top(snapshot: &Snapshot, query: &str) -> Result<Value, String> {
    let (w, label) = window(query)?;
    let order = order(query)?;
    let targets = reports(snapshot);
    let Window::Seconds(seconds) = w else {
        return Err("window `last` has no history view: use 15m, 1h or 24h".into());
    };
    let now = crate::clock::now() as u64;
    let mut out = Vec::new();
    for (target, polled_at, r) in &targets {
        let h = r.history.read().unwrap();
        let mut rows: Vec<Value> = Vec::new();
        let mut other = None;
        for (key, st) in h.iter() {
            let b = st.total(now, seconds);
            if b.calls <= 0.0 {
                continue;
            }
            let v = summed(key, st.text.as_ref(), &b, seconds);
            if key.queryid == "other" {
                other = Some(v);
            } else {
                rows.push(v);
            }
        }
        let by = |v: &Value| {
            v[match order {
                "mean" => "mean_ms",
                "calls" => "calls",
                _ => "total_ms",
            }]
            .as_f64()
            .unwrap_or(0.0)
        };
        rows.sort_by(|a, b| by(b).total_cmp(&by(a)));
        out.push(json!({
            "target": target,
            "polled_at": polled_at,
            "window": label,
            "window_seconds": seconds,
            "order": order,
            "statements": rows,
            "other": other,
        }));
    }
    Ok(json!({ "window": label, "order": order, "targets": out }))
}

/// `window=last`: the latest interval, as the statements collector reported it.
fn last(targets: &[(String, f64, Arc<StatementsReport>)], query: &str) -> Page {
    if wants_text(query) {
        let mut out = String::new();
        for (target, _, r) in targets {
            out.push_str(&render_text(target, r));
        }
        if targets.is_empty() {
            out.push_str("no statements polled yet\n");
        }
        return Page::text(out);
    }
    Page::json(&json!({
        "window": "last",
        "targets": targets.iter().map(|(target, polled_at, r)| {
            json!({ "target": target, "polled_at": polled_at, "interval": &**r })
        }).collect::<Vec<_>>()
    }))
}

/// A query text on one line, at most 120 characters, for the text tables.
fn one_line(query: Option<&str>) -> String {
    query
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(120)
        .collect()
}

/// A string field of a JSON object, or "".
fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn num(v: &Value, key: &str, digits: usize) -> String {
    v[key]
        .as_f64()
        .map_or("-".into(), |x| format!("{x:.digits$}"))
}

fn window_text(t: &Value) -> String {
    let [target, window, order] = ["target", "window", "order"].map(|k| text(t, k));
    let mut out = format!("target {target}: last {window} (by {order})\n");
    let _ = writeln!(
        out,
        "{:>20} {:>10} {:>12} {:>10} {:>10} {:>10}  {:<16} {:<16} query",
        "queryid", "calls", "total_ms", "mean_ms", "p95_ms", "ms/min", "database", "user"
    );
    let rows = t["statements"].as_array().cloned().unwrap_or_default();
    for s in rows
        .iter()
        .chain(t["other"].as_object().map(|_| &t["other"]))
    {
        let query = one_line(s["query"].as_str());
        let _ = writeln!(
            out,
            "{:>20} {:>10} {:>12} {:>10} {:>10} {:>10}  {:<16} {:<16} {}",
            text(s, "queryid"),
            num(s, "calls", 0),
            num(s, "total_ms", 1),
            num(s, "mean_ms", 2),
            num(s, "p95_ms", 2),
            num(s, "exec_ms_per_minute", 1),
            text(s, "database"),
            text(s, "user"),
            query
        );
    }
    out.push('\n');
    out
}

/// `/statements/{queryid}`: `None` when no target knows the statement.
pub fn statement(snapshot: &Snapshot, queryid: &str, query: &str) -> Result<Option<Page>, String> {
    let Some(v) = detail(snapshot, queryid, query)? else {
        return Ok(None);
    };
    if wants_text(query) {
        return Ok(Some(Page::text(statement_text(&v))));
    }
    Ok(Some(Page::json(&v)))
}

/// One statement: the JSON of `/statements/{queryid}` (`None`: in no target's history). The same
/// queryid may be in several targets' histories: `target=` picks one, else the one with the most
/// time in the window is shown.
pub fn detail(snapshot: &Snapshot, queryid: &str, query: &str) -> Result<Option<Value>, String> {
    let (w, label) = window(query)?;
    let seconds = match w {
        Window::Seconds(s) => s,
        Window::Last => FINE_SECONDS,
    };
    let only_target = param(query, "target");
    let now = crate::clock::now() as u64;
    let entries = snapshot.entries();
    let mut best: Option<(f64, Value)> = None;
    for (key, entry) in &entries {
        let Some(Report::Statements(r)) = &entry.report else {
            continue;
        };
        if only_target.is_some_and(|t| t != key.target) {
            continue;
        }
        let h = r.history.read().unwrap();
        for (k, st) in h.iter().filter(|(k, _)| k.queryid == queryid) {
            let total = st.total(now, seconds);
            if best.as_ref().is_some_and(|(t, _)| *t >= total.total_ms) {
                continue;
            }
            let (width, buckets) = st.window(now, seconds.max(15 * FINE_SECONDS));
            let history: Vec<Value> = buckets
                .iter()
                .map(|b| {
                    let mut v = summed(k, None, b, width);
                    let o = v.as_object_mut().expect("object");
                    for drop in ["queryid", "database", "user", "toplevel", "query"] {
                        o.remove(drop);
                    }
                    o.insert("start".into(), json!(b.start(width)));
                    v
                })
                .collect();
            let latest = r
                .statements
                .iter()
                .find(|s| s.queryid == queryid && s.database == k.database && s.user == k.user);
            let regression = latest.and_then(|s| {
                let base = s.baseline_mean_ms?;
                let ratio = s.mean_ms / base;
                Some(json!({
                    "regressed": s.calls > 0.0 && ratio > r.regression_factor,
                    "mean_ms": s.mean_ms,
                    "baseline_mean_ms": base,
                    "ratio": ratio,
                    "factor": r.regression_factor,
                }))
            });
            let plans = plans_of(&entries, &key.target, &k.database);
            let mut v = summed(k, st.text.as_ref(), &total, seconds);
            let o = v.as_object_mut().expect("object");
            o.insert("target".into(), json!(key.target));
            o.insert("window".into(), json!(label));
            o.insert("history_bucket_seconds".into(), json!(width));
            o.insert("history".into(), json!(history));
            o.insert("latest_interval".into(), json!(latest));
            o.insert("regression".into(), regression.unwrap_or(Value::Null));
            let p = plans
                .as_ref()
                .and_then(|(_, p)| p.statements.iter().find(|s| s.queryid == queryid).cloned());
            o.insert(
                "plan".into(),
                json!(p.as_ref().and_then(|p| p.plan.clone())),
            );
            o.insert(
                "plans".into(),
                json!(p.as_ref().map(|p| p.plans.clone()).unwrap_or_default()),
            );
            o.insert(
                "plan_changes".into(),
                json!(p.as_ref().map(|p| p.changes.clone()).unwrap_or_default()),
            );
            o.insert(
                "suggestions".into(),
                json!(p
                    .as_ref()
                    .map(|p| p.suggestions.clone())
                    .unwrap_or_default()),
            );
            o.insert(
                "table_growth".into(),
                json!(p
                    .as_ref()
                    .map(|p| p.table_growth.clone())
                    .unwrap_or_default()),
            );
            o.insert(
                "plan_error".into(),
                json!(p.as_ref().and_then(|p| p.error.clone())),
            );
            o.insert(
                "hypopg".into(),
                json!(plans.as_ref().map(|(_, p)| p.hypopg)),
            );
            best = Some((total.total_ms, v));
        }
    }
    Ok(best.map(|(_, v)| v))
}

/// The plans report of one database of a target.
fn plans_of(
    entries: &BTreeMap<crate::snapshot::SourceKey, crate::snapshot::Entry>,
    target: &str,
    database: &str,
) -> Option<(f64, Arc<PlansReport>)> {
    entries.iter().find_map(|(k, e)| match &e.report {
        Some(Report::Plans(p)) if k.target == target && k.database == database => {
            Some((e.polled_at_unix(), p.clone()))
        }
        _ => None,
    })
}

fn statement_text(v: &Value) -> String {
    let [queryid, target, database, user, window] =
        ["queryid", "target", "database", "user", "window"].map(|k| text(v, k));
    let mut out =
        format!("statement {queryid} on {target}/{database} (user {user}), last {window}\n");
    let _ = writeln!(
        out,
        "{}\n",
        v["query"].as_str().unwrap_or("(text not read)")
    );
    let _ = writeln!(
        out,
        "calls {}, total {} ms, mean {} ms, p95 {} ms, {} ms of execution per minute",
        num(v, "calls", 0),
        num(v, "total_ms", 1),
        num(v, "mean_ms", 2),
        num(v, "p95_ms", 2),
        num(v, "exec_ms_per_minute", 1)
    );
    if let Some(r) = v["regression"].as_object() {
        let _ = writeln!(
            out,
            "regression: mean {} ms vs baseline {} ms ({}×; regressed above {}×): {}",
            num(&v["regression"], "mean_ms", 2),
            num(&v["regression"], "baseline_mean_ms", 2),
            num(&v["regression"], "ratio", 1),
            num(&v["regression"], "factor", 1),
            if r.get("regressed").and_then(Value::as_bool) == Some(true) {
                "yes"
            } else {
                "no"
            }
        );
    }
    match v["plan"].as_object() {
        Some(p) => {
            let _ = writeln!(
                out,
                "\nplan {} ({}):\n{}",
                p.get("fingerprint").and_then(Value::as_str).unwrap_or(""),
                p.get("method").and_then(Value::as_str).unwrap_or(""),
                p.get("tree").and_then(Value::as_str).unwrap_or("")
            );
        }
        None => {
            let why = v["plan_error"].as_str().unwrap_or("not captured yet");
            let _ = writeln!(out, "\nplan: none ({why})");
        }
    }
    for c in v["plan_changes"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "plan changed at {}: {} → {} (mean {} → {} ms)",
            num(c, "at", 0),
            text(c, "from"),
            text(c, "to"),
            num(c, "mean_before_ms", 2),
            num(c, "mean_after_ms", 2)
        );
    }
    for g in v["table_growth"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "table {}.{}: {} rows before it turned slow, {} now",
            text(g, "schema"),
            text(g, "table"),
            num(g, "rows_before", 0),
            num(g, "rows_now", 0)
        );
    }
    for s in v["suggestions"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "suggestion: {}\n  {}",
            text(s, "ddl"),
            text(s, "detail")
        );
    }
    out
}

/// A plain-text table of one target's interval, for `/statements?window=last&format=text`.
pub fn render_text(target: &str, r: &StatementsReport) -> String {
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
        let query = one_line(s.query.as_deref());
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
