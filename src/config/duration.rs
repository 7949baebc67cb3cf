//! Durations written the human way in the file (`100ms`, `15s`, `5m`, `1h 30m`).
//!
//! One type for every duration. Zero is refused (an interval or timeout of zero is a mistake)
//! except in the fields that mean "at once" by it, such as an alert's `for: 0s`, which read with
//! `#[serde(deserialize_with = "Dur::or_zero")]`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written the human way in the file: `100ms`, `15s`, `5m`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl Dur {
    /// Whole seconds.
    pub const fn secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }
    /// Milliseconds.
    pub const fn millis(ms: u64) -> Dur {
        Dur(Duration::from_millis(ms))
    }
    /// No time: the default of the fields that accept zero.
    pub const fn zero() -> Dur {
        Dur(Duration::ZERO)
    }

    /// Reads a duration that may be zero.
    pub fn or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        parse(&String::deserialize(d)?, true).map_err(serde::de::Error::custom)
    }

    /// Reads an optional duration that may be zero.
    pub fn or_zero_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Dur>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => parse(&s, true).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

fn parse(s: &str, zero_ok: bool) -> Result<Dur, String> {
    let example = if zero_ok {
        "`0s`, `30s`, `5m`"
    } else {
        "`250ms`, `15s`, `5m`"
    };
    let parsed = humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration `{s}` ({e}); write e.g. {example}"))?;
    if parsed.is_zero() && !zero_ok {
        return Err(format!("invalid duration `{s}`: must be greater than zero"));
    }
    Ok(Dur(parsed))
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse(&String::deserialize(d)?, false).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_zero() {
            return s.serialize_str("0s");
        }
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}
