//! `collectors:`: the settings of each collector.

use serde::{Deserialize, Serialize};

use super::Dur;

/// Settings of every collector.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorsConfig {
    /// `connection`: up, version, sessions by state, transaction ages. Its interval is also the
    /// connection-probe interval.
    pub connection: ConnectionCollectorConfig,
    /// `statements`: pg_stat_statements interval deltas and the latency estimate.
    pub statements: StatementsConfig,
    /// `indexes`: index and heap hit ratios, index usage, maintenance, schema findings.
    pub indexes: IndexesConfig,
    /// `migrations`: running schema changes, what they block, progress, migration history.
    pub migrations: MigrationsConfig,
    /// `table_sizes`: bytes per table (top N) and per-schema remainder.
    pub table_sizes: TableSizesConfig,
    /// `plans`: generic plans of slow, regressed and top statements, and index suggestions.
    pub plans: PlansConfig,
    /// `database`: pg_stat_database's counters per database, and database sizes.
    pub database: DatabaseConfig,
    /// `wraparound`: transaction and multixact ID ages per database, what holds the xmin
    /// horizon back, autovacuum workers busy.
    pub wraparound: IntervalConfig,
    /// `vacuum`: tables autovacuum is overdue on by their own thresholds, the oldest tables by
    /// transaction ID age.
    pub vacuum: TopNConfig,
    /// `sequences`: how much of each sequence (and of the column it feeds) is used.
    pub sequences: TopNConfig,
    /// `replication`: standbys' lag seen from the primary and from themselves, slots' WAL.
    pub replication: IntervalConfig,
    /// `checkpoints`: checkpoints, background writer, WAL (14+) and I/O (16+) counters.
    pub checkpoints: IntervalConfig,
    /// `bloat`: space tables and B-tree indexes waste, estimated (or measured by pgstattuple).
    pub bloat: BloatConfig,
    /// `pgbouncer`: pools, client waits and counters of every `pgbouncers:` entry.
    pub pgbouncer: IntervalConfig,
    /// `standards`: the schema conventions of `standards:` checked against the catalogs.
    pub standards: IntervalConfig,
}

/// Settings of the `bloat` collector.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BloatConfig {
    /// Whether the collector runs at all.
    pub enabled: bool,
    /// Time between two polls (the estimate is only as fresh as ANALYZE: keep it long).
    pub interval: Dur,
    /// Deadline of one poll.
    pub timeout: Dur,
    /// Tables and indexes exported one by one, most wasted bytes first (and, with
    /// pgstattuple, the tables measured).
    pub top_n: u32,
    /// A table or index wasting at least this many bytes ...
    pub min_bytes: f64,
    /// ... and at least this fraction of its size is a finding.
    pub min_ratio: f64,
    /// Measure the top tables with pgstattuple_approx where the extension is installed.
    pub pgstattuple: bool,
}

impl Default for BloatConfig {
    fn default() -> Self {
        BloatConfig {
            enabled: true,
            interval: Dur::secs(3600),
            timeout: Dur::secs(60),
            top_n: 20,
            min_bytes: 64.0 * 1024.0 * 1024.0,
            min_ratio: 0.3,
            pgstattuple: true,
        }
    }
}

impl Default for CollectorsConfig {
    fn default() -> Self {
        CollectorsConfig {
            connection: ConnectionCollectorConfig::default(),
            statements: StatementsConfig::default(),
            indexes: IndexesConfig::default(),
            migrations: MigrationsConfig::default(),
            table_sizes: TableSizesConfig::default(),
            plans: PlansConfig::default(),
            database: DatabaseConfig::default(),
            wraparound: IntervalConfig::default(),
            vacuum: TopNConfig::default(),
            sequences: TopNConfig::default(),
            replication: IntervalConfig {
                interval: Dur::secs(15),
                ..IntervalConfig::default()
            },
            checkpoints: IntervalConfig {
                interval: Dur::secs(30),
                ..IntervalConfig::default()
            },
            bloat: BloatConfig::default(),
            pgbouncer: IntervalConfig {
                interval: Dur::secs(15),
                timeout: Dur::secs(5),
                ..IntervalConfig::default()
            },
            standards: IntervalConfig {
                interval: Dur::secs(300),
                timeout: Dur::secs(20),
                ..IntervalConfig::default()
            },
        }
    }
}

