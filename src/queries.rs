//! The SQL pgvitals runs, embedded from `queries/` at build time.
//!
//! Each query has one or more variants, one per range of PostgreSQL majors where the catalog
//! differs. A variant serves from its `min_version` up to the next variant's; every file states
//! the versions it serves on its first line (`-- serves: PostgreSQL 13+` or `13-16`), and a test
//! checks that header against the table below. The variant is picked from `server_version_num`,
//! read when the connection probe connects.

/// The comment in every SQL text pgvitals sends, right after the statement's first word
/// (`SELECT /* pgvitals */ …`). pg_stat_statements keeps it in the entry's text, which is how
/// the statements collector tells pgvitals' own entries from the application's when both use
/// one role. Inside the statement, not before it: PostgreSQL 18 stores a statement's text from
/// its first token, without the comments that precede it.
pub const MARKER: &str = "/* pgvitals */";

/// Where a statement starts in `sql`: after leading whitespace, `--` lines and `/* */` comments.
fn statement_start(sql: &str) -> usize {
    let b = sql.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if sql[i..].starts_with("--") {
            i = sql[i..].find('\n').map_or(b.len(), |n| i + n);
        } else if sql[i..].starts_with("/*") {
            i = sql[i..].find("*/").map_or(b.len(), |n| i + n + 2);
        } else {
            return i;
        }
    }
}

/// Where the first word of the statement in `sql` ends.
fn first_word_end(sql: &str) -> usize {
    let i = statement_start(sql);
    sql[i..]
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .map_or(sql.len(), |n| i + n)
}

/// `sql` with [`MARKER`] after the first word of its statement (leading comments and blank
/// lines skipped).
pub fn mark(sql: &str) -> String {
    let end = first_word_end(sql);
    format!("{} {MARKER}{}", &sql[..end], &sql[end..])
}

/// Whether a statement's text, as pg_stat_statements keeps it (with or without the comments
/// before it), is one pgvitals sent: the marker right after its first word.
pub fn is_marked(text: &str) -> bool {
    let end = first_word_end(text);
    text[end..].starts_with(&format!(" {MARKER}"))
}

/// `name` as a quoted identifier (`"a""b"`): safe whatever it holds, keywords included.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `sql` with `@extschema@` (the placeholder of extension scripts) replaced by the schema an
/// extension is installed in, quoted.
pub fn in_extension_schema(sql: &str, schema: &str) -> String {
    sql.replace("@extschema@", &quote_identifier(schema))
}

use std::collections::HashMap;

/// Oldest PostgreSQL pgvitals supports, as `server_version_num`.
pub const MIN_SERVER_VERSION: i32 = 130000;

/// One SQL file and the first server version it serves.
#[derive(Debug)]
pub struct Variant {
    /// First `server_version_num` this variant serves.
    pub min_version: i32,
    /// File name under `queries/`.
    pub file: &'static str,
    /// The file's text.
    pub text: &'static str,
}

