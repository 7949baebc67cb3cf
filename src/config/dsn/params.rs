//! What each libpq keyword means to pgvitals. Every keyword libpq 13–18 takes is either honoured
//! (mapped onto `tokio_postgres::Config`'s builder methods or [`TlsSettings`]) or refused with
//! the reason; any other keyword is refused as libpq refuses it. Values are checked after the
//! last of a repeated keyword has won, as libpq does.

use std::net::IpAddr;
use std::time::Duration;

use tokio_postgres::config::{ChannelBinding, LoadBalanceHosts};

use super::tls::tls;
use super::values::{invalid, Values};
use super::{is_space, mask_dsn, scan, scrub, Param, SslMode, TlsSettings};

/// Every keyword of libpq 13–18 (`PQconninfoOptions`), and `requiressl`, which libpq still
/// reads as `sslmode`.
pub(super) const KEYWORDS: &[&str] = &[
    "application_name",
    "channel_binding",
    "client_encoding",
    "connect_timeout",
    "dbname",
    "fallback_application_name",
    "gssdelegation",
    "gssencmode",
    "gsslib",
    "host",
    "hostaddr",
    "keepalives",
    "keepalives_count",
    "keepalives_idle",
    "keepalives_interval",
    "krbsrvname",
    "load_balance_hosts",
    "max_protocol_version",
    "min_protocol_version",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_issuer",
    "oauth_scope",
    "options",
    "passfile",
    "password",
    "port",
    "replication",
    "require_auth",
    "requiressl",
    "requirepeer",
    "scram_client_key",
    "scram_server_key",
    "service",
    "ssl_max_protocol_version",
    "ssl_min_protocol_version",
    "sslcert",
    "sslcertmode",
    "sslcompression",
    "sslcrl",
    "sslcrldir",
    "sslkey",
    "sslkeylogfile",
    "sslmode",
    "sslnegotiation",
    "sslpassword",
    "sslrootcert",
    "sslsni",
    "target_session_attrs",
    "tcp_user_timeout",
    "user",
];

/// Keywords refused whatever their value, and why.
const REFUSED: &[(&str, &str)] = &[
    (
        "passfile",
        "not supported; use the target's `password_file` (its first line is the password)",
    ),
    (
        "service",
        "pg_service.conf is not read; write its parameters in the DSN",
    ),
    (
        "application_name",
        "pgvitals names its sessions `pgvitals`; drop it",
    ),
    (
        "require_auth",
        "not supported: pgvitals answers the password method the server asks for (password, md5 or scram-sha-256); drop it",
    ),
    (
        "requirepeer",
        "the server process behind a Unix socket is not checked; drop it",
    ),
    (
        "sslpassword",
        "encrypted client keys are not supported; give `sslkey` decrypted",
    ),
    ("sslcrl", "certificate revocation lists are not checked; drop it"),
    ("sslcrldir", "certificate revocation lists are not checked; drop it"),
    ("krbsrvname", "Kerberos/GSSAPI authentication is not supported"),
    ("gsslib", "Kerberos/GSSAPI authentication is not supported"),
    ("sslkeylogfile", "TLS key logging is not supported"),
    ("oauth_issuer", "OAuth authentication is not supported"),
    ("oauth_client_id", "OAuth authentication is not supported"),
    ("oauth_client_secret", "OAuth authentication is not supported"),
    ("oauth_scope", "OAuth authentication is not supported"),
    (
        "scram_client_key",
        "SCRAM key pass-through is not supported; give the password",
    ),
    (
        "scram_server_key",
        "SCRAM key pass-through is not supported; give the password",
    ),
];

/// Whether libpq knows the keyword.
pub(crate) fn is_keyword(key: &str) -> bool {
    KEYWORDS.contains(&key)
}

/// A DSN read as libpq reads it, mapped onto the driver.
#[derive(Debug, Clone)]
pub struct Dsn {
    /// Hosts, ports, user, password, database, timeouts, keepalives, options, … (built with the
    /// driver's builder methods, never its string parser).
    pub pg: tokio_postgres::Config,
    /// TLS.
    pub tls: TlsSettings,
}

/// libpq's `pqParseIntParam`: an `int`, blanks around it allowed.
fn int_param(key: &str, value: &str) -> Result<i32, String> {
    value
        .trim_matches(|c: char| c.is_ascii() && is_space(c as u8))
        .parse()
        .map_err(|_| format!("invalid integer value \"{value}\" for connection option \"{key}\""))
}

/// Reads a DSN in either form. The error shows the DSN masked and says what is wrong with it:
/// the keyword and why, or, for a DSN that does not scan, what and where.
pub fn parse_dsn(dsn: &str) -> Result<Dsn, String> {
    read(dsn).map_err(|e| format!("invalid DSN `{}`: {}", mask_dsn(dsn), scrub(&e, dsn)))
}