/// Settings of a collector that needs only a schedule.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntervalConfig {
    /// Whether the collector runs at all.
    pub enabled: bool,
    /// Time between two polls.
    pub interval: Dur,
    /// Deadline of one poll.
    pub timeout: Dur,
}

impl Default for IntervalConfig {
    fn default() -> Self {
        IntervalConfig {
            enabled: true,
            interval: Dur::secs(60),
            timeout: Dur::secs(10),
        }
    }
}

/// Settings of a per-database collector that exports its worst `top_n` objects one by one.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopNConfig {
    /// Whether the collector runs at all.
    pub enabled: bool,
    /// Time between two polls.
    pub interval: Dur,
    /// Deadline of one poll.
    pub timeout: Dur,
    /// Objects exported one by one, worst first (every finding is listed in /findings).
    pub top_n: u32,
}

impl Default for TopNConfig {
    fn default() -> Self {
        TopNConfig {
            enabled: true,
            interval: Dur::secs(300),
            timeout: Dur::secs(20),
            top_n: 20,
        }
    }
}

/// Settings of the `database` collector.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Whether the collector runs at all.
    pub enabled: bool,
    /// Time between two reads of pg_stat_database.
    pub interval: Dur,
    /// Deadline of one poll.
    pub timeout: Dur,
    /// Time between two reads of the database sizes (pg_database_size stats every file).
    pub size_interval: Dur,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            enabled: true,
            interval: Dur::secs(15),
            timeout: Dur::secs(10),
            size_interval: Dur::secs(300),
        }
    }
}

/// Settings of the `plans` collector: what it may ask of the database, and how often.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlansConfig {
    /// Whether plans are captured at all.
    pub enabled: bool,
    /// Time between two looks for statements to explain (per polled database).
    pub interval: Dur,
    /// Deadline of one poll.
    pub timeout: Dur,
    /// Plans captured per target per minute, at most (every EXPLAIN, hypothetical ones too).
    pub max_per_minute: u32,
    /// A top statement's plan is captured again when it is older than this.
    pub max_age: Dur,
    /// `statement_timeout` of one EXPLAIN.
    pub statement_timeout: Dur,
    /// Tables with fewer rows get no index suggestion.
    pub suggest_min_rows: u64,
    /// Check suggestions with hypothetical indexes when the hypopg extension is installed.
    pub hypopg: bool,
}

impl Default for PlansConfig {
    fn default() -> Self {
        PlansConfig {
            enabled: true,
            interval: Dur::secs(10),
            timeout: Dur::secs(10),
            max_per_minute: 6,
            max_age: Dur::secs(3600),
            statement_timeout: Dur::secs(2),
            suggest_min_rows: 10_000,
            hypopg: true,
        }
    }
}

/// Settings of the `migrations` collector.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MigrationsConfig {
    /// Whether the collector runs at all.
    pub enabled: bool,
    /// Time between two polls (cheap: keep it short, a migration is seen while it runs).
    pub interval: Dur,
    /// Deadline of one poll.
    pub timeout: Dur,
    /// Migrations kept in memory for `/migrations`.
    pub history: usize,
    /// Tables that hold the schema revision, looked for in every polled database.
    pub version_tables: Vec<VersionTable>,
}

impl Default for MigrationsConfig {
    fn default() -> Self {
        MigrationsConfig {
            enabled: true,
            interval: Dur::secs(5),
            timeout: Dur::secs(5),
            history: 50,
            version_tables: vec![
                VersionTable {
                    table: "alembic_version".into(),
                    column: "version_num".into(),
                    order_by: None,
                    success_column: None,
                },
                VersionTable {
                    table: "flyway_schema_history".into(),
                    column: "version".into(),
                    order_by: Some("installed_rank".into()),
                    success_column: Some("success".into()),
                },
            ],
        }
    }
}

/// A migration tool's version table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VersionTable {
    /// Table name, optionally schema-qualified (`app.schema_version`).
    pub table: String,
    /// Column holding the revision.
    pub column: String,
    /// For tables with one row per migration: the latest is the row with the highest value here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
    /// A boolean column that must be true for a row to count (Flyway's `success`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_column: Option<String>,
}

