//! `/connections`: who holds the connections. Per PostgreSQL target its sessions against the
//! limit, the holders (application, user, client, state) with the most sessions, and the
//! sessions idle in a transaction longest with their pid and age; per PgBouncer the pools with
//! clients waiting, how long the oldest has waited and how full the pool is. JSON, or
//! (`format=text`) plain text for a terminal.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::detail::{ConnectionsReport, Report};
use crate::metrics::Family;
use crate::pgbouncer::families::{LONGEST_WAIT, SATURATION};
use crate::snapshot::Snapshot;
use crate::template::{humanize_duration, humanize_percentage};

use super::{wants_text, Page};

/// One PgBouncer pool, as the page shows it.
struct PoolRow {
    database: String,
    user: String,
    waiting: f64,
    longest_wait_seconds: f64,
    saturation: Option<f64>,
}

fn label<'a>(s: &'a crate::metrics::Sample, name: &str) -> &'a str {
    s.labels
        .iter()
        .find(|(k, _)| *k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn pools(families: &[Family]) -> Vec<PoolRow> {
    let family = |name: &str| families.iter().find(|f| f.name == name);
    let mut rows: Vec<PoolRow> = family(LONGEST_WAIT)
        .map(|f| f.samples.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let (database, user) = (label(s, "database"), label(s, "user"));
            let at = [("database", database), ("user", user)];
            PoolRow {
                database: database.to_string(),
                user: user.to_string(),
                waiting: family("pgvitals_pgbouncer_clients_waiting")
                    .and_then(|f| f.value(&at))
                    .unwrap_or(0.0),
                longest_wait_seconds: s.value,
                saturation: family(SATURATION).and_then(|f| f.value(&at)),
            }
        })
        .collect();
    rows.sort_by(|a, b| b.longest_wait_seconds.total_cmp(&a.longest_wait_seconds));
    rows
}

type Servers = Vec<(String, f64, std::sync::Arc<ConnectionsReport>)>;
type Bouncers = Vec<(String, bool, Vec<PoolRow>)>;

/// The page.
pub fn page(snapshot: &Snapshot, query: &str) -> Page {
    let (servers, bouncers) = gather(snapshot);
    if wants_text(query) {
        return Page::text(text(&servers, &bouncers));
    }
    Page::json(&json_of(&servers, &bouncers))
}

/// `{"servers": [...], "pgbouncers": [...]}`.
pub fn value(snapshot: &Snapshot) -> Value {
    let (servers, bouncers) = gather(snapshot);
    json_of(&servers, &bouncers)
}

fn gather(snapshot: &Snapshot) -> (Servers, Bouncers) {
    let mut servers: Servers = Vec::new();
    let mut bouncers: Bouncers = Vec::new();
    for (key, entry) in snapshot.entries() {
        match &entry.report {
            Some(Report::Connections(r)) => {
                servers.push((key.target.clone(), entry.polled_at_unix(), r.clone()));
            }
            _ if key.collector == crate::pgbouncer::COLLECTOR => {
                let up = entry
                    .families
                    .iter()
                    .find(|f| f.name == "pgvitals_pgbouncer_up")
                    .and_then(|f| f.value(&[]))
                    == Some(1.0);
                bouncers.push((key.target.clone(), up, pools(&entry.families)));
            }
            _ => {}
        }
    }
    (servers, bouncers)
}

fn json_of(servers: &Servers, bouncers: &Bouncers) -> Value {
    let servers: Vec<Value> = servers
        .iter()
        .map(|(target, at, r)| {
            let mut v = serde_json::to_value(r.as_ref()).expect("a report serializes");
            v["target"] = json!(target);
            v["polled_at"] = json!(at);
            v
        })
        .collect();
    let bouncers: Vec<Value> = bouncers
        .iter()
        .map(|(target, up, pools)| {
            json!({
                "target": target,
                "up": up,
                "pools": pools.iter().map(|p| json!({
                    "database": p.database,
                    "user": p.user,
                    "clients_waiting": p.waiting,
                    "longest_wait_seconds": p.longest_wait_seconds,
                    "saturation": p.saturation,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "servers": servers, "pgbouncers": bouncers })
}

fn text(servers: &Servers, bouncers: &Bouncers) -> String {
    let mut out = String::new();
    for (target, _, r) in servers {
        let _ = writeln!(
            out,
            "target {target}: {} sessions of {} allowed ({} used)",
            r.sessions,
            r.max_connections - r.reserved_connections,
            humanize_percentage(r.used_ratio)
        );
        let _ = writeln!(
            out,
            "  holders (sessions  application  user  client  state):"
        );
        for h in &r.holders {
            let _ = writeln!(
                out,
                "  {:>6}  {}  {}  {}  {}",
                h.sessions, h.application, h.user, h.client, h.state
            );
        }
        if r.other_sessions > 0 {
            let _ = writeln!(out, "  {:>6}  other holders", r.other_sessions);
        }
        if r.idle_in_transaction.is_empty() {
            let _ = writeln!(out, "  no session idle in a transaction");
        } else {
            let _ = writeln!(out, "  idle in transaction, longest first:");
            for s in &r.idle_in_transaction {
                let _ = writeln!(
                    out,
                    "  pid {}  idle {}  (transaction {})  {} as {} from {} on {}: {}",
                    s.pid,
                    humanize_duration(s.idle_seconds),
                    humanize_duration(s.transaction_seconds),
                    s.application,
                    s.user,
                    s.client,
                    s.database,
                    s.query
                );
            }
        }
    }
    for (target, up, pools) in bouncers {
        if !up {
            let _ = writeln!(out, "pgbouncer {target}: down (the log says why)");
            continue;
        }
        let _ = writeln!(out, "pgbouncer {target}: {} pools", pools.len());
        for p in pools {
            let _ = writeln!(
                out,
                "  {}/{}: {} clients waiting, the oldest for {}, {} of its servers in use",
                p.database,
                p.user,
                p.waiting,
                humanize_duration(p.longest_wait_seconds),
                p.saturation.map_or("?".into(), humanize_percentage)
            );
        }
    }
    out
}
