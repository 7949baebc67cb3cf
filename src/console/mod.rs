//! The web console: server-rendered HTML pages for people, one per question, built from the
//! snapshot and the alert engine's last evaluation (no query per page view) — the same values
//! the JSON pages serve ([`crate::pages`]), laid out to read at a glance.
//!
//! - [`overview`]: `/`, every target with its state and its four performance targets, the
//!   firing and pending alerts, collector health;
//! - [`statements`]: `/ui/statements` and `/ui/statements/{queryid}`;
//! - [`findings`], [`migrations`], [`alerts`], [`connections`]: `/ui/…`.
//!
//! No external assets: one stylesheet (light and dark) and a few lines of script (auto-refresh,
//! sorting tables in place) are served from `/ui/`, so the pages work offline and under the
//! strict `Content-Security-Policy` they are sent with. Everything works without the script.

pub mod alerts;
pub mod connections;
pub mod findings;
pub mod html;
pub mod migrations;
pub mod overview;
pub mod statements;

use bytes::Bytes;

use crate::alerts::Alerts;
use crate::pages::Page;
use crate::snapshot::Snapshot;

/// The policy every console page is sent with: nothing but its own stylesheet and script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("console.js");

/// What a console path answers.
pub enum Answer {
    /// A page (HTML, or the stylesheet or script).
    Page(Page),
    /// No such page: the HTML says what was asked for.
    NotFound(Page),
    /// The query string is wrong: the HTML says why.
    BadRequest(Page),
}

/// Whether `path` belongs to the console.
pub fn owns(path: &str) -> bool {
    path == "/" || path == "/ui" || path.starts_with("/ui/")
}

/// The console's answer for `path` and `query`.
pub fn answer(path: &str, query: &str, snapshot: &Snapshot, alerts: &Alerts) -> Answer {
    let views = alerts.views();
    let page = |body: String| Answer::Page(html::page(body));
    match path {
        "/" | "/ui" | "/ui/" => page(overview::render(&views, snapshot)),
        "/ui/style.css" => Answer::Page(Page {
            content_type: "text/css; charset=utf-8",
            body: Bytes::from_static(STYLE.as_bytes()),
        }),
        "/ui/console.js" => Answer::Page(Page {
            content_type: "text/javascript; charset=utf-8",
            body: Bytes::from_static(SCRIPT.as_bytes()),
        }),
        "/ui/statements" => match statements::list(snapshot, query) {
            Ok(body) => page(body),
            Err(e) => Answer::BadRequest(html::page(html::problem("Statements", &e))),
        },
        p if p.starts_with("/ui/statements/") => {
            let queryid = &p["/ui/statements/".len()..];
            match statements::one(snapshot, queryid, query) {
                Ok(Some(body)) => page(body),
                Ok(None) => Answer::NotFound(html::page(html::problem(
                    "Statement",
                    &format!("no statement {queryid} in the history of any target"),
                ))),
                Err(e) => Answer::BadRequest(html::page(html::problem("Statement", &e))),
            }
        }
        "/ui/findings" => page(findings::render(snapshot, query)),
        "/ui/migrations" => page(migrations::render(snapshot)),
        "/ui/alerts" => page(alerts::render(&views)),
        "/ui/connections" => page(connections::render(snapshot)),
        _ => Answer::NotFound(html::page(html::problem(
            "Not found",
            &format!("no page {path}"),
        ))),
    }
}
