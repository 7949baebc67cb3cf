//! Connections to a target: pools per database, the session settings that keep pgvitals
//! harmless, and the connection probe.
//!
//! Every session pgvitals opens sets `application_name=pgvitals`,
//! `default_transaction_read_only=on`, `statement_timeout` and `lock_timeout` in its startup
//! packet, so a monitoring query can neither write nor wait long behind a lock. The probe opens a
//! fresh connection and runs `queries/probe.sql`: its time is what an application feels when it
//! connects, and its success is `pgvitals_up`.

use std::time::{Duration, Instant};

use std::sync::Arc;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{ConnectionsConfig, ResolvedTarget, SslMode, TlsSettings, TlsVersions};
use crate::queries;

/// Why talking to a target failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Connecting or authenticating failed.
    #[error("cannot connect to {what}: {message}")]
    Connect {
        /// `host:port/database`.
        what: String,
        /// The driver's error with its causes.
        message: String,
    },
    /// Connecting took longer than `connect_timeout`.
    #[error("connecting to {what} timed out after {after:?}")]
    ConnectTimeout {
        /// `host:port/database`.
        what: String,
        /// The timeout.
        after: Duration,
    },
    /// A query failed.
    #[error("query on {what} failed: {message}")]
    Query {
        /// `host:port/database`.
        what: String,
        /// The driver's error with its causes.
        message: String,
    },
    /// The server is older than pgvitals supports.
    #[error(transparent)]
    Unsupported(#[from] queries::UnsupportedVersion),
    /// No pooled connection could be had.
    #[error("no pooled connection to {what}: {message}")]
    Pool {
        /// `host:port/database`.
        what: String,
        /// The pool's error, its password-free description.
        message: String,
    },
}

/// An error and its causes, joined with `: ` (the driver's own message is only its kind, e.g.
/// "db error"; the server's words are in the cause).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// What a successful probe learnt.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// Connect + authenticate + `probe.sql`.
    pub elapsed: Duration,
    /// `server_version_num`.
    pub server_version: i32,
    /// Databases that accept connections, when asked for.
    pub databases: Option<Vec<String>>,
    /// The monitoring role, when asked for.
    pub role: Option<RoleInfo>,
}

/// What the monitoring role is (`queries/role.sql`).
#[derive(Debug, Clone)]
pub struct RoleInfo {
    /// Its name.
    pub name: String,
    /// A superuser.
    pub superuser: bool,
    /// Tables it owns in the DSN's database.
    pub owned_tables: i64,
}

impl RoleInfo {
    /// Why this role is probably the application's too; `None` for a monitoring-only role.
    pub fn shared_with_application(&self) -> Option<String> {
        match (self.superuser, self.owned_tables) {
            (true, 0) => Some("is a superuser".into()),
            (true, n) => Some(format!("is a superuser and owns {n} tables")),
            (false, 0) => None,
            (false, n) => Some(format!("owns {n} tables")),
        }
    }
}

/// Connection parameters of one database of a target, with pgvitals' session settings. The
/// DSN's `options` go first, so pgvitals' own settings, after them, win; the DSN's
/// `connect_timeout` wins over `connections.connect_timeout`.
pub fn session_config(
    target: &ResolvedTarget,
    database: &str,
    c: &ConnectionsConfig,
) -> tokio_postgres::Config {
    let mut pg = target.pg.clone();
    let own = format!(
        "-c default_transaction_read_only=on -c statement_timeout={} -c lock_timeout={}",
        c.statement_timeout.0.as_millis(),
        c.lock_timeout.0.as_millis()
    );
    let options = match target.pg.get_options() {
        Some(dsn) => format!("{dsn} {own}"),
        None => own,
    };
    pg.dbname(database)
        .application_name("pgvitals")
        .options(options);
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(c.connect_timeout.0);
    }
    pg
}

/// How long opening a session may take in all: the connect timeout of a session config (see
/// [`session_config`]) for each of its hosts, tried in turn as libpq tries them.
pub fn connect_deadline(pg: &tokio_postgres::Config) -> Duration {
    let per_host = pg
        .get_connect_timeout()
        .copied()
        .unwrap_or(Duration::from_secs(5));
    let hosts = pg.get_hosts().len().max(pg.get_hostaddrs().len()).max(1);
    per_host.saturating_mul(hosts as u32)
}

/// `host:port/database`, for log lines and errors (never the password).
pub fn describe(pg: &tokio_postgres::Config) -> String {
    let host = match pg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "?".into(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", pg.get_dbname().unwrap_or("?"))
}

/// The TLS connector of a target (rustls): what `sslmode` asks, with `sslrootcert` (or the
/// system's CAs), an optional client certificate, the TLS versions and SNI the DSN allows. With
/// `sslmode=disable` it is never used.
pub type Tls = MakeRustlsConnect;

/// Builds a target's TLS connector, reading its certificate files.
pub fn tls_connector(t: &TlsSettings) -> anyhow::Result<Tls> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match &t.root_cert {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)
                .with_context(|| format!("sslrootcert: cannot read `{}`", path.display()))?
            {
                roots
                    .add(cert.with_context(|| format!("sslrootcert: `{}`", path.display()))?)
                    .with_context(|| format!("sslrootcert: `{}`", path.display()))?;
            }
            Some(roots)
        }
        None if matches!(t.mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            Some(roots)
        }
        None => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (t.mode, roots) {
        (SslMode::VerifyFull, Some(roots)) => {
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()?
        }
        (_, roots) => Arc::new(Libpq {
            chain: roots
                .map(|r| {
                    WebPkiServerVerifier::builder_with_provider(Arc::new(r), provider.clone())
                        .build()
                })
                .transpose()?,
            provider: provider.clone(),
        }),
    };
    let versions: &[&rustls::SupportedProtocolVersion] = match t.versions {
        TlsVersions::Any => rustls::DEFAULT_VERSIONS,
        TlsVersions::Tls12 => &[&rustls::version::TLS12],
        TlsVersions::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&t.cert, &t.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|c| c.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("sslcert: cannot read `{}`", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("sslkey: cannot read `{}`", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .context("sslcert and sslkey do not go together")?
        }
        _ => builder.with_no_client_auth(),
    };
    config.enable_sni = t.sni;
    Ok(MakeRustlsConnect::new(config))
}

