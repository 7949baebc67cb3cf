//! DSNs, read the way libpq reads them: one scanner for both of libpq's forms (the keyword/value
//! form of `conninfo_parse` and the URI form of `conninfo_uri_parse`), which yields each
//! parameter with where its value is written. [`mask_dsn`] hides secrets by those places, and
//! `dsn/params.rs` maps the parameters onto the driver's configuration keyword by keyword (the
//! TLS ones in `dsn/tls.rs`).

mod params;
#[cfg(test)]
mod tests;
mod tls;
mod values;

pub use params::*;
pub use tls::*;

use std::ops::Range;

use serde::Serializer;

pub(super) fn ser_masked_dsn<S: Serializer>(dsn: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match dsn {
        Some(d) => s.serialize_str(&mask_dsn(d)),
        None => s.serialize_none(),
    }
}

/// One parameter of a DSN, as libpq reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    /// The keyword: as written in the keyword/value form, percent-decoded in a URI query, and
    /// `user`, `password`, `host`, `port` or `dbname` for the parts of a URI before its query.
    pub key: String,
    /// The value: unquoted and unescaped, or percent-decoded.
    pub value: String,
    /// Where the value is written in the DSN (bytes; quotes and escapes included).
    pub span: Range<usize>,
    /// Written in a URI query (libpq words an unknown keyword there differently).
    pub in_query: bool,
}

/// Why a DSN does not scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanError {
    /// Byte offset of the item the scanner stopped at.
    pub at: usize,
    /// What is wrong, in libpq's words; it quotes nothing that [`ScanError::hide_rest`] hides.
    pub message: String,
    /// Whether the text from `at` on may hold a secret, so is masked.
    pub hide_rest: bool,
}

/// A scanned DSN: the parameters read before any error, and the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    pub params: Vec<Param>,
    pub error: Option<ScanError>,
}

/// Keywords whose values are secrets.
const SECRET_KEYS: &[&str] = &[
    "password",
    "sslpassword",
    "oauth_client_secret",
    "scram_client_key",
    "scram_server_key",
];

pub(crate) fn is_secret(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
}

/// libpq's `uri_prefix_length`: the designator must open the string (no blanks before it).
fn uri_prefix_len(dsn: &str) -> Option<usize> {
    ["postgresql://", "postgres://"]
        .iter()
        .find(|p| dsn.starts_with(**p))
        .map(|p| p.len())
}

/// Scans a DSN in whichever form it is written.
pub(crate) fn scan(dsn: &str) -> Scan {
    let mut params = Vec::new();
    let result = match uri_prefix_len(dsn) {
        Some(n) => scan_uri(dsn, n, &mut params),
        None => scan_keywords(dsn, &mut params),
    };
    Scan {
        params,
        error: result.err(),
    }
}

/// C's `isspace` in the C locale, which libpq uses.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Whether the text from `at` on may hold a secret: it follows or is a secret's value, or it
/// holds more parameters (`=`) or URI credentials (`@`).
fn may_hide_secret(dsn: &str, at: usize, near_secret: bool) -> bool {
    near_secret || dsn[at..].contains(['=', '@'])
}

fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// libpq's `conninfo_parse`: blank-separated `key = value`; a value is unquoted (up to a blank, a
/// backslash taking the next character as it is) or single-quoted (`\'` and `\\` inside).
fn scan_keywords(dsn: &str, out: &mut Vec<Param>) -> Result<(), ScanError> {
    let b = dsn.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if is_space(b[i]) {
            i += 1;
            continue;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && !is_space(b[i]) {
            i += 1;
        }
        let key = &dsn[key_start..i];
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            // The previous value, unquoted, may have been a secret cut at a blank.
            let near = out.last().is_some_and(|p| is_secret(&p.key));
            let hide_rest = may_hide_secret(dsn, key_start, near);
            let message = if hide_rest {
                "missing \"=\" after a word (not shown: it may hold a secret)".to_string()
            } else {
                format!("missing \"=\" after \"{key}\"")
            };
            return Err(ScanError {
                at: key_start,
                message,
                hide_rest,
            });
        }
        i += 1;
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        let value_start = i;
        let mut value = Vec::new();
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            loop {
                match b.get(i) {
                    None => {
                        let hide_rest = may_hide_secret(dsn, value_start, is_secret(key));
                        return Err(ScanError {
                            at: value_start,
                            message: format!(
                                "unterminated quoted string in the value of \"{key}\""
                            ),
                            hide_rest,
                        });
                    }
                    Some(b'\\') => {
                        if let Some(&c) = b.get(i + 1) {
                            value.push(c);
                        }
                        i += 2;
                    }
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < b.len() && !is_space(b[i]) {
                if b[i] == b'\\' {
                    if let Some(&c) = b.get(i + 1) {
                        value.push(c);
                    }
                    i += 2;
                } else {
                    value.push(b[i]);
                    i += 1;
                }
            }
            i = i.min(b.len());
        }
        out.push(Param {
            key: key.to_string(),
            value: utf8(value),
            span: value_start..i,
            in_query: false,
        });
    }
    Ok(())
}

