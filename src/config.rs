//! Loading and validating `config.yaml`.
//!
//! The file is parsed strictly: unknown keys, wrong types and malformed durations are refused
//! with a [`ConfigError`] that names the file, line, column and key. Secrets never need to sit in
//! the file: a target's DSN can come from an environment variable (`dsn_env`), its password from a
//! file (`password_file`), and `${VAR}` in `dsn`/`password_file` is expanded from the environment.
//! [`Config::masked_yaml`] prints the effective configuration with every password replaced by
//! `****`, which is what `pgvitals check-config` shows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The default address `/metrics` is served on (postgres_exporter uses 9187; we do not collide).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9816";

/// A configuration error, located in the file where that is possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the configuration came from (or `<inline>`).
    pub file: String,
    /// 1-based line of the offending key, when known.
    pub line: Option<usize>,
    /// 1-based column of the offending key, when known.
    pub column: Option<usize>,
    /// Dotted path of the offending key, e.g. `targets[0].dsn`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": key `{}`: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration, as read from `config.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The PostgreSQL servers to watch.
    pub targets: Vec<TargetConfig>,
    /// Connection settings shared by every target.
    #[serde(default)]
    pub connections: ConnectionsConfig,
    /// Per-collector settings.
    #[serde(default)]
    pub collectors: CollectorsConfig,
    /// The team's performance targets.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Polls running at once, across every target and collector. Bounds what the daemon asks
    /// of itself (and opens) when it watches many targets; a poll waits for a turn.
    #[serde(default = "default_max_concurrent_polls")]
    pub max_concurrent_polls: usize,
    /// This daemon's share of `targets`, for splitting one target list over several daemons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// Alert rules: the built-in ones (from `thresholds`) and user-defined ones.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// Where firing and resolved alerts are delivered; none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alertmanager: Option<AlertmanagerConfig>,
    /// The HTTP server: TLS, authentication, limits, lifecycle endpoints.
    #[serde(default)]
    pub web: WebConfig,
}

/// `web:`: how the HTTP server is exposed, in the exporter-toolkit way (TLS, bcrypt basic
/// auth, client certificates), plus limits that keep slow or hostile clients from exhausting it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Serve `POST /-/reload` (re-read the configuration file), like Prometheus'
    /// `--web.enable-lifecycle`. Off by default.
    pub enable_lifecycle: bool,
    /// Serve HTTPS only (the listen address speaks no plain HTTP then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<WebTlsConfig>,
    /// Users allowed in, by name, with bcrypt hashes of their passwords (`htpasswd -nbB`).
    /// Empty: no authentication.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub basic_auth_users: BTreeMap<String, String>,
    /// `/healthz` and `/readyz` answer without credentials (for load balancers and probes).
    pub open_health_endpoints: bool,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Time a client gets to send a request's headers (also ends idle keep-alive connections).
    pub header_read_timeout: Dur,
    /// Largest request body accepted (pgvitals reads none; larger ones get 413).
    pub max_request_body_bytes: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enable_lifecycle: false,
            tls: None,
            basic_auth_users: BTreeMap::new(),
            open_health_endpoints: true,
            max_connections: 512,
            header_read_timeout: Dur::secs(10),
            max_request_body_bytes: 64 * 1024,
        }
    }
}

/// `web.tls`: the server's certificate, key and what clients must present.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebTlsConfig {
    /// Certificate chain (PEM). Re-read when the file changes.
    pub cert_file: PathBuf,
    /// Private key (PEM). Re-read when the file changes.
    pub key_file: PathBuf,
    /// Lowest TLS version accepted: `TLS12` or `TLS13`.
    #[serde(default = "default_min_tls")]
    pub min_version: String,
    /// When set, clients must present a certificate signed by one of these CAs (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<PathBuf>,
}

fn default_min_tls() -> String {
    "TLS12".into()
}

fn default_max_concurrent_polls() -> usize {
    16
}

/// `shard: {index, count}`: this daemon polls the targets whose name hashes to `index`
/// (FNV-1a of the name, modulo `count`). The assignment depends on the name alone, so N daemons
/// with the same target list and indexes 0..N split it with no coordination.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// This daemon's shard, 0-based.
    pub index: u32,
    /// How many daemons share the target list.
    pub count: u32,
}

impl Shard {
    /// The shard a target name belongs to.
    pub fn of(name: &str, count: u32) -> u32 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        (h % u64::from(count.max(1))) as u32
    }

    /// Whether this daemon polls the target.
    pub fn owns(&self, name: &str) -> bool {
        Shard::of(name, self.count) == self.index
    }
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
        .parse()
        .expect("valid default listen address")
}

/// One PostgreSQL server to watch.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Name used as the `target` label on every series of this server.
    pub name: String,
    /// libpq-style DSN, URL (`postgresql://…`) or `key=value` form. `${VAR}` is expanded.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_masked_dsn"
    )]
    pub dsn: Option<String>,
    /// Name of an environment variable that holds the DSN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn_env: Option<String>,
    /// A file whose first line is the password (overrides any password in the DSN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Which databases to poll with the per-database collectors.
    #[serde(default, skip_serializing_if = "Databases::is_from_dsn")]
    pub databases: Databases,
}

/// Which databases of a server the per-database collectors poll.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Databases {
    /// Only the database named in the DSN.
    #[default]
    FromDsn,
    /// Every database that accepts connections, discovered at each connection probe.
    Auto,
    /// These databases.
    List(Vec<String>),
}

impl Databases {
    fn is_from_dsn(&self) -> bool {
        *self == Databases::FromDsn
    }
}

