//! The SQL pgvitals runs, embedded from `queries/` at build time.
//!
//! Each query has one or more variants, one per range of PostgreSQL majors where the catalog
//! differs. A variant serves from its `min_version` up to the next variant's; every file states
//! the versions it serves on its first line (`-- serves: PostgreSQL 13+` or `13-16`), and a test
//! checks that header against the table below. The variant is picked from `server_version_num`,
//! read when the connection probe connects.

/// The comment every SQL text pgvitals sends starts with. pg_stat_statements keeps it in the
/// entry's text, which is how the statements collector tells pgvitals' own entries from the
/// application's when both use one role.
pub const MARKER: &str = "/* pgvitals */";

/// Oldest PostgreSQL pgvitals supports, as `server_version_num`.
pub const MIN_SERVER_VERSION: i32 = 130000;

/// One SQL file and the first server version it serves.
#[derive(Debug)]
pub struct Variant {
    /// First `server_version_num` this variant serves.
    pub min_version: i32,
    /// File name under `queries/`.
    pub file: &'static str,
    /// The SQL text, [`MARKER`] first.
    pub sql: &'static str,
}

/// A named query with its version variants, ordered by `min_version`.
#[derive(Debug)]
pub struct Query {
    /// Query name (the file stem of its first variant).
    pub name: &'static str,
    /// Variants, oldest first.
    pub variants: &'static [Variant],
}

/// A server older than pgvitals supports.
#[derive(Debug, thiserror::Error)]
#[error("PostgreSQL {version} is not supported by query `{query}` (pgvitals needs 13 or later)")]
pub struct UnsupportedVersion {
    /// The query asked for.
    pub query: &'static str,
    /// The server's `server_version_num`.
    pub version: i32,
}

impl Query {
    /// The variant that serves `server_version_num`.
    pub fn variant(&self, server_version_num: i32) -> Result<&'static Variant, UnsupportedVersion> {
        self.variants
            .iter()
            .rev()
            .find(|v| v.min_version <= server_version_num)
            .ok_or(UnsupportedVersion {
                query: self.name,
                version: server_version_num,
            })
    }

    /// The SQL text that serves `server_version_num`.
    pub fn sql(&self, server_version_num: i32) -> Result<&'static str, UnsupportedVersion> {
        self.variant(server_version_num).map(|v| v.sql)
    }
}

macro_rules! query {
    ($ident:ident, $name:literal, [$(($min:expr, $file:literal)),+ $(,)?]) => {
        #[doc = concat!("`queries/", $name, ".sql` and its version variants.")]
        pub static $ident: Query = Query {
            name: $name,
            variants: &[$(Variant {
                min_version: $min,
                file: $file,
                sql: concat!("/* pgvitals */\n", include_str!(concat!("../queries/", $file))),
            }),+],
        };
    };
}

query!(PROBE, "probe", [(130000, "probe.sql")]);
query!(ROLE, "role", [(130000, "role.sql")]);
query!(DATABASES, "databases", [(130000, "databases.sql")]);
query!(
    CONNECTION_SETTINGS,
    "connection_settings",
    [(130000, "connection_settings.sql")]
);
query!(
    CONNECTION_ACTIVITY,
    "connection_activity",
    [(130000, "connection_activity.sql")]
);
query!(TABLE_SIZES, "table_sizes", [(130000, "table_sizes.sql")]);
query!(
    STATEMENTS_EXTENSION,
    "statements_extension",
    [(130000, "statements_extension.sql")]
);
query!(
    STATEMENTS_INFO,
    "statements_info",
    [
        (130000, "statements_info.sql"),
        (140000, "statements_info.pg14.sql")
    ]
);
query!(
    STATEMENTS,
    "statements",
    [
        (130000, "statements.sql"),
        (140000, "statements.pg14.sql"),
        (170000, "statements.pg17.sql"),
        (180000, "statements.pg18.sql")
    ]
);
query!(
    STATEMENTS_OWN,
    "statements_own",
    [(130000, "statements_own.sql")]
);
query!(
    STATEMENTS_TEXT,
    "statements_text",
    [(130000, "statements_text.sql")]
);
query!(INDEX_STATS, "index_stats", [(130000, "index_stats.sql")]);
query!(TABLE_STATS, "table_stats", [(130000, "table_stats.sql")]);
query!(
    SCHEMA_FINDINGS,
    "schema_findings",
    [(130000, "schema_findings.sql")]
);
query!(STATS_WINDOW, "stats_window", [(130000, "stats_window.sql")]);
query!(PLANS_SETUP, "plans_setup", [(130000, "plans_setup.sql")]);
query!(PLAN_TABLES, "plan_tables", [(130000, "plan_tables.sql")]);
query!(
    MIGRATION_SESSIONS,
    "migration_sessions",
    [(130000, "migration_sessions.sql")]
);
query!(
    MIGRATION_PROGRESS,
    "migration_progress",
    [(130000, "migration_progress.sql")]
);
query!(
    MIGRATION_VERSION_TABLES,
    "migration_version_tables",
    [(130000, "migration_version_tables.sql")]
);
query!(
    MIGRATION_VERSION,
    "migration_version",
    [(130000, "migration_version.sql")]
);

