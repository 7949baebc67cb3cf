//! How the HTTP server is exposed: TLS with a certificate re-read when its files change,
//! optional client-certificate authentication, and bcrypt basic auth — the `web:` section, in
//! the way Prometheus' exporter-toolkit does it, so users can reuse what they know.
//!
//! [`Web::from_config`] reads and checks everything up front (a bad certificate is an error at
//! start, not at the first scrape). [`BasicAuth`] verifies bcrypt hashes off the async runtime
//! and remembers credentials that passed, so a scrape every few seconds does not pay bcrypt's
//! cost every time; an unknown user costs the same as a wrong password.

use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::config::{WebConfig, WebTlsConfig};

/// The HTTP server's exposure settings, ready to use.
pub struct Web {
    /// Accepts TLS connections; `None` serves plain HTTP.
    pub tls: Option<TlsAcceptor>,
    /// Checks credentials; `None` lets everyone in.
    pub auth: Option<Arc<BasicAuth>>,
    /// `/healthz` and `/readyz` need no credentials.
    pub open_health_endpoints: bool,
    /// Connections served at once.
    pub max_connections: usize,
    /// Time to send a request's headers (and the TLS handshake).
    pub header_read_timeout: Duration,
    /// Largest request body accepted.
    pub max_request_body_bytes: u64,
}

impl Web {
    /// Reads the certificate, key and client CAs and prepares the password check.
    pub fn from_config(c: &WebConfig) -> anyhow::Result<Web> {
        let tls = c.tls.as_ref().map(tls_acceptor).transpose()?;
        let auth = (!c.basic_auth_users.is_empty())
            .then(|| BasicAuth::new(c.basic_auth_users.clone()))
            .transpose()?
            .map(Arc::new);
        Ok(Web {
            tls,
            auth,
            open_health_endpoints: c.open_health_endpoints,
            max_connections: c.max_connections,
            header_read_timeout: c.header_read_timeout.0,
            max_request_body_bytes: c.max_request_body_bytes,
        })
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_acceptor(t: &WebTlsConfig) -> anyhow::Result<TlsAcceptor> {
    let versions: &[&rustls::SupportedProtocolVersion] = if t.min_version == "TLS13" {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12, &rustls::version::TLS13]
    };
    let builder =
        rustls::ServerConfig::builder_with_provider(provider()).with_protocol_versions(versions)?;
    let builder = match &t.client_ca_file {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(ca).context("web.tls.client_ca_file")? {
                roots.add(cert).context("web.tls.client_ca_file")?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .context("web.tls.client_ca_file")?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let resolver = ReloadingCert::new(&t.cert_file, &t.key_file)?;
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read certificates from `{}`", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "`{}` holds no certificate",
        path.display()
    );
    Ok(certs)
}

fn load_key(cert: &Path, key: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain = read_certs(cert).context("web.tls.cert_file")?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| {
        format!(
            "web.tls.key_file: cannot read a private key from `{}`",
            key.display()
        )
    })?;
    let certified = CertifiedKey::from_der(chain, key, &provider())
        .context("web.tls: the certificate and the key do not go together")?;
    Ok(Arc::new(certified))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The server certificate, re-read at the next handshake after its files change on disk (a
/// renewed certificate needs no restart). A pair that does not load keeps the previous one.
#[derive(Debug)]
struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(Option<SystemTime>, Option<SystemTime>, Arc<CertifiedKey>)>,
}

impl ReloadingCert {
    fn new(cert: &Path, key: &Path) -> anyhow::Result<ReloadingCert> {
        let loaded = load_key(cert, key)?;
        Ok(ReloadingCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new((modified(cert), modified(key), loaded)),
        })
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let (cert_time, key_time) = (modified(&self.cert), modified(&self.key));
        {
            let current = self.current.read().unwrap();
            if current.0 == cert_time && current.1 == key_time {
                return Some(current.2.clone());
            }
        }
        let mut current = self.current.write().unwrap();
        match load_key(&self.cert, &self.key) {
            Ok(k) => {
                info!(cert = %self.cert.display(), "TLS certificate changed on disk; using the new one");
                *current = (cert_time, key_time, k);
            }
            Err(e) => {
                warn!(
                    error = format!("{e:#}"),
                    "TLS certificate changed on disk but does not load; keeping the previous one"
                );
                // Do not retry on every handshake until the files change again.
                current.0 = cert_time;
                current.1 = key_time;
            }
        }
        Some(current.2.clone())
    }
}

/// Checks `Authorization: Basic …` against bcrypt hashes.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// A hash no password matches, verified for unknown users so they cost the same.
    decoy: String,
    /// Keyed hashes of credentials that passed (never the passwords themselves).
    passed: Mutex<HashSet<u64>>,
    hasher: std::collections::hash_map::RandomState,
}

const PASSED_CACHE_MAX: usize = 1024;

impl BasicAuth {
    fn new(users: BTreeMap<String, String>) -> anyhow::Result<BasicAuth> {
        let cost = users
            .values()
            .next()
            .and_then(|h| h.get(4..6))
            .and_then(|c| c.parse().ok())
            .unwrap_or(bcrypt::DEFAULT_COST);
        let decoy = bcrypt::hash(format!("{:x}", fastrand::u128(..)), cost)?;
        Ok(BasicAuth {
            users,
            decoy,
            passed: Mutex::new(HashSet::new()),
            hasher: Default::default(),
        })
    }

    /// Whether an `Authorization` header value names a configured user with its password.
    pub async fn allows(self: &Arc<Self>, authorization: Option<&str>) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let key = self.hasher.hash_one((&user, &password));
        if self.passed.lock().unwrap().contains(&key) {
            return true;
        }
        let known = self.users.get(&user).cloned();
        let hash = known.clone().unwrap_or_else(|| self.decoy.clone());
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false)
                && known.is_some();
        if ok {
            let mut passed = self.passed.lock().unwrap();
            if passed.len() >= PASSED_CACHE_MAX {
                passed.clear();
            }
            passed.insert(key);
        }
        ok
    }
}

/// `Basic dXNlcjpwYXNz` → ("user", "pass").
fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, b64) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn basic_auth_checks_user_and_password() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = Arc::new(BasicAuth::new(BTreeMap::from([("prom".to_string(), hash)])).unwrap());
        let header = |u: &str, p: &str| format!("Basic {}", STANDARD.encode(format!("{u}:{p}")));
        assert!(auth.allows(Some(&header("prom", "s3cret"))).await);
        assert!(
            auth.allows(Some(&header("prom", "s3cret"))).await,
            "remembered"
        );
        assert!(!auth.allows(Some(&header("prom", "wrong"))).await);
        assert!(!auth.allows(Some(&header("other", "s3cret"))).await);
        assert!(!auth.allows(Some("Bearer abc")).await);
        assert!(!auth.allows(Some("Basic !!!")).await);
        assert!(!auth.allows(None).await);
    }
}