impl<'de> Deserialize<'de> for Databases {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            List(Vec<String>),
        }
        match Raw::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected `auto` or a list of database names"))?
        {
            Raw::Word(w) if w == "auto" => Ok(Databases::Auto),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "expected `auto` or a list of database names, got `{w}`"
            ))),
            Raw::List(l) if l.is_empty() => Err(serde::de::Error::custom(
                "an empty list polls nothing: omit the key to use the DSN's database",
            )),
            Raw::List(l) => Ok(Databases::List(l)),
        }
    }
}

impl Serialize for Databases {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Databases::FromDsn => s.serialize_none(),
            Databases::Auto => s.serialize_str("auto"),
            Databases::List(l) => l.serialize(s),
        }
    }
}

/// Connection settings: pools, timeouts and the session settings that keep the monitor harmless.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionsConfig {
    /// Maximum pooled connections per target database.
    pub pool_size: usize,
    /// How long a collector waits for a pooled connection before its poll fails.
    pub acquire_timeout: Dur,
    /// TCP connect + authentication timeout for new connections.
    pub connect_timeout: Dur,
    /// `statement_timeout` of every monitoring session.
    pub statement_timeout: Dur,
    /// `lock_timeout` of every monitoring session.
    pub lock_timeout: Dur,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        ConnectionsConfig {
            pool_size: 2,
            acquire_timeout: Dur::secs(5),
            connect_timeout: Dur::secs(5),
            statement_timeout: Dur::secs(30),
            lock_timeout: Dur::secs(1),
        }
    }
}

/// Settings of every collector.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
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
            interval: Dur::secs(30),
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
}

impl Default for ConnectionCollectorConfig {
    fn default() -> Self {
        ConnectionCollectorConfig {
            enabled: true,
            interval: Dur::secs(15),
            timeout: Dur::secs(10),
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

/// The team's four performance targets.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// `fraction` of query executions must finish `under` this time.
    pub query_latency: QueryLatencyThreshold,
    /// Index hit ratio must stay above this (0..1).
    pub index_hit_ratio: f64,
    /// Connection acquisition must take less than this.
    pub connection_acquisition: Dur,
    /// A schema change must run for less than this.
    pub migration_duration: Dur,
    /// A statement whose mean execution time in an interval exceeds this is slow (`SlowQuery`).
    pub slow_query: Dur,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            query_latency: QueryLatencyThreshold::default(),
            index_hit_ratio: 0.90,
            connection_acquisition: Dur::millis(50),
            migration_duration: Dur::secs(300),
            slow_query: Dur::millis(100),
        }
    }
}

/// `alerts:`: how and what pgvitals evaluates.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// How often the rules are evaluated against the latest polls.
    pub evaluation_interval: Dur,
    /// How long an alert whose series vanished while its collector kept succeeding (e.g. a
    /// statement with no executions in the interval) keeps its state before it is treated as
    /// no longer true.
    pub hold_absent: Span,
    /// How long resolved alerts are still sent to Alertmanager (with their `endsAt`).
    pub resolved_retention: Dur,
    /// Window of the `ConnectionAcquisitionSlow` p95.
    pub connection_acquisition_window: Dur,
    /// Base URL of this daemon as users reach it, for alerts' `generatorURL` (default:
    /// `http://` + `listen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    /// Overrides of the built-in rules, by alert name.
    pub builtin: BTreeMap<String, BuiltinRuleConfig>,
    /// User-defined rules over any exported metric.
    pub rules: Vec<UserRuleConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            evaluation_interval: Dur::secs(15),
            hold_absent: Span(Duration::from_secs(300)),
            resolved_retention: Dur::secs(900),
            connection_acquisition_window: Dur::secs(300),
            external_url: None,
            builtin: BTreeMap::new(),
            rules: Vec::new(),
        }
    }
}

/// The names of the built-in alert rules, the keys `alerts.builtin` accepts.
pub const BUILTIN_RULES: [&str; 7] = [
    "QueryLatencyTargetMissed",
    "SlowQuery",
    "IndexHitRatioLow",
    "ConnectionAcquisitionSlow",
    "MigrationTooSlow",
    "TargetDown",
    "CollectorFailing",
];

/// Overrides of one built-in rule; unset fields keep the rule's defaults.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuiltinRuleConfig {
    /// `false` turns the rule off.
    pub enabled: bool,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<Span>,
    /// How long a firing alert keeps firing after the condition stopped holding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<Span>,
    /// The `severity` label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Extra labels (added to the alert's identity).
    pub labels: BTreeMap<String, String>,
    /// Extra or replaced annotations (templates).
    pub annotations: BTreeMap<String, String>,
}

impl Default for BuiltinRuleConfig {
    fn default() -> Self {
        BuiltinRuleConfig {
            enabled: true,
            for_: None,
            keep_firing_for: None,
            severity: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }
}

/// A user-defined rule: `expr` is `metric{label="value",...} op number` over any exported metric.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserRuleConfig {
    /// The alert name.
    pub alert: String,
    /// The condition, e.g. `pgvitals_connections{state="active"} > 80`.
    pub expr: String,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for", default)]
    pub for_: Span,
    /// How long a firing alert keeps firing after the condition stopped holding.
    #[serde(default)]
    pub keep_firing_for: Span,
    /// The `severity` label.
    #[serde(default = "default_severity")]
    pub severity: String,
    /// Extra labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations (templates: `{{ $value }}`, `{{ $labels.NAME }}`, humanize functions).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn default_severity() -> String {
    "warning".into()
}

/// `alertmanager:`: where alerts are POSTed (`/api/v2/alerts` of each URL).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Alertmanager base URLs, e.g. `http://alertmanager:9093`; every one gets every alert.
    pub urls: Vec<String>,
    /// Deadline of one delivery attempt.
    #[serde(default = "default_alertmanager_timeout")]
    pub timeout: Dur,
    /// HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuthConfig>,
    /// Bearer token sent as `Authorization: Bearer …`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_masked_secret"
    )]
    pub bearer_token: Option<String>,
    /// A file whose first line is the bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// TLS settings for `https://` URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsClientConfig>,
}

