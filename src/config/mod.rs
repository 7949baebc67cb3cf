//! Loading and validating `config.yaml`.
//!
//! The file is parsed strictly: unknown keys, wrong types and malformed durations are refused
//! with a [`ConfigError`] that names the file, line, column and key. Secrets never need to sit in
//! the file: a target's DSN can come from an environment variable (`dsn_env`), its password from a
//! file (`password_file`), and `${VAR}` in `dsn`/`password_file` is expanded from the environment.
//! [`Config::masked_yaml`] prints the effective configuration with every password replaced by
//! `****`, which is what `pgvitals check-config` shows.

mod alerts;
mod collectors;
mod dsn;
mod duration;
mod env;
mod error;
mod pgbouncers;
mod secrets;
mod standards;
mod target_files;
mod targets;
#[cfg(test)]
mod tests;
mod thresholds;
mod web;

pub use alerts::*;
pub use collectors::*;
pub use dsn::*;
pub use duration::*;
pub use env::*;
pub use error::*;
pub use pgbouncers::*;
pub use secrets::*;
pub use standards::*;
pub use target_files::*;
pub use targets::*;
pub use thresholds::*;
pub use web::*;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The default address `/metrics` is served on (postgres_exporter uses 9187; we do not collide).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9816";

/// The whole configuration, as read from `config.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The PostgreSQL servers to watch (none when only PgBouncers are).
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    /// Files that list more targets (YAML or JSON lists of `targets:` entries), re-read every
    /// `target_files_refresh`; the last path segment may be a glob (`targets/*.yaml`).
    /// Relative paths are relative to the configuration file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_files: Vec<String>,
    /// How often `target_files` are re-read.
    #[serde(default = "default_target_files_refresh")]
    pub target_files_refresh: Dur,
    /// The PgBouncer poolers to watch; none by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pgbouncers: Vec<PgBouncerConfig>,
    /// Connection settings shared by every target.
    #[serde(default)]
    pub connections: ConnectionsConfig,
    /// Per-collector settings.
    #[serde(default)]
    pub collectors: CollectorsConfig,
    /// The team's performance targets.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// The team's schema conventions (collector `standards`).
    #[serde(default)]
    pub standards: StandardsConfig,
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

