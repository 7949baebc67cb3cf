//! A DSN's parameters by keyword, as both the keyword mapping (`params.rs`) and the TLS
//! settings (`tls.rs`) read them.

use std::collections::BTreeMap;

/// The DSN's parameters, the last of a repeated keyword having won.
#[derive(Default)]
pub(super) struct Values(BTreeMap<&'static str, String>);

impl Values {
    pub(super) fn insert(&mut self, key: &'static str, value: String) {
        self.0.insert(key, value);
    }

    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Set and not empty (libpq reads an empty host, port, user, … as not set).
    pub(super) fn given(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }
}

/// libpq's message for a value a keyword does not take.
pub(super) fn invalid(key: &str, value: &str) -> String {
    format!("invalid {key} value: \"{value}\"")
}
