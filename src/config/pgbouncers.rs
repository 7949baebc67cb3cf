//! `pgbouncers:`: the PgBouncer poolers to watch through their admin console.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::targets::resolve_dsn;
use super::{ser_masked_dsn, Dsn, TlsSettings};

/// One PgBouncer, read through its admin console (`SHOW POOLS`, `SHOW STATS`, …).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PgBouncerConfig {
    /// Name used as the `target` label on its series (unique among targets and pgbouncers).
    pub name: String,
    /// libpq DSN of the admin console, e.g. `host=127.0.0.1 port=6432 user=stats
    /// dbname=pgbouncer` (the database defaults to `pgbouncer`). `${VAR}` is expanded.
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
}

/// A PgBouncer whose DSN and password have been resolved.
#[derive(Clone)]
pub struct ResolvedPgBouncer {
    /// The `target` label.
    pub name: String,
    /// Connection parameters of the admin console.
    pub pg: tokio_postgres::Config,
    /// TLS to PgBouncer, from the DSN's `sslmode` and files.
    pub tls: TlsSettings,
}

impl std::fmt::Debug for ResolvedPgBouncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedPgBouncer")
            .field("name", &self.name)
            .field("hosts", &self.pg.get_hosts())
            .field("ports", &self.pg.get_ports())
            .field("user", &self.pg.get_user())
            .finish()
    }
}

impl PgBouncerConfig {
    pub(super) fn resolve_at(&self, i: usize) -> Result<ResolvedPgBouncer, (String, String)> {
        let Dsn { mut pg, tls } = resolve_dsn(
            &format!("pgbouncers[{i}]"),
            &self.dsn,
            &self.dsn_env,
            &self.password_file,
        )?;
        if pg.get_dbname().is_none() {
            pg.dbname("pgbouncer");
        }
        Ok(ResolvedPgBouncer {
            name: self.name.clone(),
            pg,
            tls,
        })
    }
}
