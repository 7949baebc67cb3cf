//! Secrets in the configuration: read from files, never printed.

use std::path::Path;

use serde::Serializer;

use super::expand_env;

pub(super) fn ser_masked_secret<S: Serializer>(
    v: &Option<String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("****"),
        None => s.serialize_none(),
    }
}

/// Reads the first line of a secret file (a password or token).
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    let path = expand_env(&path.to_string_lossy())?;
    let content = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read secret file `{path}`: {e}"))?;
    let secret = content.lines().next().unwrap_or("").to_string();
    if secret.is_empty() {
        return Err(format!("secret file `{path}` is empty"));
    }
    Ok(secret)
}
