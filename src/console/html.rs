//! The console's building blocks: the page frame (head, navigation, footer), escaping, and the
//! few shapes every page uses (a badge, a figure, a time ago). Numbers go through
//! [`crate::template`]'s formatters, the ones alert annotations use.

use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::Value;

use crate::pages::Page;
use crate::template::{humanize, humanize_1024, humanize_duration};

/// Text escaped for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text escaped for a URL query value.
pub fn url(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// An HTML page.
pub fn page(body: String) -> Page {
    Page {
        content_type: "text/html; charset=utf-8",
        body: Bytes::from(body),
    }
}

/// The pages of the navigation bar: path and name.
const NAV: [(&str, &str); 6] = [
    ("/", "Overview"),
    ("/ui/statements", "Statements"),
    ("/ui/findings", "Findings"),
    ("/ui/migrations", "Migrations"),
    ("/ui/alerts", "Alerts"),
    ("/ui/connections", "Connections"),
];

/// A whole document: head, navigation (`current` marked), `content`, footer. Pages refresh
/// themselves every 30 s (the script; without it, the browser's reload).
pub fn document(title: &str, current: &str, content: &str) -> String {
    let mut out = String::with_capacity(content.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>{} · pgvitals</title><link rel=\"stylesheet\" href=\"/ui/style.css\">\
         <script src=\"/ui/console.js\" defer></script></head>\
         <body data-refresh=\"30\"><header><a class=\"brand\" href=\"/\">pgvitals</a><nav>",
        esc(title)
    );
    for (path, name) in NAV {
        let mark = if path == current {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(out, "<a href=\"{path}\"{mark}>{name}</a>");
    }
    let _ = writeln!(
        out,
        "</nav></header><main><h1>{}</h1>{content}</main><footer>pgvitals {} · rendered {} from memory · \
         <a href=\"/metrics\">/metrics</a> · <a href=\"/alerts\">/alerts</a> · <a href=\"/rules\">/rules</a> · \
         <a href=\"/statements\">/statements</a> · <a href=\"/findings\">/findings</a> · \
         <a href=\"/migrations\">/migrations</a> · <a href=\"/connections\">/connections</a> (JSON) · <a href=\"/healthz\">/healthz</a> · <a href=\"/readyz\">/readyz</a></footer></body></html>",
        esc(title),
        env!("CARGO_PKG_VERSION"),
        crate::clock::rfc3339(std::time::SystemTime::now()),
    );
    out
}

/// A page that says what went wrong.
pub fn problem(title: &str, message: &str) -> String {
    document(
        title,
        "",
        &format!("<p class=\"problem\">{}</p>", esc(message)),
    )
}

/// `<span class="badge {class}">text</span>`.
pub fn badge(class: &str, text: &str) -> String {
    format!("<span class=\"badge {class}\">{}</span>", esc(text))
}

/// A paragraph saying there is nothing to show yet, and why that may be.
pub fn empty(text: &str) -> String {
    format!("<p class=\"empty\">{}</p>", esc(text))
}

/// A number field of a JSON value.
pub fn f(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// An array field of a JSON value (empty when absent).
pub fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// A string field of a JSON value (`""` when absent).
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Milliseconds for people (`123.4ms`, `2.5s`); `–` when absent.
pub fn ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| humanize_duration(v / 1000.0))
}

/// Seconds for people; `–` when absent.
pub fn seconds(v: Option<f64>) -> String {
    v.map_or("–".into(), humanize_duration)
}

/// A count for people (`1.234k`); `–` when absent.
pub fn count(v: Option<f64>) -> String {
    v.map_or("–".into(), humanize)
}

/// Bytes for people (`12.5MiB`); `–` when absent.
pub fn bytes(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{}B", humanize_1024(v)))
}

/// How long ago a Unix time was, for people (`3m 5s ago`).
pub fn ago(unix: Option<f64>) -> String {
    match unix {
        Some(t) if t > 0.0 => format!(
            "{} ago",
            humanize_duration((crate::clock::now() - t).max(0.0).round())
        ),
        _ => "never".into(),
    }
}

/// A table head; columns marked `num` sort and align as numbers.
pub fn thead(columns: &[(&str, bool)]) -> String {
    let mut out = String::from("<thead><tr>");
    for (name, num) in columns {
        let class = if *num { " class=\"num\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", esc(name));
    }
    out.push_str("</tr></thead>");
    out
}

/// A numeric cell: `shown` for people, the value in `data-v` for sorting.
pub fn td_num(v: Option<f64>, shown: &str) -> String {
    match v {
        Some(v) => format!("<td class=\"num\" data-v=\"{v}\">{}</td>", esc(shown)),
        None => format!("<td class=\"num\">{}</td>", esc(shown)),
    }
}

/// An alert's labels (`target`, `database`, … without `alertname` and `severity`) as
/// `key=value` chips.
pub fn labels(labels: &std::collections::BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (k, v) in labels {
        if k == "alertname" || k == "severity" {
            continue;
        }
        let _ = write!(out, "<code class=\"label\">{}={}</code> ", esc(k), esc(v));
    }
    out
}
