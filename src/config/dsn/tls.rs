//! The TLS keywords of a DSN: what `sslmode`, `sslrootcert`, `sslcert`, `sslkey`,
//! `sslcertmode`, `sslsni`, `sslcompression`, `sslnegotiation` and the TLS versions ask of the
//! rustls connector.

use std::path::PathBuf;

use super::values::{invalid, Values};

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

/// The TLS versions a target may use (rustls speaks 1.2 and 1.3), from libpq's
/// `ssl_min_protocol_version` and `ssl_max_protocol_version`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TlsVersions {
    /// TLS 1.2 or 1.3.
    #[default]
    Any,
    /// TLS 1.2 only (`ssl_max_protocol_version=TLSv1.2`).
    Tls12,
    /// TLS 1.3 only (`ssl_min_protocol_version=TLSv1.3`).
    Tls13,
}

/// TLS settings of a target, from its DSN's libpq parameters (the PostgreSQL driver reads none
/// but `sslmode=disable|prefer|require`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    /// How strict.
    pub mode: SslMode,
    /// CA certificates (PEM) to verify the server with; none: the system's CAs
    /// (`sslrootcert=system` too).
    pub root_cert: Option<PathBuf>,
    /// Client certificate (PEM), with `key`.
    pub cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    pub key: Option<PathBuf>,
    /// Send the host name in the handshake (`sslsni`, on by default).
    pub sni: bool,
    /// Which TLS versions.
    pub versions: TlsVersions,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            mode: SslMode::default(),
            root_cert: None,
            cert: None,
            key: None,
            sni: true,
            versions: TlsVersions::default(),
        }
    }
}

/// `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `sslcertmode`, `sslsni`, `sslcompression`,
/// `sslnegotiation` and the TLS versions.
pub(super) fn tls(values: &Values) -> Result<TlsSettings, String> {
    let get = |k: &str| values.get(k);
    let given = |k: &str| values.given(k);
    let mut tls = TlsSettings::default();
    let system_roots = given("sslrootcert") == Some("system");
    tls.mode = match get("sslmode") {
        // libpq strengthens the default with the system's CAs.
        None if system_roots => SslMode::VerifyFull,
        None => SslMode::Prefer,
        Some("disable") => SslMode::Disable,
        Some("allow" | "prefer") => SslMode::Prefer,
        Some("require") => SslMode::Require,
        Some("verify-ca") => SslMode::VerifyCa,
        Some("verify-full") => SslMode::VerifyFull,
        Some(v) => {
            return Err(format!(
                "invalid sslmode value: \"{v}\": use disable, allow, prefer, require, verify-ca or verify-full"
            ))
        }
    };
    if system_roots && tls.mode != SslMode::VerifyFull {
        return Err(format!(
            "weak sslmode \"{}\" may not be used with sslrootcert=system (use \"verify-full\")",
            get("sslmode").unwrap_or_default()
        ));
    }
    if !system_roots {
        tls.root_cert = given("sslrootcert").map(PathBuf::from);
    }
    tls.cert = given("sslcert").map(PathBuf::from);
    tls.key = given("sslkey").map(PathBuf::from);
    match get("sslcertmode") {
        None | Some("allow") => {}
        // Never send a certificate.
        Some("disable") => (tls.cert, tls.key) = (None, None),
        Some("require") => return Err(
            "`sslcertmode=require`: pgvitals cannot require the server to ask for the client certificate; use allow".into(),
        ),
        Some(v) => return Err(invalid("sslcertmode", v)),
    }
    if tls.cert.is_some() != tls.key.is_some() {
        return Err("`sslcert` and `sslkey` go together".into());
    }
    for (key, path) in [
        ("sslrootcert", &tls.root_cert),
        ("sslcert", &tls.cert),
        ("sslkey", &tls.key),
    ] {
        if let Some(path) = path {
            std::fs::metadata(path)
                .map_err(|e| format!("`{key}`: cannot read `{}`: {e}", path.display()))?;
        }
    }
    // libpq: on when the value starts with 1, and by default.
    tls.sni = get("sslsni").is_none_or(|v| v.starts_with('1'));
    if get("sslcompression").is_some_and(|v| v.starts_with('1')) {
        return Err("`sslcompression=1`: TLS compression is not supported".into());
    }
    match get("sslnegotiation") {
        None | Some("postgres") => {}
        Some("direct") => {
            return Err(
                "`sslnegotiation=direct`: direct TLS negotiation is not supported; use postgres"
                    .into(),
            )
        }
        Some(v) => return Err(invalid("sslnegotiation", v)),
    }
    let version = |key: &str| -> Result<Option<u8>, String> {
        match given(key) {
            None => Ok(None),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "tlsv1" => Ok(Some(0)),
                "tlsv1.1" => Ok(Some(1)),
                "tlsv1.2" => Ok(Some(2)),
                "tlsv1.3" => Ok(Some(3)),
                _ => Err(invalid(key, v)),
            },
        }
    };
    let min = version("ssl_min_protocol_version")?;
    let max = version("ssl_max_protocol_version")?;
    if let (Some(a), Some(b)) = (min, max) {
        if a > b {
            return Err("invalid SSL protocol version range".into());
        }
    }
    if max.is_some_and(|m| m < 2) {
        return Err(format!(
            "`ssl_max_protocol_version={}`: pgvitals speaks TLS 1.2 and 1.3 only",
            get("ssl_max_protocol_version").unwrap_or_default()
        ));
    }
    tls.versions = match (min, max) {
        (Some(3), _) => TlsVersions::Tls13,
        (_, Some(2)) => TlsVersions::Tls12,
        _ => TlsVersions::Any,
    };
    Ok(tls)
}
