//! `/`: the overview an on-call engineer opens first. Every target with up/down and its
//! server version, its four performance targets green or red against `thresholds:`, the
//! collectors that fail; the firing and pending alerts with their annotations; links to the
//! pages that say more.

use std::fmt::Write as _;

use crate::alerts::engine::{Alert, State};
use crate::alerts::Views;
use crate::snapshot::Snapshot;

use super::html::{badge, document, empty, esc, labels, url};

/// The page.
pub fn render(views: &Views, snapshot: &Snapshot) -> String {
    let mut out = String::new();
    let firing = views
        .active
        .iter()
        .filter(|a| a.state == State::Firing)
        .count();
    let pending = views.active.len() - firing;
    let _ = write!(
        out,
        "<p class=\"summary\">{} targets · {} · {}</p>",
        views.status.len(),
        badge(
            if firing > 0 { "bad" } else { "good" },
            &format!("{firing} firing")
        ),
        badge(
            if pending > 0 { "warn" } else { "good" },
            &format!("{pending} pending")
        ),
    );
    out.push_str("<section><h2>Targets</h2>");
    if views.status.is_empty() {
        let configured = snapshot.targets();
        out.push_str(&empty(&if configured.is_empty() {
            "No PostgreSQL target is configured (targets: in the configuration file).".to_string()
        } else {
            format!(
                "{} targets configured; the first evaluation has not run yet.",
                configured.len()
            )
        }));
    } else {
        out.push_str("<table class=\"sortable targets\"><thead><tr><th>Target</th><th>State</th><th>Version</th>");
        for g in &views.status[0].goals {
            let _ = write!(
                out,
                "<th>{}<br><small>target {}</small></th>",
                esc(g.title),
                esc(&g.target_text)
            );
        }
        out.push_str("<th>Collectors</th><th>Pages</th></tr></thead><tbody>");
        for t in views.status.iter() {
            let state = match t.up {
                Some(true) => badge("good", "up"),
                Some(false) => badge("bad", "down"),
                None => badge("none", "not probed"),
            };
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th><td>{state}</td><td>{}</td>",
                esc(&t.target),
                esc(t.version.as_deref().unwrap_or("–"))
            );
            for g in &t.goals {
                let (class, word) = match g.met {
                    Some(true) => ("good", "met"),
                    Some(false) => ("bad", "missed"),
                    None => ("none", "no data"),
                };
                // Where a missed target was missed; a met one needs no place.
                let at = g
                    .database
                    .as_deref()
                    .filter(|_| g.met == Some(false))
                    .map(|d| format!(" <small>({})</small>", esc(d)))
                    .unwrap_or_default();
                let _ = write!(
                    out,
                    "<td class=\"goal {class}\">{} {}{at}</td>",
                    badge(class, word),
                    esc(&g.value_text),
                );
            }
            if t.collectors_failing.is_empty() {
                let _ = write!(
                    out,
                    "<td>{}</td>",
                    badge("good", &format!("{} ok", t.collectors_ok))
                );
            } else {
                let _ = write!(
                    out,
                    "<td>{} {}<br><small>{}</small></td>",
                    badge("good", &format!("{} ok", t.collectors_ok)),
                    badge("bad", &format!("{} failing", t.collectors_failing.len())),
                    esc(&t.collectors_failing.join(", "))
                );
            }
            let _ = write!(
                out,
                "<td><a href=\"/ui/statements?target={0}\">statements</a> · <a href=\"/ui/findings?target={0}\">findings</a></td></tr>",
                url(&t.target)
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section><section><h2>Alerts</h2>");
    if views.active.is_empty() {
        out.push_str(&empty("No alert is pending or firing."));
    } else {
        let mut active: Vec<&Alert> = views.active.iter().collect();
        active.sort_by_key(|a| (a.state != State::Firing, a.rule.clone()));
        for a in active {
            out.push_str(&alert_card(a));
        }
    }
    out.push_str("<p><a href=\"/ui/alerts\">Every rule and its state →</a></p></section>");
    document("Overview", "/", &out)
}

/// One pending or firing alert: name, state, severity, labels, summary and description, and
/// the rest of its annotations.
pub fn alert_card(a: &Alert) -> String {
    let severity = a.labels.get("severity").map_or("", String::as_str);
    let class = match (a.state, severity) {
        (State::Firing, "critical") => "bad",
        (State::Firing, _) => "warn",
        _ => "none",
    };
    let mut out = format!(
        "<article class=\"alert {class}\"><h3>{} {} {}</h3><p>{}</p>",
        esc(&a.rule),
        badge(class, a.state.as_str()),
        badge("none", severity),
        labels(&a.labels)
    );
    for key in ["summary", "description"] {
        if let Some(text) = a.annotations.get(key) {
            let _ = write!(out, "<p class=\"{key}\">{}</p>", esc(text));
        }
    }
    let rest: Vec<_> = a
        .annotations
        .iter()
        .filter(|(k, _)| *k != "summary" && *k != "description")
        .collect();
    if !rest.is_empty() {
        out.push_str("<dl>");
        for (k, v) in rest {
            let _ = write!(out, "<dt>{}</dt><dd><pre>{}</pre></dd>", esc(k), esc(v));
        }
        out.push_str("</dl>");
    }
    if let Some(q) = a.labels.get("queryid") {
        let _ = write!(
            out,
            "<p><a href=\"/ui/statements/{}?target={}\">Statement {}: history, plan, suggestions →</a></p>",
            url(q),
            url(a.labels.get("target").map_or("", String::as_str)),
            esc(q)
        );
    }
    let _ = write!(
        out,
        "<p><small>active since {}</small></p></article>",
        super::html::ago(Some(crate::clock::unix(a.active_at)))
    );
    out
}