/// TLS settings of an HTTPS client.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClientConfig {
    /// CA certificates (PEM) to verify the server with, instead of the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM), for servers that ask for one; needs `key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

fn default_alertmanager_timeout() -> Dur {
    Dur::secs(10)
}

/// HTTP basic authentication credentials.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// User name.
    pub username: String,
    /// Password (prefer `password_file`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_masked_secret"
    )]
    pub password: Option<String>,
    /// A file whose first line is the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

fn ser_masked_secret<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("****"),
        None => s.serialize_none(),
    }
}

/// Reads the first line of a secret file (a password or token).
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    let path = expand_env(&path.to_string_lossy())?;
    let content = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read secret file `{path}`: {e}"))?;
    let secret = content.lines().next().unwrap_or("").to_string();
    if secret.is_empty() {
        return Err(format!("secret file `{path}` is empty"));
    }
    Ok(secret)
}

/// "`fraction` of executions under `under`".
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryLatencyThreshold {
    /// The latency bound.
    pub under: Dur,
    /// The fraction of executions that must be under it (0..1).
    pub fraction: f64,
}

impl Default for QueryLatencyThreshold {
    fn default() -> Self {
        QueryLatencyThreshold {
            under: Dur::millis(100),
            fraction: 0.95,
        }
    }
}

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
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let parsed = humantime::parse_duration(s.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration `{s}` ({e}); write e.g. `250ms`, `15s`, `5m`"
            ))
        })?;
        if parsed.is_zero() {
            return Err(serde::de::Error::custom(format!(
                "invalid duration `{s}`: must be greater than zero"
            )));
        }
        Ok(Dur(parsed))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// A duration that may be zero (`for: 0s`), written like [`Dur`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span(pub Duration);

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim()).map(Span).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration `{s}` ({e}); write e.g. `0s`, `30s`, `5m`"
            ))
        })
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_zero() {
            return s.serialize_str("0s");
        }
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

fn ser_masked_dsn<S: Serializer>(dsn: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match dsn {
        Some(d) => s.serialize_str(&mask_dsn(d)),
        None => s.serialize_none(),
    }
}

/// Replaces the password of a DSN (URL or `key=value` form) with `****`.
pub fn mask_dsn(dsn: &str) -> String {
    let trimmed = dsn.trim_start();
    if let Some(rest) = trimmed
        .strip_prefix("postgresql://")
        .map(|r| ("postgresql://", r))
        .or_else(|| {
            trimmed
                .strip_prefix("postgres://")
                .map(|r| ("postgres://", r))
        })
    {
        let (scheme, rest) = rest;
        let (authority_end, _) = rest
            .char_indices()
            .find(|&(_, c)| c == '/' || c == '?')
            .unwrap_or((rest.len(), ' '));
        let authority = &rest[..authority_end];
        let tail = &rest[authority_end..];
        let authority = match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                let host = &authority[at..];
                match userinfo.find(':') {
                    Some(colon) => format!("{}:****{}", &userinfo[..colon], host),
                    None => authority.to_string(),
                }
            }
            None => authority.to_string(),
        };
        return format!("{scheme}{authority}{}", mask_query_password(tail));
    }
    mask_keyword_password(dsn)
}

fn mask_query_password(tail: &str) -> String {
    let Some(q) = tail.find('?') else {
        return tail.to_string();
    };
    let (path, query) = tail.split_at(q + 1);
    let masked: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=****"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{path}{}", masked.join("&"))
}

fn mask_keyword_password(dsn: &str) -> String {
    // key=value pairs separated by whitespace; a value may be single-quoted with \' escapes.
    let mut out = String::with_capacity(dsn.len());
    let mut rest = dsn;
    while let Some(pos) = find_password_key(rest) {
        out.push_str(&rest[..pos.value_start]);
        out.push_str("****");
        rest = &rest[pos.value_end..];
    }
    out.push_str(rest);
    out
}

struct ValueSpan {
    value_start: usize,
    value_end: usize,
}

fn find_password_key(s: &str) -> Option<ValueSpan> {
    let bytes = s.as_bytes();
    let mut search_from = 0;
    while let Some(rel) = s[search_from..].find("password") {
        let start = search_from + rel;
        let at_word_start = start == 0 || bytes[start - 1].is_ascii_whitespace();
        let mut i = start + "password".len();
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if at_word_start && i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i] == b' ' {
                i += 1;
            }
            let value_start = i;
            if i < bytes.len() && bytes[i] == b'\'' {
                i += 1;
                while i < bytes.len() && bytes[i] != b'\'' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(bytes.len());
            } else {
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
            }
            return Some(ValueSpan {
                value_start,
                value_end: i,
            });
        }
        search_from = start + 1;
    }
    None
}

/// Expands `${VAR}` from the environment; `$$` stands for a literal `$`.
pub fn expand_env(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| "unterminated `${` (write `$$` for a literal `$`)".to_string())?;
            let name = &body[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "`${{{name}}}` is not a valid environment variable name"
                ));
            }
            let value = std::env::var(name)
                .map_err(|_| format!("environment variable `{name}` is not set"))?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A target whose DSN, password and database list have been resolved.
