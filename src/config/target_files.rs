//! `target_files:`: more targets, listed in files that configuration management writes.
//!
//! Close to Prometheus' `file_sd`, so the same generators work: each file is a YAML or JSON list
//! (JSON is read as the YAML it also is), and the last segment of a path may be a glob (`*`
//! matches any run of characters, `?` one; hidden files are left out unless the pattern starts
//! with a dot). An entry has the same keys as a `targets:` entry and is checked the same way. A
//! file is read whole or not at all: one bad entry keeps every entry of that file out, with an
//! error that names the file, line, column and key.

use std::path::{Path, PathBuf};

use super::TargetConfig;
use super::{check_name, deserialize_located, locate_key, ConfigError, ResolvedTarget};

/// Refuses a pattern whose glob is not in the last path segment.
pub(super) fn check_pattern(pattern: &str) -> Result<(), String> {
    let (dir, _) = split(pattern);
    if dir.to_string_lossy().contains(['*', '?', '[']) {
        return Err(format!(
            "`{pattern}`: only the last path segment may be a glob (as in Prometheus' file_sd)"
        ));
    }
    if pattern.contains('[') {
        return Err(format!(
            "`{pattern}`: `[…]` is not supported; use `*` or `?`"
        ));
    }
    Ok(())
}

fn split(pattern: &str) -> (PathBuf, String) {
    let path = Path::new(pattern);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    (dir, name)
}

/// The files a pattern names now, sorted. A pattern without a glob names its file, whether or not
/// it exists (reading it then says why not).
pub fn expand_pattern(pattern: &str) -> Result<Vec<PathBuf>, String> {
    let (dir, name) = split(pattern);
    if !name.contains(['*', '?']) {
        return Ok(vec![PathBuf::from(pattern)]);
    }
    let listed = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir.as_path()
    };
    let entries =
        std::fs::read_dir(listed).map_err(|e| format!("cannot list {}: {e}", listed.display()))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .filter(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            (name.starts_with('.') || !file.starts_with('.')) && glob_match(&name, &file)
        })
        .map(|e| dir.join(e.file_name()))
        .collect();
    found.sort();
    Ok(found)
}

/// `*` and `?` matching of a whole file name.
fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// One target file's entries, checked and resolved.
#[derive(Debug, Clone)]
pub struct TargetList {
    /// The entries as written (names checked).
    pub entries: Vec<TargetConfig>,
    /// The same, resolved (DSN parsed, `dsn_env` and `password_file` read).
    pub resolved: Vec<ResolvedTarget>,
}

/// Reads a target file's text. `file` names it in errors.
pub fn parse_target_file(text: &str, file: &str) -> Result<TargetList, ConfigError> {
    let entries: Vec<TargetConfig> = if text.trim().is_empty() {
        Vec::new()
    } else {
        deserialize_located(text, file)?
    };
    let err = |key: String, message: String| {
        // Locate `[i].key` as `targets[i].key` in the text indented under a `targets:` line.
        let shifted = format!(
            "targets:\n{}",
            text.lines().map(|l| format!("  {l}\n")).collect::<String>()
        );
        let position = locate_key(&shifted, &format!("targets{key}"))
            .map(|(l, c)| (l - 1, c.saturating_sub(2).max(1)));
        ConfigError::at(file, position, key, message)
    };
    let mut names = std::collections::BTreeSet::new();
    let mut resolved = Vec::with_capacity(entries.len());
    for (i, t) in entries.iter().enumerate() {
        check_name(&t.name).map_err(|m| err(format!("[{i}].name"), m))?;
        if !names.insert(t.name.as_str()) {
            return Err(err(
                format!("[{i}].name"),
                format!("target name `{}` is used twice in this file", t.name),
            ));
        }
        let r = t
            .resolve_as(&format!("[{i}]"))
            .map_err(|(k, m)| err(k, m))?;
        resolved.push(r);
    }
    Ok(TargetList { entries, resolved })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        for (p, n, want) in [
            ("*.yaml", "a.yaml", true),
            ("*.yaml", "a.yml", false),
            ("t_?.json", "t_1.json", true),
            ("t_?.json", "t_12.json", false),
            ("*a*b", "xaxxb", true),
            ("*a*b", "xaxxbc", false),
            ("exact", "exact", true),
        ] {
            assert_eq!(glob_match(p, n), want, "{p} {n}");
        }
        assert!(check_pattern("/etc/pgvitals/targets/*.yaml").is_ok());
        assert!(check_pattern("/etc/*/targets.yaml").is_err());
        assert!(check_pattern("/etc/t[12].yaml").is_err());
    }

    #[test]
    fn a_file_is_read_whole_or_refused_with_its_location() {
        let ok = parse_target_file(
            "- name: a\n  dsn: host=127.0.0.1 dbname=a\n- {name: b, dsn: 'host=127.0.0.1 dbname=b'}\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(ok.resolved.len(), 2);
        assert_eq!(ok.resolved[1].primary_database, "b");
        let json = parse_target_file(
            r#"[{"name": "c", "dsn": "postgresql://m@127.0.0.1/c"}]"#,
            "t.json",
        )
        .unwrap();
        assert_eq!(json.entries[0].name, "c");
        assert!(parse_target_file("", "e.yaml").unwrap().entries.is_empty());

        let e = parse_target_file(
            "- name: a\n  dsn: host=x\n- name: b\n  dns: host=y\n",
            "t.yaml",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string().split(": key").next(),
            Some("t.yaml:4:3"),
            "{e}"
        );
        assert_eq!(e.key, "[1].dns");
        let e = parse_target_file(
            "- name: a\n  dsn: host=x\n- name: a\n  dsn: host=y\n",
            "t.yaml",
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.column, e.key.as_str()),
            (Some(3), Some(3), "[1].name"),
            "{e}"
        );
        let e = parse_target_file("- name: a\n  dsn: 'host=x port=nope'\n", "t.yaml").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(2), "[0].dsn"), "{e}");
        let e = parse_target_file(r#"[{"name": "c" "dsn": 1}]"#, "t.json").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
    }
}