/// Every query, for the tests that check them all.
pub static ALL: &[&Query] = &[
    &PROBE,
    &ROLE,
    &DATABASES,
    &CONNECTION_SETTINGS,
    &CONNECTION_ACTIVITY,
    &TABLE_SIZES,
    &STATEMENTS_EXTENSION,
    &STATEMENTS_INFO,
    &STATEMENTS,
    &STATEMENTS_OWN,
    &STATEMENTS_TEXT,
    &INDEX_STATS,
    &TABLE_STATS,
    &SCHEMA_FINDINGS,
    &STATS_WINDOW,
    &PLANS_SETUP,
    &PLAN_TABLES,
    &MIGRATION_SESSIONS,
    &MIGRATION_PROGRESS,
    &MIGRATION_VERSION_TABLES,
    &MIGRATION_VERSION,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `-- serves: PostgreSQL 13+` / `-- serves: PostgreSQL 13-16` into majors.
    fn served_majors(sql: &str) -> (i32, Option<i32>) {
        let first = sql.lines().nth(1).unwrap_or("");
        let range = first
            .strip_prefix("-- serves: PostgreSQL ")
            .unwrap_or_else(|| panic!("first line must be `-- serves: PostgreSQL …`: {first}"));
        if let Some(min) = range.strip_suffix('+') {
            return (min.trim().parse().unwrap(), None);
        }
        match range.split_once('-') {
            Some((a, b)) => (a.trim().parse().unwrap(), Some(b.trim().parse().unwrap())),
            None => {
                let only = range.trim().parse().expect("a major, `13+` or `13-16`");
                (only, Some(only))
            }
        }
    }

    #[test]
    fn every_query_starts_with_the_marker() {
        for q in ALL {
            for v in q.variants {
                assert!(v.sql.starts_with(MARKER), "{}", v.file);
            }
        }
    }

    #[test]
    fn exactly_one_variant_per_supported_major() {
        for q in ALL {
            for major in 13..=18 {
                let version = major * 10000;
                let serving: Vec<_> = q
                    .variants
                    .iter()
                    .filter(|v| {
                        let (min, max) = served_majors(v.sql);
                        min <= major && max.is_none_or(|m| major <= m)
                    })
                    .collect();
                assert_eq!(serving.len(), 1, "{} on {major}: {serving:?}", q.name);
                assert_eq!(q.variant(version).unwrap().file, serving[0].file);
            }
            assert!(q.variant(120000).is_err());
        }
    }

    #[test]
    fn headers_agree_with_the_variant_table() {
        for q in ALL {
            for (i, v) in q.variants.iter().enumerate() {
                let (min, max) = served_majors(v.sql);
                assert_eq!(min * 10000, v.min_version, "{}", v.file);
                let next = q.variants.get(i + 1).map(|n| n.min_version / 10000 - 1);
                assert_eq!(
                    max, next,
                    "{}: header range must end where the next starts",
                    v.file
                );
            }
        }
    }
}
