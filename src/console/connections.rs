//! `/ui/connections`: who holds the connections of each PostgreSQL target (sessions against
//! the limit, the holders with the most sessions, the sessions idle in a transaction longest)
//! and each PgBouncer's pools with clients waiting. From the values `/connections` serves as
//! JSON.

use std::fmt::Write as _;

use crate::pages;
use crate::snapshot::Snapshot;
use crate::template::humanize_percentage;

use super::html::{badge, count, document, empty, esc, f, list, s, seconds, td_num, thead};

/// Holders and idle sessions shown per target (`/connections` has them all).
const MAX_ROWS: usize = 10;

/// The page.
pub fn render(snapshot: &Snapshot) -> String {
    let v = pages::connections::value(snapshot);
    let mut out = String::new();
    let (servers, bouncers) = (list(&v, "servers"), list(&v, "pgbouncers"));
    if servers.is_empty() && bouncers.is_empty() {
        out.push_str(&empty(
            "No connection data yet: the connection collector reports after its first poll.",
        ));
    }
    for sv in servers {
        let used = f(sv, "used_ratio").unwrap_or(0.0);
        let _ = write!(
            out,
            "<section><h2>{}</h2><p>{} sessions of {} allowed {}</p>",
            esc(s(sv, "target")),
            count(f(sv, "sessions")),
            count(Some(
                f(sv, "max_connections").unwrap_or(0.0)
                    - f(sv, "reserved_connections").unwrap_or(0.0)
            )),
            badge(
                if used >= 0.8 { "bad" } else { "good" },
                &format!("{} used", humanize_percentage(used))
            )
        );
        out.push_str("<h3>Holders</h3><table class=\"sortable\">");
        out.push_str(&thead(&[
            ("Sessions", true),
            ("Application", false),
            ("User", false),
            ("Client", false),
            ("State", false),
        ]));
        out.push_str("<tbody>");
        for h in list(sv, "holders").iter().take(MAX_ROWS) {
            let _ = write!(
                out,
                "<tr>{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                td_num(f(h, "sessions"), &count(f(h, "sessions"))),
                esc(s(h, "application")),
                esc(s(h, "user")),
                esc(s(h, "client")),
                esc(s(h, "state"))
            );
        }
        out.push_str("</tbody></table>");
        let idle = list(sv, "idle_in_transaction");
        out.push_str("<h3>Idle in a transaction</h3>");
        if idle.is_empty() {
            out.push_str(&empty("No session is idle in a transaction."));
        } else {
            out.push_str("<table class=\"sortable\">");
            out.push_str(&thead(&[
                ("pid", true),
                ("Idle", true),
                ("Transaction", true),
                ("Application", false),
                ("User", false),
                ("Database", false),
                ("Last statement", false),
            ]));
            out.push_str("<tbody>");
            for i in idle.iter().take(MAX_ROWS) {
                let _ = write!(
                    out,
                    "<tr>{}{}{}<td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    td_num(f(i, "pid"), &count(f(i, "pid"))),
                    td_num(f(i, "idle_seconds"), &seconds(f(i, "idle_seconds"))),
                    td_num(
                        f(i, "transaction_seconds"),
                        &seconds(f(i, "transaction_seconds"))
                    ),
                    esc(s(i, "application")),
                    esc(s(i, "user")),
                    esc(s(i, "database")),
                    esc(s(i, "query"))
                );
            }
            out.push_str("</tbody></table>");
        }
        out.push_str("</section>");
    }
    for b in bouncers {
        let up = b["up"].as_bool() == Some(true);
        let _ = write!(
            out,
            "<section><h2>PgBouncer {} {}</h2>",
            esc(s(b, "target")),
            if up {
                badge("good", "up")
            } else {
                badge("bad", "down")
            }
        );
        let pools = list(b, "pools");
        if pools.is_empty() {
            out.push_str(&empty("No pool."));
        } else {
            out.push_str("<table class=\"sortable\">");
            out.push_str(&thead(&[
                ("Pool", false),
                ("Clients waiting", true),
                ("Longest wait", true),
                ("Servers in use", true),
            ]));
            out.push_str("<tbody>");
            for p in pools {
                let _ = write!(
                    out,
                    "<tr><td>{}/{}</td>{}{}{}</tr>",
                    esc(s(p, "database")),
                    esc(s(p, "user")),
                    td_num(f(p, "clients_waiting"), &count(f(p, "clients_waiting"))),
                    td_num(
                        f(p, "longest_wait_seconds"),
                        &seconds(f(p, "longest_wait_seconds"))
                    ),
                    td_num(
                        f(p, "saturation"),
                        &f(p, "saturation").map_or("–".into(), humanize_percentage)
                    ),
                );
            }
            out.push_str("</tbody></table>");
        }
        out.push_str("</section>");
    }
    document("Connections", "/ui/connections", &out)
}