#[derive(Clone)]
pub struct ResolvedTarget {
    /// The `target` label.
    pub name: String,
    /// Connection parameters (host, port, user, password, database of the DSN).
    pub pg: tokio_postgres::Config,
    /// Database of the DSN (`postgres` when the DSN names none): cluster-wide collectors run there.
    pub primary_database: String,
    /// Which databases the per-database collectors poll.
    pub databases: Databases,
    /// TLS to the server, from the DSN's `sslmode`, `sslrootcert`, `sslcert`, `sslkey`.
    pub tls: TlsSettings,
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it (libpq's default; `allow` is read as this too).
    #[default]
    Prefer,
    /// TLS, the certificate not checked (checked against `sslrootcert` when one is given).
    Require,
    /// TLS, the certificate chain checked against `sslrootcert` (or the system's CAs).
    VerifyCa,
    /// As `verify-ca`, and the certificate must name the host connected to.
    VerifyFull,
}

/// TLS settings of a target, taken out of its DSN (the PostgreSQL driver reads none but
/// `sslmode=disable|prefer|require`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    /// How strict.
    pub mode: SslMode,
    /// CA certificates (PEM) to verify the server with.
    pub root_cert: Option<PathBuf>,
    /// Client certificate (PEM), with `key`.
    pub cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    pub key: Option<PathBuf>,
}

