//! `/migrations`: running schema changes, current revisions and migration history of every
//! polled database (JSON).

use crate::detail::Report;
use crate::snapshot::Snapshot;

use super::Page;

/// The page.
pub fn page(snapshot: &Snapshot) -> Page {
    let mut databases = Vec::new();
    for (key, entry) in snapshot.entries() {
        if let Some(Report::Migrations(r)) = &entry.report {
            databases.push(serde_json::json!({
                "target": key.target,
                "database": key.database,
                "polled_at": entry.polled_at_unix(),
                "running": r.running,
                "revisions": r.revisions,
                "history": r.history,
            }));
        }
    }
    Page::json(&serde_json::json!({ "databases": databases }))
}
