//! Configuration errors and where in the file they are: the parser's own location, or, for
//! errors found after parsing, the line and column of a dotted key path.

use std::fmt;

use serde::de::DeserializeOwned;

/// A configuration error, located in the file where that is possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the configuration came from (or `<inline>`).
    pub file: String,
    /// 1-based line of the offending key, when known.
    pub line: Option<usize>,
    /// 1-based column of the offending key, when known.
    pub column: Option<usize>,
    /// Dotted path of the offending key, e.g. `targets[0].dsn`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": key `{}`: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error at `key` of `file`, at `position` (line, column) when it is known.
    pub fn at(file: &str, position: Option<(usize, usize)>, key: String, message: String) -> Self {
        let (line, column) = position.unzip();
        ConfigError {
            file: file.to_string(),
            line,
            column,
            key,
            message,
        }
    }
}

/// Deserializes YAML (or JSON) text strictly; an error names `file`, the line and column the
/// parser stopped at, and the dotted key.
pub(super) fn deserialize_located<T: DeserializeOwned>(
    text: &str,
    file: &str,
) -> Result<T, ConfigError> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let loc = inner.location();
        let message = strip_location(&inner.to_string());
        // serde_yaml_ng prefixes the parent path; we print the full key ourselves.
        let message = match message.split_once(": ") {
            Some((prefix, rest)) if key.starts_with(prefix) => rest.to_string(),
            _ => message,
        };
        let (line, column) = match &loc {
            Some(l) => (Some(l.line()), Some(l.column())),
            // The parser gives no location when the text holds a second document: point
            // at where it starts.
            None if message.contains("more than one document") => {
                (second_document_line(text), Some(1))
            }
            None => (None, None),
        };
        ConfigError {
            file: file.to_string(),
            line,
            column,
            key: if key == "." { String::new() } else { key },
            message,
        }
    })
}

/// The 1-based line where a second YAML document starts: a `---`/`...` marker after some
/// content, else the last line with content (what follows the first document's end).
pub(super) fn second_document_line(text: &str) -> Option<usize> {
    let mut seen_content = false;
    let mut last = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if seen_content && (line.starts_with("---") || line.starts_with("...")) {
            return Some(i + 1);
        }
        seen_content = true;
        last = Some(i + 1);
    }
    last.or(Some(1))
}

/// serde_yaml_ng appends " at line L column C" to messages; we print the location ourselves.
pub(super) fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(pos) => msg[..pos].to_string(),
        None => msg.to_string(),
    }
}

/// Finds the line and column of a dotted key path (`targets[1].name`) in block-style YAML.
///
/// Used for errors found after parsing (duplicate names, a DSN that does not parse), where the
/// YAML parser's own location is no longer at hand. Returns `None` when the text is not laid out
/// in plain block style.
pub fn locate_key(text: &str, path: &str) -> Option<(usize, usize)> {
    let mut segments: Vec<(&str, Option<usize>)> = Vec::new();
    for part in path.split('.') {
        match part.find('[') {
            Some(b) => {
                let idx = part[b + 1..].trim_end_matches(']').parse().ok()?;
                segments.push((&part[..b], Some(idx)));
            }
            None => segments.push((part, None)),
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let (mut from, mut to) = (0usize, lines.len());
    let mut min_indent = 0usize;
    let mut found = None;
    for (key, index) in segments {
        let mut hit = None;
        for (n, line) in lines.iter().enumerate().take(to).skip(from) {
            let content = line.trim_start_matches([' ', '-']);
            let indent = line.len() - content.len();
            if indent < min_indent || content.starts_with('#') {
                continue;
            }
            if content.starts_with(&format!("{key}:")) {
                hit = Some((n, indent));
                break;
            }
        }
        let (n, indent) = hit?;
        found = Some((n + 1, indent + 1));
        // The block of this key: following lines indented deeper.
        let end = lines
            .iter()
            .enumerate()
            .skip(n + 1)
            .find(|(_, l)| {
                let c = l.trim_start();
                !c.is_empty() && !c.starts_with('#') && l.len() - c.len() <= indent
            })
            .map(|(i, _)| i)
            .unwrap_or(lines.len());
        from = n + 1;
        to = end;
        min_indent = indent + 1;
        if let Some(want) = index {
            // Sequence items: lines whose first non-space char is '-' at the shallowest depth.
            let items: Vec<(usize, usize)> = (from..to)
                .filter_map(|i| {
                    let l = lines[i];
                    let c = l.trim_start();
                    c.starts_with('-').then(|| (i, l.len() - c.len()))
                })
                .collect();
            let depth = items.iter().map(|&(_, d)| d).min()?;
            let starts: Vec<usize> = items
                .iter()
                .filter(|&&(_, d)| d == depth)
                .map(|&(i, _)| i)
                .collect();
            let start = *starts.get(want)?;
            let stop = starts.get(want + 1).copied().unwrap_or(to);
            found = Some((start + 1, depth + 1));
            from = start;
            to = stop;
            min_indent = depth;
        }
    }
    found
}