/// Takes `sslmode`, `sslrootcert`, `sslcert` and `sslkey` out of a DSN (URL query or
/// `key=value` form); returns the rest and the settings.
pub fn split_tls_params(dsn: &str) -> Result<(String, TlsSettings), String> {
    let mut tls = TlsSettings::default();
    let mut take = |k: &str, v: &str| -> Result<bool, String> {
        match k {
            "sslmode" => {
                tls.mode = match v {
                    "disable" => SslMode::Disable,
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    _ => {
                        return Err(format!(
                    "sslmode `{v}`: use disable, allow, prefer, require, verify-ca or verify-full"
                ))
                    }
                }
            }
            "sslrootcert" => tls.root_cert = Some(PathBuf::from(v)),
            "sslcert" => tls.cert = Some(PathBuf::from(v)),
            "sslkey" => tls.key = Some(PathBuf::from(v)),
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if let Some((head, query)) = dsn.split_once("://").and_then(|_| dsn.split_once('?'))
    {
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(k, v)? {
                kept.push(pair);
            }
        }
        if kept.is_empty() {
            head.to_string()
        } else {
            format!("{head}?{}", kept.join("&"))
        }
    } else if dsn.contains("://") {
        dsn.to_string()
    } else {
        let mut kept = Vec::new();
        for word in dsn.split_whitespace() {
            let (k, v) = word.split_once('=').unwrap_or((word, ""));
            if !take(k.trim(), v.trim_matches('\''))? {
                kept.push(word);
            }
        }
        kept.join(" ")
    };
    if tls.cert.is_some() != tls.key.is_some() {
        return Err("`sslcert` and `sslkey` go together".into());
    }
    for path in [&tls.root_cert, &tls.cert, &tls.key].into_iter().flatten() {
        std::fs::metadata(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    }
    Ok((rest, tls))
}

impl fmt::Debug for ResolvedTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // tokio_postgres::Config's Debug redacts the password; spell the fields out to be sure.
        f.debug_struct("ResolvedTarget")
            .field("name", &self.name)
            .field("hosts", &self.pg.get_hosts())
            .field("ports", &self.pg.get_ports())
            .field("user", &self.pg.get_user())
            .field("primary_database", &self.primary_database)
            .field("databases", &self.databases)
            .finish()
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: None,
            column: None,
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, &file)
    }

    /// Parses and validates configuration text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let loc = inner.location();
            let message = strip_location(&inner.to_string());
            // serde_yaml_ng prefixes the parent path; we print the full key ourselves.
            let message = match message.split_once(": ") {
                Some((prefix, rest)) if key.starts_with(prefix) => rest.to_string(),
                _ => message,
            };
            let (line, column) = match &loc {
                Some(l) => (Some(l.line()), Some(l.column())),
                // The parser gives no location when the text holds a second document: point
                // at where it starts.
                None if message.contains("more than one document") => {
                    (second_document_line(text), Some(1))
                }
                None => (None, None),
            };
            ConfigError {
                file: file.to_string(),
                line,
                column,
                key: if key == "." { String::new() } else { key },
                message,
            }
        })?;
        config.validate(text, file)?;
        Ok(config)
    }

    fn validate(&self, text: &str, file: &str) -> Result<(), ConfigError> {
        let err = |key: String, message: String| {
            let (line, column) = locate_key(text, &key).unzip();
            ConfigError {
                file: file.to_string(),
                line,
                column,
                key,
                message,
            }
        };
        if self.targets.is_empty() {
            return Err(err(
                "targets".into(),
                "at least one target is required".into(),
            ));
        }
        let mut names = BTreeSet::new();
        for (i, t) in self.targets.iter().enumerate() {
            if t.name.is_empty()
                || !t
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(err(
                    format!("targets[{i}].name"),
                    format!(
                        "`{}` is not a valid target name: use letters, digits, `-`, `_` or `.`",
                        t.name
                    ),
                ));
            }
            if !names.insert(t.name.as_str()) {
                return Err(err(
                    format!("targets[{i}].name"),
                    format!("target name `{}` is used twice", t.name),
                ));
            }
            t.resolve_at(i).map_err(|(key, msg)| err(key, msg))?;
        }
        if let Some(sh) = self.shard {
            if sh.count == 0 || sh.index >= sh.count {
                return Err(err(
                    "shard".into(),
                    format!(
                        "index {} of count {}: count must be at least 1 and index below it",
                        sh.index, sh.count
                    ),
                ));
            }
        }
        if self.max_concurrent_polls == 0 {
            return Err(err(
                "max_concurrent_polls".into(),
                "must be at least 1".into(),
            ));
        }
        let c = &self.connections;
        if c.pool_size == 0 {
            return Err(err(
                "connections.pool_size".into(),
                "must be at least 1".into(),
            ));
        }
        let t = &self.thresholds;
        if !(0.0..=1.0).contains(&t.query_latency.fraction) {
            return Err(err(
                "thresholds.query_latency.fraction".into(),
                format!(
                    "{} is not a fraction between 0 and 1",
                    t.query_latency.fraction
                ),
            ));
        }
        if !(0.0..=1.0).contains(&t.index_hit_ratio) {
            return Err(err(
                "thresholds.index_hit_ratio".into(),
                format!("{} is not a ratio between 0 and 1", t.index_hit_ratio),
            ));
        }
        self.validate_alerts().map_err(|(key, msg)| err(key, msg))?;
        if self.collectors.statements.top_n == 0 {
            return Err(err(
                "collectors.statements.top_n".into(),
                "must be at least 1".into(),
            ));
        }
        if self.collectors.table_sizes.top_n == 0 {
            return Err(err(
                "collectors.table_sizes.top_n".into(),
                "must be at least 1".into(),
            ));
        }
        Ok(())
    }

    fn validate_alerts(&self) -> Result<(), (String, String)> {
        let a = &self.alerts;
        let check_labels =
            |key: String, labels: &BTreeMap<String, String>| -> Result<(), (String, String)> {
                for name in labels.keys() {
                    if !valid_label_name(name) || name == "alertname" || name.starts_with("__") {
                        return Err((
                            format!("{key}.{name}"),
                            format!("`{name}` cannot be an alert label name"),
                        ));
                    }
                }
                Ok(())
            };
        let check_annotations = |key: String,
                                 annotations: &BTreeMap<String, String>|
         -> Result<(), (String, String)> {
            for (name, text) in annotations {
                crate::template::Template::parse(text).map_err(|e| (format!("{key}.{name}"), e))?;
            }
            Ok(())
        };
        for (name, b) in &a.builtin {
            if !BUILTIN_RULES.contains(&name.as_str()) {
                return Err((
                    format!("alerts.builtin.{name}"),
                    format!(
                        "no built-in rule is called `{name}`; they are {}",
                        BUILTIN_RULES.join(", ")
                    ),
                ));
            }
            check_labels(format!("alerts.builtin.{name}.labels"), &b.labels)?;
            check_annotations(format!("alerts.builtin.{name}.annotations"), &b.annotations)?;
        }
        let mut names = BTreeSet::new();
        for (i, r) in a.rules.iter().enumerate() {
            let key = |k: &str| format!("alerts.rules[{i}].{k}");
            if !valid_label_name(&r.alert) {
                return Err((
                    key("alert"),
                    format!(
                        "`{}` is not a valid alert name: use letters, digits and `_`",
                        r.alert
                    ),
                ));
            }
            if BUILTIN_RULES.contains(&r.alert.as_str()) {
                return Err((
                    key("alert"),
                    format!(
                        "`{}` is a built-in rule; change it under `alerts.builtin.{}`",
                        r.alert, r.alert
                    ),
                ));
            }
            if !names.insert(r.alert.as_str()) {
                return Err((
                    key("alert"),
                    format!("alert name `{}` is used twice", r.alert),
                ));
            }
            crate::rule_expr::Expr::parse(&r.expr).map_err(|e| (key("expr"), e))?;
            check_labels(key("labels"), &r.labels)?;
            check_annotations(key("annotations"), &r.annotations)?;
        }
        let w = &self.web;
        if let Some(t) = &w.tls {
            if t.min_version != "TLS12" && t.min_version != "TLS13" {
                return Err((
                    "web.tls.min_version".into(),
                    format!("`{}`: write TLS12 or TLS13", t.min_version),
                ));
            }
        }
        for (user, hash) in &w.basic_auth_users {
            if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$"))
                || hash.len() != 60
            {
                return Err((
                    format!("web.basic_auth_users.{user}"),
                    "not a bcrypt hash (make one with `htpasswd -nbBC 10 USER PASSWORD`)".into(),
                ));
            }
        }
        if w.max_connections == 0 {
            return Err(("web.max_connections".into(), "must be at least 1".into()));
        }
        if let Some(url) = &a.external_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err((
                    "alerts.external_url".into(),
                    format!("`{url}` is not an http:// or https:// URL"),
                ));
            }
        }
        if let Some(am) = &self.alertmanager {
            if am.urls.is_empty() {
                return Err((
                    "alertmanager.urls".into(),
                    "at least one Alertmanager URL is required".into(),
                ));
            }
            for (i, url) in am.urls.iter().enumerate() {
                let rest = url
                    .strip_prefix("http://")
                    .or_else(|| url.strip_prefix("https://"))
                    .ok_or_else(|| {
                        (
                            format!("alertmanager.urls[{i}]"),
                            format!("`{url}` is not an http:// or https:// URL"),
                        )
                    })?;
                if rest
                    .split('/')
                    .next()
                    .is_some_and(|authority| authority.contains('@'))
                {
                    return Err((
                        format!("alertmanager.urls[{i}]"),
                        "put credentials under `basic_auth`, not in the URL".into(),
                    ));
                }
                if rest.is_empty() || rest.starts_with('/') {
                    return Err((
                        format!("alertmanager.urls[{i}]"),
                        format!("`{url}` names no host"),
                    ));
                }
            }
            if let Some(b) = &am.basic_auth {
                if b.password.is_some() == b.password_file.is_some() {
                    return Err((
                        "alertmanager.basic_auth".into(),
                        "set exactly one of `password` and `password_file`".into(),
                    ));
                }
            }
            if let Some(t) = &am.tls {
                if t.cert_file.is_some() != t.key_file.is_some() {
                    return Err((
                        "alertmanager.tls".into(),
                        "`cert_file` and `key_file` go together".into(),
                    ));
                }
            }
            if am.bearer_token.is_some() && am.bearer_token_file.is_some() {
                return Err((
                    "alertmanager.bearer_token_file".into(),
                    "set either `bearer_token` or `bearer_token_file`, not both".into(),
                ));
            }
            if am.basic_auth.is_some()
                && (am.bearer_token.is_some() || am.bearer_token_file.is_some())
            {
                return Err((
                    "alertmanager.basic_auth".into(),
                    "set either basic authentication or a bearer token, not both".into(),
                ));
            }
        }
        Ok(())
    }

    /// Resolves the targets this daemon polls (its shard's, or all): reads `dsn_env`,
    /// `password_file`, expands `${VAR}`.
    pub fn resolve_targets(&self) -> Result<Vec<ResolvedTarget>, ConfigError> {
        self.targets
            .iter()
            .enumerate()
            .filter(|(_, t)| self.shard.is_none_or(|s| s.owns(&t.name)))
            .map(|(i, t)| {
                t.resolve_at(i).map_err(|(key, message)| ConfigError {
                    file: "<config>".into(),
                    line: None,
                    column: None,
                    key,
                    message,
                })
            })
            .collect()
    }

    /// The effective configuration as YAML, every password replaced by `****`.
    pub fn masked_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

