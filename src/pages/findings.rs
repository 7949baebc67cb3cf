//! `/findings`: every schema finding of every polled database, with what to do about it (JSON).

use crate::detail::Report;
use crate::snapshot::Snapshot;

use super::Page;

/// The page.
pub fn page(snapshot: &Snapshot) -> Page {
    let mut databases = Vec::new();
    for (key, entry) in snapshot.entries() {
        if let Some(Report::Findings(r)) = &entry.report {
            databases.push(serde_json::json!({
                "target": key.target,
                "database": key.database,
                "polled_at": entry.polled_at_unix(),
                "findings": r.findings,
            }));
        }
    }
    Page::json(&serde_json::json!({ "databases": databases }))
}