/// libpq's `conninfo_uri_decode`: `%xy` is the byte 0xxy, `%00` is refused, `+` is a plus.
fn percent_decode(dsn: &str, span: Range<usize>, key: &str) -> Result<String, ScanError> {
    let raw = &dsn.as_bytes()[span.clone()];
    let secret = is_secret(key);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'%' {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let hex = |j: usize| raw.get(j).and_then(|&c| (c as char).to_digit(16));
        // A secret's error points at its start, so that masking hides all of it.
        let at = if secret { span.start } else { span.start + i };
        let fail = |what: &str| ScanError {
            at,
            message: what.to_string(),
            hide_rest: may_hide_secret(dsn, at, secret),
        };
        match (hex(i + 1), hex(i + 2)) {
            (Some(hi), Some(lo)) => {
                let c = (hi * 16 + lo) as u8;
                if c == 0 {
                    return Err(fail(&format!(
                        "forbidden value %00 in percent-encoded value of \"{key}\""
                    )));
                }
                out.push(c);
                i += 3;
            }
            _ if secret => {
                return Err(fail(&format!("invalid percent-encoded token in \"{key}\"")))
            }
            _ => {
                let token: String = dsn[at..].chars().take(3).collect();
                return Err(fail(&format!(
                    "invalid percent-encoded token \"{token}\" in \"{key}\""
                )));
            }
        }
    }
    String::from_utf8(out).map_err(|_| ScanError {
        at: span.start,
        message: format!("the percent-decoded value of \"{key}\" is not UTF-8"),
        hide_rest: may_hide_secret(dsn, span.start, secret),
    })
}

/// libpq's `conninfo_uri_parse_options`:
/// `postgresql://[user[:password]@][host][:port][,…][/dbname][?key=value&…]`, every part
/// percent-decoded, a host in `[…]` for IPv6.
fn scan_uri(dsn: &str, prefix: usize, out: &mut Vec<Param>) -> Result<(), ScanError> {
    let b = dsn.as_bytes();
    let len = b.len();
    let push = |out: &mut Vec<Param>, key: &str, span: Range<usize>, in_query: bool| {
        let value = percent_decode(dsn, span.clone(), key)?;
        out.push(Param {
            key: key.to_string(),
            value,
            span,
            in_query,
        });
        Ok::<(), ScanError>(())
    };

    // Credentials: libpq looks for `@` before the first `/` (a `?` does not stop it).
    let mut p = prefix;
    while p < len && b[p] != b'@' && b[p] != b'/' {
        p += 1;
    }
    if p < len && b[p] == b'@' {
        let at = p;
        let colon = dsn[prefix..at].find(':').map(|c| prefix + c);
        let user_end = colon.unwrap_or(at);
        if user_end > prefix {
            push(out, "user", prefix..user_end, false)?;
        }
        if let Some(c) = colon {
            if c + 1 < at {
                push(out, "password", c + 1..at, false)?;
            }
        }
        p = at + 1;
    } else {
        p = prefix;
    }

    // Hosts and ports, `host[:port]` separated by commas.
    let netloc = p;
    let (mut hosts, mut ports) = (String::new(), String::new());
    let terminator = loop {
        if p < len && b[p] == b'[' {
            let start = p + 1;
            let mut q = start;
            while q < len && b[q] != b']' {
                q += 1;
            }
            if q >= len {
                return Err(ScanError {
                    at: p,
                    message:
                        "end of string reached when looking for matching \"]\" in IPv6 host address"
                            .into(),
                    hide_rest: may_hide_secret(dsn, p, false),
                });
            }
            if q == start {
                return Err(ScanError {
                    at: p,
                    message: "IPv6 host address may not be empty".into(),
                    hide_rest: may_hide_secret(dsn, p, false),
                });
            }
            hosts.push_str(&percent_decode(dsn, start..q, "host")?);
            p = q + 1;
            if p < len && !matches!(b[p], b':' | b'/' | b'?' | b',') {
                let c = dsn[p..].chars().next().unwrap_or(' ');
                return Err(ScanError {
                    at: p,
                    message: format!(
                        "unexpected character \"{c}\" at position {} in URI (expected \":\" or \"/\")",
                        p + 1
                    ),
                    hide_rest: may_hide_secret(dsn, p, false),
                });
            }
        } else {
            let start = p;
            while p < len && !matches!(b[p], b':' | b'/' | b'?' | b',') {
                p += 1;
            }
            hosts.push_str(&percent_decode(dsn, start..p, "host")?);
        }
        if p < len && b[p] == b':' {
            p += 1;
            let start = p;
            while p < len && !matches!(b[p], b'/' | b'?' | b',') {
                p += 1;
            }
            ports.push_str(&percent_decode(dsn, start..p, "port")?);
        }
        if p < len && b[p] == b',' {
            p += 1;
            hosts.push(',');
            ports.push(',');
            continue;
        }
        break b.get(p).copied();
    };
    for (key, value) in [("host", hosts), ("port", ports)] {
        if !value.is_empty() {
            out.push(Param {
                key: key.into(),
                value,
                span: netloc..p,
                in_query: false,
            });
        }
    }

    // `/dbname`, then the query.
    let mut terminator = terminator;
    if terminator == Some(b'/') {
        let start = p + 1;
        p = start;
        while p < len && b[p] != b'?' {
            p += 1;
        }
        if p > start {
            push(out, "dbname", start..p, false)?;
        }
        terminator = b.get(p).copied();
    }
    if terminator.is_none() {
        return Ok(());
    }
    p += 1;
    while p < len {
        let start = p;
        let mut eq = None;
        while p < len && b[p] != b'&' {
            if b[p] == b'=' {
                if eq.is_some() {
                    let key = &dsn[start..eq.unwrap_or(start)];
                    return Err(ScanError {
                        at: start,
                        message: format!(
                            "extra key/value separator \"=\" in URI query parameter: \"{key}\""
                        ),
                        hide_rest: may_hide_secret(dsn, start, true),
                    });
                }
                eq = Some(p);
            }
            p += 1;
        }
        let end = p;
        if p < len {
            p += 1;
        }
        let Some(eq) = eq else {
            let hide_rest = may_hide_secret(dsn, start, false);
            let message = if hide_rest {
                "missing key/value separator \"=\" in a URI query parameter (not shown: it may hold a secret)".to_string()
            } else {
                format!(
                    "missing key/value separator \"=\" in URI query parameter: \"{}\"",
                    &dsn[start..end]
                )
            };
            return Err(ScanError {
                at: start,
                message,
                hide_rest,
            });
        };
        let key = percent_decode(dsn, start..eq, "a URI query keyword")?;
        push(out, &key, eq + 1..end, true)?;
    }
    Ok(())
}