fn default_target_files_refresh() -> Dur {
    Dur::secs(30)
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
        let mut config = Config::parse(&text, &file)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for pattern in &mut config.target_files {
            if Path::new(pattern.as_str()).is_relative() {
                *pattern = dir.join(&*pattern).display().to_string();
            }
        }
        Ok(config)
    }

    /// Parses and validates configuration text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let config: Config = deserialize_located(text, file)?;
        config.validate(text, file)?;
        Ok(config)
    }

    fn validate(&self, text: &str, file: &str) -> Result<(), ConfigError> {
        let err = |key: String, message: String| {
            ConfigError::at(file, locate_key(text, &key), key, message)
        };
        if self.targets.is_empty() && self.pgbouncers.is_empty() && self.target_files.is_empty() {
            return Err(err(
                "targets".into(),
                "at least one target, pgbouncer or target file is required".into(),
            ));
        }
        for (i, pattern) in self.target_files.iter().enumerate() {
            check_pattern(pattern).map_err(|m| err(format!("target_files[{i}]"), m))?;
        }
        if self.target_files_refresh.0.is_zero() {
            return Err(err(
                "target_files_refresh".into(),
                "must be longer than 0s".into(),
            ));
        }
        let mut names = BTreeSet::new();
        let named = self
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("targets[{i}].name"), t.name.as_str()))
            .chain(
                self.pgbouncers
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (format!("pgbouncers[{i}].name"), b.name.as_str())),
            );
        for (key, name) in named {
            check_name(name).map_err(|m| err(key.clone(), m))?;
            if !names.insert(name) {
                return Err(err(
                    key,
                    format!("target name `{name}` is used twice (targets and pgbouncers share the `target` label)"),
                ));
            }
        }
        for (i, t) in self.targets.iter().enumerate() {
            t.resolve_at(i).map_err(|(key, msg)| err(key, msg))?;
        }
        for (i, b) in self.pgbouncers.iter().enumerate() {
            b.resolve_at(i).map_err(|(key, msg)| err(key, msg))?;
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
        self.standards
            .validate()
            .map_err(|(key, msg)| err(key, msg))?;
        self.web.validate().map_err(|(key, msg)| err(key, msg))?;
        let c = &self.collectors;
        for (key, value, hint) in [
            ("collectors.statements.top_n", c.statements.top_n, ""),
            (
                "collectors.table_sizes.top_n",
                c.table_sizes.top_n as usize,
                "",
            ),
            (
                "collectors.statements.history_statements",
                c.statements.history_statements,
                "",
            ),
            ("collectors.vacuum.top_n", c.vacuum.top_n as usize, ""),
            (
                "collectors.connection.top_n",
                c.connection.top_n as usize,
                "",
            ),
            ("collectors.sequences.top_n", c.sequences.top_n as usize, ""),
            (
                "collectors.plans.max_per_minute",
                c.plans.max_per_minute as usize,
                " (turn plans off with `enabled: false`)",
            ),
        ] {
            if value == 0 {
                return Err(err(key.into(), format!("must be at least 1{hint}")));
            }
        }
        let t = &self.thresholds;
        for (key, value) in [
            (
                "thresholds.transaction_id_wraparound.warning",
                t.transaction_id_wraparound.warning,
            ),
            (
                "thresholds.transaction_id_wraparound.critical",
                t.transaction_id_wraparound.critical,
            ),
            ("thresholds.sequence_used", t.sequence_used),
            ("thresholds.connections_used", t.connections_used),
        ] {
            if !(value > 0.0 && value <= 1.0) {
                return Err(err(
                    key.into(),
                    format!("{value} is not a fraction: use a number in (0, 1], e.g. 0.75"),
                ));
            }
        }
        if self.thresholds.query_regression.factor <= 1.0 {
            return Err(err(
                "thresholds.query_regression.factor".into(),
                format!(
                    "{} would call a statement regressed at its usual speed: use more than 1",
                    self.thresholds.query_regression.factor
                ),
            ));
        }
        Ok(())
    }

    /// Resolves every target of `targets:` (all shards: the scheduler keeps this daemon's
    /// share): reads `dsn_env`, `password_file`, expands `${VAR}`.
    pub fn resolve_targets(&self) -> Result<Vec<ResolvedTarget>, ConfigError> {
        self.targets
            .iter()
            .enumerate()
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

    /// Whether this daemon polls the target or PgBouncer of that name (its shard's, or all).
    pub fn owns(&self, name: &str) -> bool {
        self.shard.is_none_or(|s| s.owns(name))
    }

    /// Resolves the PgBouncers this daemon polls (its shard's, or all).
    pub fn resolve_pgbouncers(&self) -> Result<Vec<ResolvedPgBouncer>, ConfigError> {
        self.pgbouncers
            .iter()
            .enumerate()
            .filter(|(_, b)| self.owns(&b.name))
            .map(|(i, b)| {
                b.resolve_at(i).map_err(|(key, message)| ConfigError {
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

/// The configuration of `pgvitals report --dsn DSN`: the defaults and one target, named after
/// the DSN's database. The DSN is checked first; its errors never repeat the password.
pub fn report_config(dsn: &str) -> Result<Config, String> {
    let parsed = parse_dsn(dsn)?;
    let name: String = parsed
        .pg
        .get_dbname()
        .unwrap_or("postgres")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let quote = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let yaml = format!(
        "targets:\n  - name: {}\n    dsn: {}\n",
        quote(&name),
        quote(dsn)
    );
    Config::parse(&yaml, "--dsn").map_err(|e| e.to_string())
}
