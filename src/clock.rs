//! Wall-clock time as Unix seconds, the one conversion every timestamp pgvitals shows goes
//! through.

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` as Unix seconds (0 before the epoch).
pub fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Now, as Unix seconds.
pub fn now() -> f64 {
    unix(SystemTime::now())
}

/// `t` as RFC 3339 with milliseconds (`2026-12-06T21:14:05.123Z`), as Prometheus' API writes it.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}
