//! The typed result of a poll: metric families with their samples.
//!
//! Collectors return `Vec<Family>`; they only name their own labels. The labels that say where a
//! sample came from (`target`, and `database` for per-database collectors) are added once, when
//! the snapshot encodes a poll's result into Prometheus' text format ([`encode_samples`]).

use std::fmt::Write;

/// Prometheus metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A monotonically increasing count (name ends in `_total`).
    Counter,
}

impl Kind {
    /// The word used on the `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// One sample: its own labels (beyond the source labels) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Label names and values, in output order.
    pub labels: Vec<(&'static str, String)>,
    /// The value; NaN is written as `NaN`.
    pub value: f64,
}

/// A metric family: name, help, type and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Full metric name, `pgvitals_…`.
    pub name: &'static str,
    /// One-line description for the `# HELP` line.
    pub help: &'static str,
    /// Gauge or counter.
    pub kind: Kind,
    /// The samples.
    pub samples: Vec<Sample>,
}

impl Family {
    /// An empty gauge family.
    pub fn gauge(name: &'static str, help: &'static str) -> Family {
        debug_assert!(valid_metric_name(name), "invalid metric name {name}");
        Family {
            name,
            help,
            kind: Kind::Gauge,
            samples: Vec::new(),
        }
    }

    /// An empty counter family.
    pub fn counter(name: &'static str, help: &'static str) -> Family {
        debug_assert!(valid_metric_name(name) && name.ends_with("_total"));
        Family {
            name,
            help,
            kind: Kind::Counter,
            samples: Vec::new(),
        }
    }

    /// Adds a sample.
    pub fn push<const N: usize>(&mut self, labels: [(&'static str, String); N], value: f64) {
        self.samples.push(Sample {
            labels: labels.into(),
            value,
        });
    }

    /// Builder form of [`Family::push`] for single-sample families.
    pub fn with<const N: usize>(mut self, labels: [(&'static str, String); N], value: f64) -> Self {
        self.push(labels, value);
        self
    }

    /// The value of the first sample whose labels include all of `want` (for tests and rules).
    pub fn value(&self, want: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                want.iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|s| s.value)
    }
}

/// A metric name pgvitals exports: `[a-zA-Z_][a-zA-Z0-9_]*` (Prometheus also allows `:`, which
/// is for recording rules).
pub fn valid_metric_name(name: &str) -> bool {
    valid_label_name(name)
}

/// A Prometheus label (or alert) name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// NaN and ±Inf as Prometheus (and Go) spell them; `None` for a finite value. The one spelling
/// of non-finite values in the exposition, in PromQL and in templates.
pub fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        None
    }
}

/// Writes a label value with Prometheus' escapes (`\\`, `\"`, `\n`).
pub fn write_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes a sample value the way Prometheus parses it.
pub fn write_value(out: &mut String, v: f64) {
    if let Some(special) = non_finite(v) {
        out.push_str(special);
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Writes the `# HELP` and `# TYPE` lines of a family; `kind` is the word on the `# TYPE` line.
pub fn write_header(out: &mut String, name: &str, help: &str, kind: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    out.push_str(help);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

/// Writes label pairs as in the exposition, comma-separated and without braces:
/// `target="main",database="app"`.
pub fn write_label_pairs<'a>(
    out: &mut String,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        write_label_value(out, v);
        out.push('"');
    }
}

/// Encodes the sample lines of one family (no `# HELP`/`# TYPE`), each sample prefixed with
/// the source labels.
pub fn encode_samples(family: &Family, source: &[(&'static str, &str)]) -> String {
    let mut out = String::with_capacity(family.samples.len() * 96);
    for s in &family.samples {
        out.push_str(family.name);
        if !source.is_empty() || !s.labels.is_empty() {
            out.push('{');
            let own = s.labels.iter().map(|(k, v)| (*k, v.as_str()));
            write_label_pairs(&mut out, source.iter().copied().chain(own));
            out.push('}');
        }
        out.push(' ');
        write_value(&mut out, s.value);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_labels_escapes_and_values() {
        let mut f = Family::gauge("pgvitals_x_bytes", "x");
        f.push([("table", "a\"b\\c\nd".to_string())], 1024.0);
        f.push([("table", "e".to_string())], 0.25);
        f.push([("table", "f".to_string())], f64::NAN);
        let text = encode_samples(&f, &[("target", "main")]);
        assert_eq!(
            text,
            "pgvitals_x_bytes{target=\"main\",table=\"a\\\"b\\\\c\\nd\"} 1024\n\
             pgvitals_x_bytes{target=\"main\",table=\"e\"} 0.25\n\
             pgvitals_x_bytes{target=\"main\",table=\"f\"} NaN\n"
        );
        let bare = Family::gauge("pgvitals_y", "y").with([], 3.0);
        assert_eq!(encode_samples(&bare, &[]), "pgvitals_y 3\n");
    }
}
