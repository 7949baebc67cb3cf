//! DSNs: masking their passwords for display, and libpq's TLS parameters.

use std::path::PathBuf;

use serde::Serializer;

pub(super) fn ser_masked_dsn<S: Serializer>(dsn: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
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