impl TargetConfig {
    fn resolve_at(&self, i: usize) -> Result<ResolvedTarget, (String, String)> {
        let key = |k: &str| format!("targets[{i}].{k}");
        let dsn = match (&self.dsn, &self.dsn_env) {
            (Some(_), Some(_)) => {
                return Err((
                    key("dsn_env"),
                    "set either `dsn` or `dsn_env`, not both".into(),
                ))
            }
            (None, None) => {
                return Err((
                    format!("targets[{i}]"),
                    "a target needs `dsn` or `dsn_env`".into(),
                ))
            }
            (Some(dsn), None) => expand_env(dsn).map_err(|e| (key("dsn"), e))?,
            (None, Some(var)) => std::env::var(var).map_err(|_| {
                (
                    key("dsn_env"),
                    format!("environment variable `{var}` is not set"),
                )
            })?,
        };
        let dsn_key = if self.dsn.is_some() { "dsn" } else { "dsn_env" };
        let (dsn, tls) = split_tls_params(&dsn).map_err(|e| (key(dsn_key), e))?;
        let mut pg: tokio_postgres::Config = dsn.parse().map_err(|e| {
            (
                key(if self.dsn.is_some() { "dsn" } else { "dsn_env" }),
                format!("invalid DSN `{}`: {e}", mask_dsn(&dsn)),
            )
        })?;
        if let Some(pf) = &self.password_file {
            let path = expand_env(&pf.to_string_lossy()).map_err(|e| (key("password_file"), e))?;
            let content = std::fs::read_to_string(&path).map_err(|e| {
                (
                    key("password_file"),
                    format!("cannot read password file `{path}`: {e}"),
                )
            })?;
            let password = content.lines().next().unwrap_or("").to_string();
            if password.is_empty() {
                return Err((
                    key("password_file"),
                    format!("password file `{path}` is empty"),
                ));
            }
            pg.password(password);
        }
        if pg.get_hosts().is_empty() {
            return Err((
                key("dsn"),
                "the DSN names no host (pgvitals connects over TCP or a socket path)".into(),
            ));
        }
        let user = pg.get_user().map(str::to_string);
        let primary_database = pg
            .get_dbname()
            .map(str::to_string)
            .or(user)
            .unwrap_or_else(|| "postgres".to_string());
        pg.ssl_mode(match tls.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        Ok(ResolvedTarget {
            name: self.name.clone(),
            pg,
            primary_database,
            databases: self.databases.clone(),
            tls,
        })
    }
}

/// The 1-based line where a second YAML document starts: a `---`/`...` marker after some
/// content, else the last line with content (what follows the first document's end).
fn second_document_line(text: &str) -> Option<usize> {
    let mut seen_content = false;
    let mut last = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if seen_content && (line.starts_with("---") || line.starts_with("...")) {
            return Some(i + 1);
        }
        seen_content = true;
        last = Some(i + 1);
    }
    last.or(Some(1))
}

/// A Prometheus label (or alert) name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// serde_yaml_ng appends " at line L column C" to messages; we print the location ourselves.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(pos) => msg[..pos].to_string(),
        None => msg.to_string(),
    }
}

