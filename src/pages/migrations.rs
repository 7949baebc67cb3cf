//! `/migrations`: running schema changes, current revisions and migration history of every
//! polled database (JSON).

use crate::detail::Report;
use crate::snapshot::Snapshot;

use super::{per_database, Page};

/// The page.
pub fn page(snapshot: &Snapshot) -> Page {
    Page::json(&value(snapshot))
}

/// `{"databases": [{target, database, polled_at, running, revisions, history}]}`.
pub fn value(snapshot: &Snapshot) -> serde_json::Value {
    per_database(snapshot, |r| match r {
        Report::Migrations(m) => Some(serde_json::json!({
            "running": m.running,
            "revisions": m.revisions,
            "history": m.history,
        })),
        _ => None,
    })
}