fn read(dsn: &str) -> Result<Dsn, String> {
    let scanned = scan(dsn);
    let mut values = Values::default();
    // libpq stores each parameter as it reads it: an unknown keyword is refused before a
    // syntax error further on.
    for Param {
        key,
        value,
        in_query,
        ..
    } in scanned.params
    {
        let (key, value) = match (key.as_str(), in_query) {
            // libpq's JDBC compatibility, in a URI query only.
            ("ssl", true) if value == "true" => ("sslmode".to_string(), "require".to_string()),
            ("requiressl", _) => {
                let mode = if value.starts_with('1') {
                    "require"
                } else {
                    "prefer"
                };
                ("sslmode".to_string(), mode.to_string())
            }
            _ => (key, value),
        };
        let Some(&known) = KEYWORDS.iter().find(|k| **k == key) else {
            return Err(if in_query {
                format!("invalid URI query parameter: \"{key}\"")
            } else {
                format!("invalid connection option \"{key}\"")
            });
        };
        values.insert(known, value);
    }
    if let Some(e) = scanned.error {
        let at = dsn[..e.at].chars().count() + 1;
        return Err(format!("{} (at character {at})", e.message));
    }
    build(&values)
}

fn build(values: &Values) -> Result<Dsn, String> {
    let get = |k: &str| values.get(k);
    let given = |k: &str| values.given(k);
    for (key, why) in REFUSED {
        if values.get(key).is_some() {
            return Err(format!("`{key}`: {why}"));
        }
    }
    let mut pg = tokio_postgres::Config::new();
    hosts(&mut pg, given("host"), given("hostaddr"), given("port"))?;
    if let Some(v) = given("user") {
        pg.user(v);
    }
    if let Some(v) = given("password") {
        pg.password(v);
    }
    if let Some(v) = given("dbname") {
        pg.dbname(v);
    }
    if let Some(v) = given("options") {
        let trailing = v.len() - v.trim_end_matches('\\').len();
        if trailing % 2 == 1 {
            return Err(
                "`options` ends with a lone backslash, which would join it to pgvitals' own session settings; drop or double it".into(),
            );
        }
        pg.options(v);
    }
    if let Some(v) = get("connect_timeout") {
        let secs = int_param("connect_timeout", v)?;
        if secs <= 0 {
            return Err(format!(
                "`connect_timeout={v}` means wait forever, and pgvitals needs a limit: give seconds, or drop it to use `connections.connect_timeout`"
            ));
        }
        // libpq's minimum: a timeout of 1 s could end an attempt at once after rounding.
        pg.connect_timeout(Duration::from_secs(secs.max(2) as u64));
    }
    if let Some(v) = given("client_encoding") {
        let name: String = v
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if name != "utf8" && name != "unicode" {
            return Err(format!("`client_encoding={v}`: pgvitals always talks UTF8"));
        }
    }
    // `fallback_application_name` is honoured as libpq honours it next to an
    // `application_name`: pgvitals always sets one, so it is never used.
    keepalives(&mut pg, values)?;
    if let Some(v) = get("tcp_user_timeout") {
        // Milliseconds; zero or less is the system's default.
        let ms = int_param("tcp_user_timeout", v)?;
        if ms > 0 {
            pg.tcp_user_timeout(Duration::from_millis(ms as u64));
        }
    }
    if let Some(v) = get("channel_binding") {
        pg.channel_binding(match v {
            "disable" => ChannelBinding::Disable,
            "prefer" => ChannelBinding::Prefer,
            "require" => ChannelBinding::Require,
            _ => return Err(invalid("channel_binding", v)),
        });
    }
    if let Some(v) = get("target_session_attrs") {
        match v {
            "any" => {}
            "read-write" => return Err(
                "`target_session_attrs=read-write`: pgvitals' sessions are read-only (default_transaction_read_only=on), so no server would pass (libpq says \"session is read-only\" too); only `any` is supported: watch each host as its own target".into()
            ),
            "read-only" => return Err(
                "`target_session_attrs=read-only`: pgvitals' sessions are read-only (default_transaction_read_only=on), so every server would pass; only `any` is supported: watch each host as its own target".into()
            ),
            "primary" | "standby" | "prefer-standby" => return Err(format!(
                "`target_session_attrs={v}`: pgvitals does not tell primaries from standbys when it connects; only `any` is supported: watch each host as its own target"
            )),
            _ => return Err(invalid("target_session_attrs", v)),
        }
    }
    if let Some(v) = get("load_balance_hosts") {
        pg.load_balance_hosts(match v {
            "disable" => LoadBalanceHosts::Disable,
            "random" => LoadBalanceHosts::Random,
            _ => return Err(invalid("load_balance_hosts", v)),
        });
    }
    if let Some(v) = given("replication") {
        if !["0", "off", "false", "no", "f", "n"].contains(&v.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "`replication={v}`: pgvitals monitors over ordinary sessions; drop it"
            ));
        }
    }
    match get("gssencmode") {
        None | Some("disable" | "prefer") => {}
        Some("require") => {
            return Err("`gssencmode=require`: GSSAPI encryption is not supported".into())
        }
        Some(v) => return Err(invalid("gssencmode", v)),
    }
    if get("gssdelegation").is_some_and(|v| v.starts_with('1')) {
        return Err("`gssdelegation=1`: GSSAPI credential delegation is not supported".into());
    }
    protocol_versions(values)?;
    let tls = tls(values)?;
    pg.ssl_mode(match tls.mode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    Ok(Dsn { pg, tls })
}