impl Variant {
    /// The SQL to send: the file's text with [`MARKER`] after the statement's first word (made
    /// once per file).
    pub fn sql(&self) -> &'static str {
        static MARKED: std::sync::Mutex<Option<HashMap<&'static str, &'static str>>> =
            std::sync::Mutex::new(None);
        let mut marked = MARKED.lock().unwrap_or_else(|e| e.into_inner());
        marked
            .get_or_insert_with(HashMap::new)
            .entry(self.file)
            .or_insert_with(|| Box::leak(mark(self.text).into_boxed_str()))
    }
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
        self.variant(server_version_num).map(|v| v.sql())
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
                text: include_str!(concat!("../queries/", $file)),
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
query!(
    CONNECTION_HOLDERS,
    "connection_holders",
    [(130000, "connection_holders.sql")]
);
query!(
    IDLE_IN_TRANSACTION,
    "idle_in_transaction",
    [(130000, "idle_in_transaction.sql")]
);
query!(TABLE_SIZES, "table_sizes", [(130000, "table_sizes.sql")]);
query!(
    LINT_TABLE_SIZES,
    "lint_table_sizes",
    [(130000, "lint_table_sizes.sql")]
);
query!(
    DATABASE_STATS,
    "database_stats",
    [
        (130000, "database_stats.sql"),
        (140000, "database_stats.pg14.sql")
    ]
);
query!(
    DATABASE_SIZE,
    "database_size",
    [(130000, "database_size.sql")]
);
query!(WRAPAROUND, "wraparound", [(130000, "wraparound.sql")]);
query!(XMIN_HORIZON, "xmin_horizon", [(130000, "xmin_horizon.sql")]);
query!(VACUUM, "vacuum", [(130000, "vacuum.sql")]);
query!(SEQUENCES, "sequences", [(130000, "sequences.sql")]);
query!(REPLICATION, "replication", [(130000, "replication.sql")]);
query!(BLOAT_TABLES, "bloat_tables", [(130000, "bloat_tables.sql")]);
query!(
    BLOAT_INDEXES,
    "bloat_indexes",
    [(130000, "bloat_indexes.sql")]
);
query!(BLOAT_SETUP, "bloat_setup", [(130000, "bloat_setup.sql")]);
query!(BLOAT_EXACT, "bloat_exact", [(130000, "bloat_exact.sql")]);
query!(
    CHECKPOINTS,
    "checkpoints",
    [
        (130000, "checkpoints.sql"),
        (170000, "checkpoints.pg17.sql")
    ]
);
query!(
    WAL_STATS,
    "wal_stats",
    [
        (130000, "wal_stats.sql"),
        (140000, "wal_stats.pg14.sql"),
        (180000, "wal_stats.pg18.sql")
    ]
);
query!(
    IO_STATS,
    "io_stats",
    [(130000, "io_stats.sql"), (160000, "io_stats.pg16.sql")]
);
query!(
    REPLICATION_SLOTS,
    "replication_slots",
    [(130000, "replication_slots.sql")]
);
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
    STANDARDS_COLUMNS,
    "standards_columns",
    [(130000, "standards_columns.sql")]
);
query!(
    STANDARDS_CONSTRAINTS,
    "standards_constraints",
    [(130000, "standards_constraints.sql")]
);
query!(
    MIGRATION_NOT_NULL_PROOF,
    "migration_not_null_proof",
    [(130000, "migration_not_null_proof.sql")]
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
    &CONNECTION_HOLDERS,
    &IDLE_IN_TRANSACTION,
    &TABLE_SIZES,
    &LINT_TABLE_SIZES,
    &MIGRATION_NOT_NULL_PROOF,
    &STANDARDS_COLUMNS,
    &STANDARDS_CONSTRAINTS,
    &DATABASE_STATS,
    &DATABASE_SIZE,
    &WRAPAROUND,
    &XMIN_HORIZON,
    &VACUUM,
    &SEQUENCES,
    &REPLICATION,
    &REPLICATION_SLOTS,
    &BLOAT_TABLES,
    &BLOAT_INDEXES,
    &BLOAT_SETUP,
    &BLOAT_EXACT,
    &CHECKPOINTS,
    &WAL_STATS,
    &IO_STATS,
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
        let first = sql.lines().next().unwrap_or("");
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
    fn every_query_is_marked_after_its_first_word() {
        for q in ALL {
            for v in q.variants {
                let sql = v.sql();
                assert!(is_marked(sql), "{}: {sql}", v.file);
                let statement = sql.lines().find(|l| !l.starts_with("--")).unwrap();
                assert!(
                    statement.starts_with("SELECT /* pgvitals */ ")
                        || statement.starts_with("WITH /* pgvitals */ "),
                    "{}: {statement}",
                    v.file
                );
            }
        }
        assert_eq!(
            mark("  -- a\n/* b */ BEGIN"),
            "  -- a\n/* b */ BEGIN /* pgvitals */"
        );
        assert_eq!(mark("SET LOCAL x = 1"), "SET /* pgvitals */ LOCAL x = 1");
        assert!(is_marked("SELECT /* pgvitals */ count(*) FROM pg_class"));
        assert!(
            is_marked("-- header\n-- more\nSELECT /* pgvitals */ 1"),
            "PostgreSQL 13-17 keep leading comments"
        );
        assert!(!is_marked(
            "SELECT count(*) FROM t WHERE note = '/* pgvitals */'"
        ));
        assert!(
            !is_marked("/* pgvitals */ SELECT 1"),
            "before the statement PostgreSQL 18 drops it"
        );
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
                        let (min, max) = served_majors(v.text);
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
                let (min, max) = served_majors(v.text);
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
