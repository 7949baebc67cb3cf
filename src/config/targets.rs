//! `targets:` (the PostgreSQL servers to watch, their DSNs, passwords and databases) and
//! `connections:` (pools, timeouts and session settings shared by every target).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{expand_env, parse_dsn, read_secret_file, ser_masked_dsn, Dsn, Dur, TlsSettings};

/// One PostgreSQL server to watch.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Name used as the `target` label on every series of this server.
    pub name: String,
    /// libpq DSN, URI (`postgresql://…`) or `key=value` form, read by libpq's rules; every
    /// libpq keyword is honoured or refused by name. `${VAR}` is expanded.
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
    /// TCP connect + authentication timeout for new connections, per host of the DSN; a DSN's own
    /// `connect_timeout` wins.
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
    /// TLS to the server, from the DSN's `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `sslsni`,
    /// `ssl_min_protocol_version`, ….
    pub tls: TlsSettings,
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

/// Refuses a name that cannot be a `target` label value as written.
pub(super) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "`{name}` is not a valid target name: use letters, digits, `-`, `_` or `.`"
        ));
    }
    Ok(())
}

impl TargetConfig {
    pub(super) fn resolve_at(&self, i: usize) -> Result<ResolvedTarget, (String, String)> {
        self.resolve_as(&format!("targets[{i}]"))
    }

    /// Resolves the entry; errors name its keys under `at` (`targets[0]`, `[3]` in a target file).
    pub(super) fn resolve_as(&self, at: &str) -> Result<ResolvedTarget, (String, String)> {
        let Dsn { pg, tls } = resolve_dsn(at, &self.dsn, &self.dsn_env, &self.password_file)?;
        let user = pg.get_user().map(str::to_string);
        let primary_database = pg
            .get_dbname()
            .map(str::to_string)
            .or(user)
            .unwrap_or_else(|| "postgres".to_string());
        Ok(ResolvedTarget {
            name: self.name.clone(),
            pg,
            primary_database,
            databases: self.databases.clone(),
            tls,
        })
    }
}

/// The connection of a server from its `dsn` or `dsn_env` and its `password_file` (which wins
/// over a password in the DSN), `${VAR}` expanded; errors name the key under `at`
/// (`targets[0]`, `pgbouncers[1]`).
pub(super) fn resolve_dsn(
    at: &str,
    dsn: &Option<String>,
    dsn_env: &Option<String>,
    password_file: &Option<PathBuf>,
) -> Result<Dsn, (String, String)> {
    let key = |k: &str| format!("{at}.{k}");
    let text = match (dsn, dsn_env) {
        (Some(_), Some(_)) => {
            return Err((
                key("dsn_env"),
                "set either `dsn` or `dsn_env`, not both".into(),
            ))
        }
        (None, None) => return Err((at.to_string(), "`dsn` or `dsn_env` is needed".into())),
        (Some(dsn), None) => expand_env(dsn).map_err(|e| (key("dsn"), e))?,
        (None, Some(var)) => std::env::var(var).map_err(|_| {
            (
                key("dsn_env"),
                format!("environment variable `{var}` is not set"),
            )
        })?,
    };
    let dsn_key = if dsn.is_some() { "dsn" } else { "dsn_env" };
    let mut parsed = parse_dsn(&text).map_err(|e| (key(dsn_key), e))?;
    if let Some(pf) = password_file {
        let password = read_secret_file(pf).map_err(|e| (key("password_file"), e))?;
        parsed.pg.password(password);
    }
    Ok(parsed)
}