/// A keyword libpq does not know that looks like a secret's (a misspelt `password` is still a
/// password).
fn misspelt_secret(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    !is_keyword(key) && (lower.contains("pass") || lower.contains("secret"))
}

/// A URI's password written with a raw `@` or `/`, which libpq reads as part of the host or as
/// a port: from after the user's `:` to the `@` that most likely ends the credentials (the last
/// one before the first `/`, else the first one after it and before a `?`).
fn raw_uri_password(dsn: &str) -> Option<Range<usize>> {
    let prefix = uri_prefix_len(dsn)?;
    let rest = &dsn[prefix..];
    let slash = rest.find('/').unwrap_or(rest.len());
    let colon = rest[..slash].find(':')?;
    let at = match rest[..slash].rfind('@') {
        Some(at) if at > colon => at,
        Some(_) => return None,
        None => {
            let path = &rest[slash..];
            let query = path.find('?').unwrap_or(path.len());
            slash + path[..query].find('@')?
        }
    };
    Some(prefix + colon + 1..prefix + at)
}

/// The parts of a DSN that [`mask_dsn`] hides, in order.
pub(crate) fn secret_spans(dsn: &str) -> Vec<Range<usize>> {
    let scan = scan(dsn);
    let mut cuts: Vec<Range<usize>> = scan
        .params
        .iter()
        .filter(|p| is_secret(&p.key) || misspelt_secret(&p.key))
        .map(|p| p.span.clone())
        .collect();
    cuts.extend(raw_uri_password(dsn));
    if let Some(e) = scan.error.filter(|e| e.hide_rest) {
        cuts.push(e.at..dsn.len());
    }
    cuts.sort_by_key(|c| c.start);
    cuts
}

/// Replaces the secrets of a DSN (`password` and the other secret keywords, in either form,
/// quoted or not, in a URI's credentials or its query) with `****`, and the value of an unknown
/// keyword that looks like one, and a URI password written with a raw `@` or `/`. When a DSN
/// does not scan to its end, the text from where it stops is masked too if a secret could be in
/// it.
pub fn mask_dsn(dsn: &str) -> String {
    let mut out = String::with_capacity(dsn.len());
    let mut pos = 0;
    for cut in secret_spans(dsn) {
        if cut.start < pos {
            pos = pos.max(cut.end);
            continue;
        }
        out.push_str(&dsn[pos..cut.start]);
        out.push_str("****");
        pos = cut.end;
    }
    out.push_str(&dsn[pos..]);
    out
}

/// An error about a DSN with every quoted value that masking hides in the DSN replaced by
/// `****` (libpq's messages quote values, e.g. the "port" of a password with a raw `/`).
pub(crate) fn scrub(message: &str, dsn: &str) -> String {
    let hidden: Vec<&str> = secret_spans(dsn).into_iter().map(|r| &dsn[r]).collect();
    let mut out = String::with_capacity(message.len());
    let mut parts = message.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for (i, part) in parts.enumerate() {
        out.push('"');
        let quoted = i % 2 == 0;
        // Keywords and the separators libpq's messages quote are no secret.
        let wording = is_keyword(part) || ["", "=", ":", "/", "]"].contains(&part);
        if quoted && !wording && hidden.iter().any(|h| h.contains(part)) {
            out.push_str("****");
        } else {
            out.push_str(part);
        }
    }
    out
}
