//! `/ui/alerts`: every alert rule with its state, severity, expression, threshold and `for`,
//! and its pending and firing alerts with their labels, value and annotations, the way
//! Prometheus' alerts page shows them. From the values `/rules` serves as JSON.

use std::fmt::Write as _;

use serde_json::Value;

use crate::alerts::Views;

use super::html::{badge, document, empty, esc, s, seconds};

/// Alerts shown per rule.
const MAX_ALERTS: usize = 50;

/// The page.
pub fn render(views: &Views) -> String {
    let rules: Value = serde_json::from_slice(&views.rules).unwrap_or(Value::Null);
    let rules: Vec<&Value> = rules["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    let mut out = String::new();
    let count = |state: &str| rules.iter().filter(|r| s(r, "state") == state).count();
    let _ = write!(
        out,
        "<p class=\"summary\">{} {} {}</p>",
        badge("bad", &format!("{} firing", count("firing"))),
        badge("warn", &format!("{} pending", count("pending"))),
        badge("good", &format!("{} inactive", count("inactive"))),
    );
    if rules.is_empty() {
        out.push_str(&empty("No alert rule is configured."));
    }
    let mut ordered = rules.clone();
    let rank = |r: &Value| match s(r, "state") {
        "firing" => 0,
        "pending" => 1,
        _ => 2,
    };
    ordered.sort_by_key(|r| rank(r));
    for r in ordered {
        let state = s(r, "state");
        let class = match state {
            "firing" => "bad",
            "pending" => "warn",
            _ => "good",
        };
        let severity = s(&r["labels"], "severity");
        let _ = write!(
            out,
            "<details class=\"rule {class}\"{}><summary>{} {} {} <small>{} alerts</small></summary>\
             <p><code>{}</code></p><p>for {} · threshold {}</p>",
            if state == "inactive" { "" } else { " open" },
            esc(s(r, "name")),
            badge(class, state),
            badge("none", severity),
            r["alerts"].as_array().map_or(0, Vec::len),
            esc(s(r, "query")),
            seconds(r["duration"].as_f64()),
            esc(&r["threshold"].to_string()),
        );
        let instances = r["alerts"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if instances.len() > MAX_ALERTS {
            let _ = write!(
                out,
                "<p><small>The first {MAX_ALERTS} of {} alerts; <a href=\"/alerts\">/alerts</a> has them all.</small></p>",
                instances.len()
            );
        }
        for a in instances.iter().take(MAX_ALERTS) {
            let mut chips = String::new();
            for (k, v) in a["labels"].as_object().into_iter().flatten() {
                if k != "alertname" && k != "severity" {
                    let _ = write!(
                        chips,
                        "<code class=\"label\">{}={}</code> ",
                        esc(k),
                        esc(v.as_str().unwrap_or(""))
                    );
                }
            }
            let _ = write!(
                out,
                "<div class=\"instance\"><p>{} {chips} value {} · active since {}</p>",
                badge(
                    if s(a, "state") == "firing" {
                        class
                    } else {
                        "warn"
                    },
                    s(a, "state")
                ),
                esc(s(a, "value")),
                esc(s(a, "activeAt"))
            );
            for (k, v) in a["annotations"].as_object().into_iter().flatten() {
                let _ = write!(
                    out,
                    "<p><strong>{}</strong>: {}</p>",
                    esc(k),
                    esc(v.as_str().unwrap_or(""))
                );
            }
            out.push_str("</div>");
        }
        out.push_str("</details>");
    }
    document("Alerts", "/ui/alerts", &out)
}
