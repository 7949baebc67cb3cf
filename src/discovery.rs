//! Target discovery from `target_files`: which files the patterns name now, and each file's last
//! good target list.
//!
//! Every refresh re-expands the patterns and re-reads the files. A file whose text changed is
//! parsed and checked whole ([`parse_target_file`], then its TLS settings); if that fails, the
//! error is kept for the logs and the self-metrics and the file's last good list stays in force.
//! A file no pattern names any more (deleted, renamed) takes its targets with it, as in
//! Prometheus' `file_sd`. The daemon merges the lists with `targets:` and applies the result
//! like a reload: only added, removed and changed targets are touched.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use tracing::{error, info, warn};

use crate::config::{expand_pattern, parse_target_file, ResolvedTarget};

/// What is known of one target file.
#[derive(Debug, Default)]
struct FileState {
    /// The text last read, to tell a change from a re-read.
    text: Option<String>,
    /// The targets of the last text that was read whole.
    good: Vec<ResolvedTarget>,
    /// Why the current text is refused, when it is.
    error: Option<String>,
}

/// The files of `target_files` and their last good lists.
#[derive(Debug, Default)]
pub struct Discovery {
    files: BTreeMap<PathBuf, FileState>,
}

/// One file's standing, for `pgvitals_target_file_read_successful`.
pub struct FileStatus {
    /// The file's path.
    pub file: String,
    /// Whether its current text was taken.
    pub ok: bool,
}

impl Discovery {
    /// Re-expands `patterns` and re-reads the files; returns whether any file's list may have changed
    /// (a file gone, or a changed text taken).
    pub fn refresh(&mut self, patterns: &[String]) -> bool {
        let mut named = BTreeSet::new();
        for pattern in patterns {
            match expand_pattern(pattern) {
                Ok(paths) => named.extend(paths),
                Err(e) => {
                    // The directory is unreadable: keep what its files listed until it is back.
                    warn!(pattern = %pattern, error = %e, "target files cannot be listed; their last good lists stay");
                    let dir = std::path::Path::new(pattern).parent().map(PathBuf::from);
                    named.extend(
                        self.files
                            .keys()
                            .filter(|p| p.parent().map(PathBuf::from) == dir)
                            .cloned(),
                    );
                }
            }
        }
        let before = self.files.len();
        self.files.retain(|path, state| {
            let keep = named.contains(path);
            if !keep {
                info!(file = %path.display(), targets = state.good.len(), "target file gone; its targets go with it");
            }
            keep
        });
        let mut changed = self.files.len() != before;
        for path in named {
            let state = self.files.entry(path.clone()).or_default();
            changed |= read(&path, state);
        }
        changed
    }

    /// Every file's last good targets, with the file they came from, in path order.
    pub fn targets(&self) -> impl Iterator<Item = (String, &ResolvedTarget)> {
        self.files.iter().flat_map(|(path, state)| {
            let source = path.display().to_string();
            state.good.iter().map(move |t| (source.clone(), t))
        })
    }

    /// Each file's standing.
    pub fn status(&self) -> Vec<FileStatus> {
        self.files
            .iter()
            .map(|(path, s)| FileStatus {
                file: path.display().to_string(),
                ok: s.error.is_none(),
            })
            .collect()
    }
}

/// Re-reads one file into its state; returns whether a new list was taken.
fn read(path: &std::path::Path, state: &mut FileState) -> bool {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let msg = format!("{shown}: cannot read: {e}");
            if state.error.as_deref() != Some(msg.as_str()) {
                error!(error = %msg, kept = state.good.len(), "target file refused; its last good list stays");
            }
            state.error = Some(msg);
            state.text = None;
            return false;
        }
    };
    if state.text.as_deref() == Some(text.as_str()) {
        return false;
    }
    state.text = Some(text);
    let text = state.text.as_deref().unwrap_or_default();
    let checked = parse_target_file(text, &shown)
        .map_err(|e| e.to_string())
        .and_then(|list| {
            for t in &list.resolved {
                crate::db::tls_connector(&t.tls)
                    .map_err(|e| format!("{shown}: target `{}`: {e:#}", t.name))?;
            }
            Ok(list.resolved)
        });
    match checked {
        Ok(list) => {
            if state.error.take().is_some() {
                info!(file = %shown, "target file accepted again");
            }
            state.good = list;
            true
        }
        Err(msg) => {
            error!(error = %msg, kept = state.good.len(), "target file refused; its last good list stays");
            state.error = Some(msg);
            false
        }
    }
}

/// Merges `targets:` with the discovered targets: a name already taken (by `targets:` or an
/// earlier file) keeps its first entry, and the later one is left out with a warning. Returns the
/// targets and the source of each (`config` or the file).
pub fn merge(
    configured: Vec<ResolvedTarget>,
    discovery: &Discovery,
) -> (Vec<ResolvedTarget>, Vec<String>) {
    let mut taken: BTreeMap<String, String> = BTreeMap::new();
    let mut targets = Vec::new();
    let mut sources = Vec::new();
    for t in configured {
        taken.insert(t.name.clone(), "config".into());
        targets.push(t);
        sources.push("config".to_string());
    }
    for (source, t) in discovery.targets() {
        if let Some(first) = taken.get(&t.name) {
            warn!(target_name = %t.name, file = %source, first = %first, "target name already used; this entry is left out");
            continue;
        }
        taken.insert(t.name.clone(), source.clone());
        targets.push(t.clone());
        sources.push(source);
    }
    (targets, sources)
}