/// Finds the line and column of a dotted key path (`targets[1].name`) in block-style YAML.
///
/// Used for errors found after parsing (duplicate names, a DSN that does not parse), where the
/// YAML parser's own location is no longer at hand. Returns `None` when the text is not laid out
/// in plain block style.
pub fn locate_key(text: &str, path: &str) -> Option<(usize, usize)> {
    let mut segments: Vec<(&str, Option<usize>)> = Vec::new();
    for part in path.split('.') {
        match part.find('[') {
            Some(b) => {
                let idx = part[b + 1..].trim_end_matches(']').parse().ok()?;
                segments.push((&part[..b], Some(idx)));
            }
            None => segments.push((part, None)),
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let (mut from, mut to) = (0usize, lines.len());
    let mut min_indent = 0usize;
    let mut found = None;
    for (key, index) in segments {
        let mut hit = None;
        for (n, line) in lines.iter().enumerate().take(to).skip(from) {
            let content = line.trim_start_matches([' ', '-']);
            let indent = line.len() - content.len();
            if indent < min_indent || content.starts_with('#') {
                continue;
            }
            if content.starts_with(&format!("{key}:")) {
                hit = Some((n, indent));
                break;
            }
        }
        let (n, indent) = hit?;
        found = Some((n + 1, indent + 1));
        // The block of this key: following lines indented deeper.
        let end = lines
            .iter()
            .enumerate()
            .skip(n + 1)
            .find(|(_, l)| {
                let c = l.trim_start();
                !c.is_empty() && !c.starts_with('#') && l.len() - c.len() <= indent
            })
            .map(|(i, _)| i)
            .unwrap_or(lines.len());
        from = n + 1;
        to = end;
        min_indent = indent + 1;
        if let Some(want) = index {
            // Sequence items: lines whose first non-space char is '-' at the shallowest depth.
            let items: Vec<(usize, usize)> = (from..to)
                .filter_map(|i| {
                    let l = lines[i];
                    let c = l.trim_start();
                    c.starts_with('-').then(|| (i, l.len() - c.len()))
                })
                .collect();
            let depth = items.iter().map(|&(_, d)| d).min()?;
            let starts: Vec<usize> = items
                .iter()
                .filter(|&&(_, d)| d == depth)
                .map(|&(i, _)| i)
                .collect();
            let start = *starts.get(want)?;
            let stop = starts.get(want + 1).copied().unwrap_or(to);
            found = Some((start + 1, depth + 1));
            from = start;
            to = stop;
            min_indent = depth;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "test.yaml")
    }

    #[test]
    fn defaults_match_the_team_standards() {
        let c = parse("targets:\n  - name: a\n    dsn: postgresql://m@127.0.0.1/app\n").unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.thresholds.query_latency.under, Dur::millis(100));
        assert_eq!(c.thresholds.query_latency.fraction, 0.95);
        assert_eq!(c.thresholds.index_hit_ratio, 0.90);
        assert_eq!(c.thresholds.connection_acquisition, Dur::millis(50));
        assert_eq!(c.thresholds.migration_duration, Dur::secs(300));
        assert_eq!(c.collectors.table_sizes.top_n, 200);
        let t = &c.resolve_targets().unwrap()[0];
        assert_eq!(t.primary_database, "app");
        assert_eq!(t.databases, Databases::FromDsn);
    }

    #[test]
    fn unknown_key_names_file_line_column_and_key() {
        let text = "listen: 127.0.0.1:1\ntargets:\n  - name: a\n    dns: x\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.file, "test.yaml");
        assert_eq!(e.line, Some(4), "{e}");
        assert_eq!(e.column, Some(5), "{e}");
        assert_eq!(e.key, "targets[0].dns", "{e}");
        assert!(e.message.contains("unknown field `dns`"), "{e}");
        assert!(
            e.to_string()
                .starts_with("test.yaml:4:5: key `targets[0].dns`"),
            "{e}"
        );
    }

    #[test]
    fn bad_duration_and_wrong_type_are_located() {
        let text = "targets:\n  - name: a\n    dsn: host=x\ncollectors:\n  connection:\n    interval: 15 parsecs\n";
        assert!(parse("targets:\n  - name: a\n    dsn: host=x\ncollectors:\n  connection: { enabled: false }\n").is_ok());
        let e = parse(text).unwrap_err();
        assert_eq!(e.key, "collectors.connection.interval", "{e}");
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("invalid duration"), "{e}");

        let text = "targets:\n  - name: a\n    dsn: host=x\nconnections:\n  pool_size: many\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.key, "connections.pool_size", "{e}");
        assert_eq!(e.line, Some(5), "{e}");
    }

    #[test]
    fn alert_rule_errors_name_the_rule_and_line() {
        let head = "targets:\n  - name: a\n    dsn: host=x\nalerts:\n";
        let cases = [
            (
                "  rules:\n    - alert: Many\n      expr: 'pgvitals_connections{state=\"active\"} >> 80'\n",
                "alerts.rules[0].expr",
                7,
                "expected a number",
            ),
            (
                "  rules:\n    - alert: Ok\n      expr: 'x > 1'\n      annotations:\n        summary: '{{ .Value }}'\n",
                "alerts.rules[0].annotations.summary",
                9,
                "unsupported template action",
            ),
            (
                "  builtin:\n    SlowQueries: {for: 1m}\n",
                "alerts.builtin.SlowQueries",
                6,
                "no built-in rule is called `SlowQueries`",
            ),
            (
                "  rules:\n    - alert: SlowQuery\n      expr: 'x > 1'\n",
                "alerts.rules[0].alert",
                6,
                "is a built-in rule",
            ),
            (
                "  builtin:\n    TargetDown: {for: soon}\n",
                "alerts.builtin.TargetDown.for",
                6,
                "invalid duration `soon`",
            ),
        ];
        for (tail, key, line, msg) in cases {
            let e = parse(&format!("{head}{tail}")).unwrap_err();
            assert_eq!(e.key, key, "{e}");
            assert_eq!(e.line, Some(line), "{e}");
            assert!(e.message.contains(msg), "{e}");
        }
        let e = parse("targets:\n  - name: a\n    dsn: host=x\nalertmanager:\n  urls: ['http://u:secret@am:9093']\n").unwrap_err();
        assert_eq!(e.key, "alertmanager.urls[0]");
        assert!(!e.to_string().contains("secret"), "{e}");
        let ok = parse(&format!("{head}  rules:\n    - alert: ManyActiveSessions\n      expr: 'pgvitals_connections{{state=\"active\"}} > 80'\n      for: 5m\n      labels: {{team: db}}\n      annotations:\n        summary: '{{{{ $labels.target }}}} has {{{{ $value }}}} active sessions'\nalertmanager:\n  urls: [http://127.0.0.1:9093]\n  basic_auth: {{username: u, password: hunter2}}\n")).unwrap();
        assert_eq!(ok.alerts.rules[0].for_.0, Duration::from_secs(300));
        let printed = ok.masked_yaml();
        assert!(
            !printed.contains("hunter2") && printed.contains("****"),
            "{printed}"
        );
    }

    #[test]
    fn tls_parameters_come_out_of_either_dsn_form() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").unwrap();
        let ca = ca.display().to_string();
        let (rest, tls) = split_tls_params(&format!(
            "postgresql://u:p@db:5432/app?sslmode=verify-full&application_name=x&sslrootcert={ca}"
        ))
        .unwrap();
        assert_eq!(rest, "postgresql://u:p@db:5432/app?application_name=x");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert.unwrap().display().to_string(), ca);
        let (rest, tls) = split_tls_params(&format!(
            "host=db sslmode=verify-ca sslrootcert='{ca}' user=u"
        ))
        .unwrap();
        assert_eq!(rest, "host=db user=u");
        assert_eq!(tls.mode, SslMode::VerifyCa);
        let (rest, tls) = split_tls_params("postgresql://db/app?sslmode=disable").unwrap();
        assert_eq!(
            (rest.as_str(), tls.mode),
            ("postgresql://db/app", SslMode::Disable)
        );
        assert_eq!(split_tls_params("host=db").unwrap().1.mode, SslMode::Prefer);
        assert!(split_tls_params("host=db sslmode=sometimes")
            .unwrap_err()
            .contains("verify-full"));
        assert!(split_tls_params("host=db sslcert=/x")
            .unwrap_err()
            .contains("go together"));
        let e = parse("targets:\n  - name: a\n    dsn: host=x sslrootcert=/nonexistent/ca.pem\n")
            .unwrap_err();
        assert_eq!(e.key, "targets[0].dsn");
        assert!(e.message.contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn a_second_document_is_located() {
        let e = parse("targets: []\n---\nlisten: x\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = parse("{targets}--").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
    }

    #[test]
    fn semantic_errors_are_located_too() {
        let text = "targets:\n  - name: a\n    dsn: host=x\n  - name: a\n    dsn: host=y\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.key, "targets[1].name");
        assert_eq!(e.line, Some(4), "{e}");
        let text = "targets:\n  - name: a\n    dsn: host=x\nthresholds:\n  index_hit_ratio: 90\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.key, "thresholds.index_hit_ratio");
        assert_eq!(e.line, Some(5), "{e}");
    }

    #[test]
    fn env_expansion_and_dsn_env() {
        std::env::set_var("PGVITALS_TEST_SECRET", "s3cret");
        std::env::set_var("PGVITALS_TEST_DSN", "postgresql://u:pw@127.0.0.1:5/db");
        let c = parse(
            "targets:\n  - name: a\n    dsn: postgresql://u:${PGVITALS_TEST_SECRET}@127.0.0.1/db\n  - name: b\n    dsn_env: PGVITALS_TEST_DSN\n",
        )
        .unwrap();
        let ts = c.resolve_targets().unwrap();
        assert_eq!(ts[0].pg.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(ts[1].pg.get_ports(), &[5]);
        let e =
            parse("targets:\n  - name: a\n    dsn: postgresql://u:${PGVITALS_NOT_SET_X}@h/db\n")
                .unwrap_err();
        assert_eq!(e.key, "targets[0].dsn");
        assert!(e.message.contains("PGVITALS_NOT_SET_X"), "{e}");
        assert_eq!(expand_env("a$$b").unwrap(), "a$b");
    }

    #[test]
    fn masking_hides_passwords_in_every_dsn_form() {
        assert_eq!(
            mask_dsn("postgresql://mon:hunter2@db:5432/app?sslmode=require"),
            "postgresql://mon:****@db:5432/app?sslmode=require"
        );
        assert_eq!(
            mask_dsn("postgres://mon@db/app?password=hunter2&x=1"),
            "postgres://mon@db/app?password=****&x=1"
        );
        assert_eq!(
            mask_dsn("host=db password='hun ter2' user=mon"),
            "host=db password=**** user=mon"
        );
        assert_eq!(
            mask_dsn("host=db password=hunter2"),
            "host=db password=****"
        );
        let c =
            parse("targets:\n  - name: a\n    dsn: postgresql://u:hunter2@127.0.0.1/db\n").unwrap();
        let y = c.masked_yaml();
        assert!(!y.contains("hunter2"), "{y}");
        assert!(y.contains("u:****@"), "{y}");
    }

    #[test]
    fn shards_split_the_targets_exactly_and_stably() {
        let names: Vec<String> = (0..200).map(|i| format!("db-{i}")).collect();
        let mut yaml = String::from("targets:\n");
        for n in &names {
            yaml.push_str(&format!("  - {{name: {n}, dsn: \"host=127.0.0.1\"}}\n"));
        }
        let mut seen = std::collections::BTreeMap::new();
        for index in 0..3 {
            let c = parse(&format!("{yaml}shard: {{index: {index}, count: 3}}\n")).unwrap();
            let owned = c.resolve_targets().unwrap();
            assert!(owned.len() > 40, "shard {index}: {}", owned.len());
            for t in owned {
                assert!(
                    seen.insert(t.name, index).is_none(),
                    "a target in two shards"
                );
            }
        }
        assert_eq!(seen.len(), names.len());
        // Stable: the assignment depends on the name only.
        assert_eq!(Shard::of("db-7", 3), Shard::of("db-7", 3));
        // Pinned: changing the hash would move targets between daemons on upgrade.
        assert_eq!(Shard::of("main", 3), 2);
        let e = parse(&format!("{yaml}shard: {{index: 3, count: 3}}\n")).unwrap_err();
        assert_eq!(e.key, "shard");
    }

    #[test]
    fn databases_accepts_auto_or_a_list() {
        let c = parse("targets:\n  - name: a\n    dsn: host=x\n    databases: auto\n").unwrap();
        assert_eq!(c.targets[0].databases, Databases::Auto);
        let c = parse("targets:\n  - name: a\n    dsn: host=x\n    databases: [x, y]\n").unwrap();
        assert_eq!(
            c.targets[0].databases,
            Databases::List(vec!["x".into(), "y".into()])
        );
        let e = parse("targets:\n  - name: a\n    dsn: host=x\n    databases: all\n").unwrap_err();
        assert_eq!(e.key, "targets[0].databases");
    }

    #[test]
    fn shipped_config_yaml_is_valid() {
        let text = include_str!("../config.yaml");
        parse(text).unwrap();
    }
}
