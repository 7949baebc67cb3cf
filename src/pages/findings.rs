//! `/findings`: every schema finding of every polled database, with what to do about it (JSON).

use crate::detail::Report;
use crate::snapshot::Snapshot;

use super::{per_database, Page};

/// The page.
pub fn page(snapshot: &Snapshot) -> Page {
    per_database(snapshot, |r| match r {
        Report::Findings(f) => Some(serde_json::json!({ "findings": f.findings })),
        _ => None,
    })
}
