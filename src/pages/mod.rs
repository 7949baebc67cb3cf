//! The detail pages, one module per question a person asks: which statements cost the most
//! ([`statements`]), what to fix in the schema ([`findings`]), which schema changes run and ran
//! ([`migrations`]), who holds the connections ([`connections`]). Each builds its page from the
//! snapshot alone, as JSON or text; routing, authentication and limits are `http.rs`'s.

pub mod connections;
pub mod findings;
pub mod migrations;
pub mod statements;

use bytes::Bytes;

use crate::detail::Report;
use crate::snapshot::Snapshot;

/// A page's body and media type.
#[derive(Debug, Clone)]
pub struct Page {
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Bytes,
}

impl Page {
    /// A JSON page.
    pub fn json(v: &serde_json::Value) -> Page {
        Page {
            content_type: "application/json",
            body: Bytes::from(v.to_string()),
        }
    }

    /// A plain-text page.
    pub fn text(s: String) -> Page {
        Page {
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from(s),
        }
    }
}

/// Whether a query string asks for `format=text`.
pub fn wants_text(query: &str) -> bool {
    param(query, "format") == Some("text")
}

/// `text` on one line (runs of whitespace as one space), at most `n` characters, `…` when cut.
pub fn one_line(text: &str, n: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= n {
        return line;
    }
    let mut out: String = line.chars().take(n).collect();
    out.push('…');
    out
}

/// The value of `key` in a query string.
pub fn param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// `{"databases": [...]}`: one object per polled database whose latest detail `pick` accepts,
/// with its target, database and poll time beside the fields `pick` returns.
pub fn per_database(
    snapshot: &Snapshot,
    pick: impl Fn(&Report) -> Option<serde_json::Value>,
) -> serde_json::Value {
    let mut databases = Vec::new();
    for (key, entry) in snapshot.entries() {
        let Some(serde_json::Value::Object(fields)) = entry.report.as_ref().and_then(&pick) else {
            continue;
        };
        let mut db = serde_json::json!({
            "target": key.target,
            "database": key.database,
            "polled_at": entry.polled_at_unix(),
        });
        db.as_object_mut().expect("an object").extend(fields);
        databases.push(db);
    }
    serde_json::json!({ "databases": databases })
}