/// `host`, `hostaddr` and `port`, lists matched as libpq matches them.
fn hosts(
    pg: &mut tokio_postgres::Config,
    host: Option<&str>,
    hostaddr: Option<&str>,
    port: Option<&str>,
) -> Result<(), String> {
    let hosts: Vec<&str> = host.map(|h| h.split(',').collect()).unwrap_or_default();
    let addrs: Vec<&str> = hostaddr.map(|h| h.split(',').collect()).unwrap_or_default();
    if hosts.is_empty() && addrs.is_empty() {
        return Err(
            "the DSN names no host: libpq would use its default socket directory, pgvitals has no default; add host=… (a name, an address or a socket directory such as /var/run/postgresql)".into(),
        );
    }
    let n = if addrs.is_empty() {
        hosts.len()
    } else {
        addrs.len()
    };
    if !addrs.is_empty() && !hosts.is_empty() && hosts.len() != n {
        return Err(format!(
            "could not match {} host names to {n} hostaddr values",
            hosts.len()
        ));
    }
    for i in 0..n {
        let name = hosts.get(i).copied().unwrap_or("");
        if let Some(&addr) = addrs.get(i) {
            if addr.is_empty() {
                return Err(format!(
                    "`hostaddr`: entry {} is empty; once hostaddr is given, pgvitals needs an address for every host",
                    i + 1
                ));
            }
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("`hostaddr`: `{addr}` is not an IP address"))?;
            pg.hostaddr(ip);
        } else if name.is_empty() {
            return Err(format!(
                "`host`: entry {} is empty: libpq would use its default socket directory, pgvitals has no default; write it out",
                i + 1
            ));
        }
        // With no name, the address names the host (for TLS, as in libpq).
        let name = if name.is_empty() { addrs[i] } else { name };
        if name.starts_with('@') {
            return Err(format!(
                "`host`: `{name}` is an abstract Unix socket, which pgvitals cannot connect to"
            ));
        }
        // A name starting with `/` is a socket directory.
        pg.host(name);
    }
    if let Some(port) = port {
        let ports: Vec<&str> = port.split(',').collect();
        if ports.len() != 1 && ports.len() != n {
            return Err(format!(
                "could not match {} port numbers to {n} hosts",
                ports.len()
            ));
        }
        for p in ports {
            let number = if p.is_empty() {
                5432
            } else {
                let v = int_param("port", p)?;
                u16::try_from(v)
                    .ok()
                    .filter(|&v| v > 0)
                    .ok_or_else(|| format!("invalid port number: \"{p}\""))?
            };
            pg.port(number);
        }
    }
    Ok(())
}

fn keepalives(pg: &mut tokio_postgres::Config, values: &Values) -> Result<(), String> {
    let get = |k: &str| values.get(k);
    if let Some(v) = get("keepalives") {
        // libpq: empty is 0, i.e. off.
        let on = !v.is_empty() && int_param("keepalives", v)? != 0;
        pg.keepalives(on);
    }
    let positive = |key: &str| -> Result<Option<u32>, String> {
        let Some(v) = get(key) else { return Ok(None) };
        let n = int_param(key, v)?;
        if n <= 0 {
            return Err(format!(
                "`{key}={v}`: must be at least 1 (the kernel refuses 0, libpq's connection fails too)"
            ));
        }
        Ok(Some(n as u32))
    };
    if let Some(s) = positive("keepalives_idle")? {
        pg.keepalives_idle(Duration::from_secs(s.into()));
    }
    if let Some(s) = positive("keepalives_interval")? {
        pg.keepalives_interval(Duration::from_secs(s.into()));
    }
    if let Some(n) = positive("keepalives_count")? {
        pg.keepalives_retries(n);
    }
    Ok(())
}

/// PostgreSQL 18's `min_protocol_version`/`max_protocol_version`: the driver speaks 3.0.
fn protocol_versions(values: &Values) -> Result<(), String> {
    let get = |k: &str| values.get(k);
    let version = |key: &str| -> Result<Option<u32>, String> {
        match get(key) {
            None | Some("") => Ok(None),
            Some("3.0") => Ok(Some(0)),
            Some("3.2") => Ok(Some(2)),
            Some("latest") => Ok(Some(u32::MAX)),
            Some(v) => Err(invalid(key, v)),
        }
    };
    let (min, max) = (
        version("min_protocol_version")?,
        version("max_protocol_version")?,
    );
    if let (Some(a), Some(b)) = (min, max) {
        if a > b {
            return Err("invalid protocol version range: min_protocol_version is above max_protocol_version".into());
        }
    }
    if min.is_some_and(|m| m > 0) {
        return Err(format!(
            "`min_protocol_version={}`: pgvitals speaks protocol 3.0 only",
            get("min_protocol_version").unwrap_or_default()
        ));
    }
    Ok(())
}
