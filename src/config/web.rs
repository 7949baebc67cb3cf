//! `web:`: TLS, basic auth, limits and lifecycle endpoints of the HTTP server.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Dur;

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

impl WebConfig {
    /// Checks what serde cannot; the error names the key.
    pub(super) fn validate(&self) -> Result<(), (String, String)> {
        let w = self;
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
        Ok(())
    }
}
