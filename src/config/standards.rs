//! `standards:`: the team's schema conventions, each rule on or off and with exceptions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The schema rules the `standards` collector checks; `/findings` kinds are `standard_<rule>`.
pub const STANDARD_RULES: [&str; 12] = [
    "table_name",
    "column_name",
    "reserved_word",
    "id_key",
    "timestamps",
    "timestamptz",
    "boolean_prefix",
    "varchar_unbounded",
    "json",
    "numeric_unbounded",
    "fk_on_delete",
    "not_valid_constraint",
];

/// `standards:`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StandardsConfig {
    /// From what size a long lock on a table hurts (the migration rules, live and in
    /// `pgvitals lint-migration`).
    pub large_table: LargeTable,
    /// Per rule (a name of [`STANDARD_RULES`]): off, or exceptions.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, StandardRuleConfig>,
}

/// `standards.large_table`: a table is large from `bytes` (table, indexes, TOAST) or `rows`
/// (the planner's estimate), whichever comes first.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LargeTable {
    /// Bytes (default 100 MiB).
    pub bytes: u64,
    /// Rows (default 1,000,000).
    pub rows: u64,
}

impl Default for LargeTable {
    fn default() -> Self {
        LargeTable {
            bytes: 100 * 1024 * 1024,
            rows: 1_000_000,
        }
    }
}

impl LargeTable {
    /// Whether a table of `bytes` and `rows` is large.
    pub fn is_large(&self, bytes: f64, rows: f64) -> bool {
        bytes >= self.bytes as f64 || rows >= self.rows as f64
    }
}

/// One rule's settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StandardRuleConfig {
    /// `false` turns the rule off.
    pub enabled: bool,
    /// Objects the rule leaves alone: `schema.table` or `schema.table.column` patterns, `*`
    /// matching any run of characters (`public.legacy_*`, `*.audit_log.payload`).
    pub exceptions: Vec<String>,
}

impl Default for StandardRuleConfig {
    fn default() -> Self {
        StandardRuleConfig {
            enabled: true,
            exceptions: Vec::new(),
        }
    }
}

impl StandardsConfig {
    /// Whether `rule` applies to `object` (`schema.table` or `schema.table.column`).
    pub fn applies(&self, rule: &str, object: &str) -> bool {
        match self.rules.get(rule) {
            None => true,
            Some(r) => r.enabled && !r.exceptions.iter().any(|p| glob(p, object)),
        }
    }

    pub(super) fn validate(&self) -> Result<(), (String, String)> {
        for name in self.rules.keys() {
            if !STANDARD_RULES.contains(&name.as_str()) {
                return Err((
                    format!("standards.rules.{name}"),
                    format!("no such rule; the rules are {}", STANDARD_RULES.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

/// `*` matches any run of characters, everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = parts.split_first().expect("split gives one part at least");
    let Some(mut left) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return left.is_empty();
    };
    for p in middle {
        match left.find(p) {
            Some(i) => left = &left[i + p.len()..],
            None => return false,
        }
    }
    left.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_rules() {
        assert!(glob("public.legacy_*", "public.legacy_users"));
        assert!(!glob("public.legacy_*", "public.users"));
        assert!(glob("*.audit_log.payload", "ops.audit_log.payload"));
        assert!(!glob("*.audit_log.payload", "ops.audit_log.payload2"));
        assert!(glob("public.users", "public.users"));
        assert!(!glob("public.users", "public.users.id"));
        let c: StandardsConfig = serde_yaml_ng::from_str(
            "rules:\n  json: {enabled: false}\n  timestamps: {exceptions: ['public.legacy_*']}\n",
        )
        .unwrap();
        assert!(!c.applies("json", "public.t.payload"));
        assert!(!c.applies("timestamps", "public.legacy_orders"));
        assert!(c.applies("timestamps", "public.orders"));
        assert!(c.applies("table_name", "public.Order"));
    }
}
