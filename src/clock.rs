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