/// Settings of the `indexes` collector.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexesConfig {
    /// Whether the collector runs at all.
    pub enabled: bool,
    /// Time between two polls: the interval the ratios describe.
    pub interval: Dur,
    /// Deadline of one poll.
    pub timeout: Dur,
    /// Indexes with their own series per interval (most block accesses first).
    pub top_n_indexes: usize,
    /// Tables with their own series per interval (busiest first).
    pub top_n_tables: usize,
    /// Findings of each kind exported as series (largest first); `/findings` lists all.
    pub findings_top_n: usize,
    /// How often the catalog findings (duplicate indexes, unindexed foreign keys, tables
    /// without a primary key) are re-read: they change only with DDL.
    pub findings_interval: Dur,
    /// An index is called unused only after this much statistics without a scan.
    pub unused_index_min_age: Dur,
    /// Statistics are stale when the rows modified since the last analyze exceed this fraction
    /// of the live rows …
    pub stale_stats_fraction: f64,
    /// … and this many rows.
    pub stale_stats_min_rows: u64,
}

impl Default for IndexesConfig {
    fn default() -> Self {
        IndexesConfig {
            enabled: true,
            // One poll reads every index's counters (≈ 45 ms of database time on 12,500
            // indexes): once a minute keeps the daemon's cost per minute low, and a ratio over
            // a minute is still fresh for a 10-minute alert.
            interval: Dur::secs(60),
            timeout: Dur::secs(20),
            top_n_indexes: 100,
            top_n_tables: 50,
            findings_top_n: 100,
            findings_interval: Dur::secs(300),
            unused_index_min_age: Dur::secs(7 * 24 * 3600),
            stale_stats_fraction: 0.2,
            stale_stats_min_rows: 1000,
        }
    }
}

/// Settings of the `statements` collector.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatementsConfig {
    /// Whether the collector runs at all.
    pub enabled: bool,
    /// Time between two polls: the length of the interval the deltas describe.
    pub interval: Dur,
    /// Deadline of one poll.
    pub timeout: Dur,
    /// Statements exported one by one per interval (largest execution time first); the rest
    /// are summed into `queryid="other"`.
    pub top_n: usize,
    /// Characters of normalized query text kept for `/statements`.
    pub query_text_length: usize,
    /// Put the (truncated) query text into a `query` label too. Off: labels are for identity.
    pub query_text_label: bool,
    /// Characters of query text in the `query` label when `query_text_label` is on.
    pub query_text_label_length: usize,
    /// Statements whose history (1-minute buckets for an hour, 10-minute for 24 h) is kept per
    /// target; a new one evicts the one seen longest ago.
    pub history_statements: usize,
}

impl Default for StatementsConfig {
    fn default() -> Self {
        StatementsConfig {
            enabled: true,
            interval: Dur::secs(15),
            timeout: Dur::secs(10),
            top_n: 50,
            query_text_length: 2000,
            query_text_label: false,
            query_text_label_length: 80,
            history_statements: 100,
        }
    }
}

/// Settings of the `connection` collector.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionCollectorConfig {
    /// Whether the collector runs at all (the connection probe runs regardless).
    pub enabled: bool,
    /// Time between two polls, and between two connection probes.
    pub interval: Dur,
    /// Deadline of one poll; a poll past it is cancelled on the server and counted as failed.
    pub timeout: Dur,
    /// Session holders (application, user, client, state) exported one by one, most sessions
    /// first, the rest summed; and the idle-in-transaction sessions `/connections` lists.
    pub top_n: u32,
}

impl Default for ConnectionCollectorConfig {
    fn default() -> Self {
        ConnectionCollectorConfig {
            enabled: true,
            interval: Dur::secs(15),
            timeout: Dur::secs(10),
            top_n: 20,
        }
    }
}

/// Settings of the `table_sizes` collector.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TableSizesConfig {
    /// Whether the collector runs at all.
    pub enabled: bool,
    /// Time between two polls (sizes stat files on disk: keep it rare).
    pub interval: Dur,
    /// Deadline of one poll.
    pub timeout: Dur,
    /// Tables exported one by one (largest first); the rest are summed per schema.
    pub top_n: u32,
}

impl Default for TableSizesConfig {
    fn default() -> Self {
        TableSizesConfig {
            enabled: true,
            interval: Dur::secs(300),
            timeout: Dur::secs(30),
            top_n: 200,
        }
    }
}