/// libpq's checks short of `verify-full`: with root certificates (`verify-ca`, or `require` given
/// `sslrootcert`) the chain must lead to a trusted CA but the name is not checked; without them
/// (`prefer`, `require`) the certificate is not checked. The handshake's signatures always are.
#[derive(Debug)]
struct Libpq {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Libpq {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A pool of connections to one database (`pg` from [`session_config`]).
pub fn pool(pg: tokio_postgres::Config, c: &ConnectionsConfig, tls: Tls) -> Pool {
    let create_timeout = connect_deadline(&pg);
    let manager = Manager::from_config(
        pg,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(c.pool_size)
        .wait_timeout(Some(c.acquire_timeout.0))
        .create_timeout(Some(create_timeout))
        .recycle_timeout(Some(c.connect_timeout.0))
        .runtime(Runtime::Tokio1)
        .build()
        .expect("a pool with a runtime and timeouts always builds")
}

/// Opens a fresh connection, runs the probe query (and the database list and the role check if
/// asked), closes it.
pub async fn probe(
    pg: &tokio_postgres::Config,
    tls: &Tls,
    connect_timeout: Duration,
    list_databases: bool,
    check_role: bool,
) -> Result<ProbeResult, DbError> {
    let what = describe(pg);
    let started = Instant::now();
    let (client, connection) = tokio::time::timeout(connect_timeout, pg.connect(tls.clone()))
        .await
        .map_err(|_| DbError::ConnectTimeout {
            what: what.clone(),
            after: connect_timeout,
        })?
        .map_err(|e| DbError::Connect {
            what: what.clone(),
            message: error_chain(&e),
        })?;
    let conn_task = tokio::spawn(connection);
    let query_err = |e: tokio_postgres::Error| DbError::Query {
        what: what.clone(),
        message: error_chain(&e),
    };
    let row = client
        .query_one(queries::PROBE.sql(queries::MIN_SERVER_VERSION)?, &[])
        .await
        .map_err(query_err)?;
    let elapsed = started.elapsed();
    let server_version: i32 = row.try_get(0).map_err(query_err)?;
    let databases = if list_databases && server_version >= queries::MIN_SERVER_VERSION {
        let rows = client
            .query(queries::DATABASES.sql(server_version)?, &[])
            .await
            .map_err(query_err)?;
        Some(
            rows.iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()
                .map_err(query_err)?,
        )
    } else {
        None
    };
    let role = if check_role && server_version >= queries::MIN_SERVER_VERSION {
        let r = client
            .query_one(queries::ROLE.sql(server_version)?, &[])
            .await
            .map_err(query_err)?;
        Some(RoleInfo {
            name: r.try_get("role").map_err(query_err)?,
            superuser: r.try_get("superuser").map_err(query_err)?,
            owned_tables: r.try_get("owned_tables").map_err(query_err)?,
        })
    } else {
        None
    };
    drop(client);
    let _ = conn_task.await;
    Ok(ProbeResult {
        elapsed,
        server_version,
        databases,
        role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn target(dsn: &str) -> (ResolvedTarget, ConnectionsConfig) {
        let yaml = format!(
            "targets:\n  - name: a\n    dsn: \"{dsn}\"\nconnections:\n  connect_timeout: 9s\n  statement_timeout: 3s\n  lock_timeout: 250ms\n"
        );
        let c = Config::parse(&yaml, "test.yaml").unwrap();
        (c.resolve_targets().unwrap().remove(0), c.connections)
    }

    #[test]
    fn the_dsn_s_options_come_first_so_pgvitals_settings_win() {
        let (t, c) = target("host=h options='-c work_mem=8MB -c statement_timeout=0'");
        let pg = session_config(&t, "app", &c);
        assert_eq!(
            pg.get_options(),
            Some("-c work_mem=8MB -c statement_timeout=0 -c default_transaction_read_only=on -c statement_timeout=3000 -c lock_timeout=250")
        );
        assert_eq!(pg.get_application_name(), Some("pgvitals"));
        assert_eq!(pg.get_dbname(), Some("app"));
        let (t, c) = target("host=h");
        assert_eq!(
            session_config(&t, "app", &c).get_options(),
            Some(
                "-c default_transaction_read_only=on -c statement_timeout=3000 -c lock_timeout=250"
            )
        );
    }

    #[test]
    fn the_dsn_s_connect_timeout_wins_per_host() {
        let (t, c) = target("host=a,b connect_timeout=4");
        let pg = session_config(&t, "app", &c);
        assert_eq!(pg.get_connect_timeout(), Some(&Duration::from_secs(4)));
        assert_eq!(connect_deadline(&pg), Duration::from_secs(8));
        let (t, c) = target("host=a");
        let pg = session_config(&t, "app", &c);
        assert_eq!(pg.get_connect_timeout(), Some(&Duration::from_secs(9)));
        assert_eq!(connect_deadline(&pg), Duration::from_secs(9));
    }
}
