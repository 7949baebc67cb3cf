//! Alert annotation templates: the part of Prometheus' template language that pgvitals renders
//! itself, so one annotation text means the same in pgvitals and in the Prometheus rules it
//! prints.
//!
//! Supported actions: `{{ $value }}`, `{{ $labels.NAME }}`, and `$value` piped through
//! `humanize`, `humanizePercentage` or `humanizeDuration` (same output as Prometheus: Go's
//! `%.4g` with SI or time units). Anything else is refused when the configuration is read.

use std::collections::BTreeMap;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Value(Format),
    Label(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Plain,
    Humanize,
    Humanize1024,
    Percentage,
    Duration,
}

impl Template {
    /// Parses a template; the error names the unsupported action.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| {
                format!(
                    "`{{{{` at byte {} is never closed",
                    text.len() - rest.len() + start
                )
            })?;
            let action = after[..end]
                .trim()
                .trim_start_matches('-')
                .trim_end_matches('-')
                .trim();
            parts.push(parse_action(action)?);
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// Renders with a sample's labels and value.
    pub fn render(&self, labels: &BTreeMap<String, String>, value: f64) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Label(name) => out.push_str(labels.get(name).map_or("", String::as_str)),
                Part::Value(f) => out.push_str(&match f {
                    Format::Plain => go_float(value),
                    Format::Humanize => humanize(value),
                    Format::Humanize1024 => humanize_1024(value),
                    Format::Percentage => humanize_percentage(value),
                    Format::Duration => humanize_duration(value),
                }),
            }
        }
        out
    }
}

fn parse_action(action: &str) -> Result<Part, String> {
    let unsupported = || {
        format!(
            "unsupported template action `{{{{ {action} }}}}`: use {{{{ $value }}}}, {{{{ $labels.NAME }}}}, or $value piped to humanize, humanizePercentage or humanizeDuration"
        )
    };
    if let Some(name) = action.strip_prefix("$labels.") {
        if crate::metrics::valid_label_name(name) {
            return Ok(Part::Label(name.to_string()));
        }
        return Err(unsupported());
    }
    let mut pipe = action.split('|').map(str::trim);
    let (Some(head), func, None) = (pipe.next(), pipe.next(), pipe.next()) else {
        return Err(unsupported());
    };
    let format = match (head, func) {
        ("$value", None) => Format::Plain,
        ("$value", Some("humanize")) | ("humanize $value", None) => Format::Humanize,
        ("$value", Some("humanize1024")) | ("humanize1024 $value", None) => Format::Humanize1024,
        ("$value", Some("humanizePercentage")) | ("humanizePercentage $value", None) => {
            Format::Percentage
        }
        ("$value", Some("humanizeDuration")) | ("humanizeDuration $value", None) => {
            Format::Duration
        }
        _ => return Err(unsupported()),
    };
    Ok(Part::Value(format))
}

/// Go's `%v` for a float64 (`strconv.FormatFloat(v, 'g', -1, 64)`).
pub fn go_float(v: f64) -> String {
    if let Some(special) = go_special(v) {
        return special;
    }
    // Shortest round-trip digits, then Go's rule: exponent form below 1e-4 or from 1e6.
    let (mantissa, exp) = split_exponent(&format!("{v:e}"));
    if !(-4..6).contains(&exp) {
        return go_exponent(&mantissa, exp);
    }
    format!("{v}")
}

/// Go's `%e` with the shortest mantissa (`strconv.FormatFloat(v, 'e', -1, 64)`), as
/// Prometheus' API writes alert values: `9.5e-01`.
pub fn go_float_e(v: f64) -> String {
    if let Some(special) = go_special(v) {
        return if v == 0.0 { "0e+00".into() } else { special };
    }
    let (mantissa, exp) = split_exponent(&format!("{v:e}"));
    go_exponent(&mantissa, exp)
}

/// NaN, ±Inf and 0 as Go prints them.
fn go_special(v: f64) -> Option<String> {
    if let Some(special) = crate::metrics::non_finite(v) {
        Some(special.into())
    } else if v == 0.0 {
        Some("0".into())
    } else {
        None
    }
}

/// Rust's `1.5e-3` into (`1.5`, -3).
fn split_exponent(e: &str) -> (String, i32) {
    let (mantissa, exp) = e.split_once('e').expect("{:e} output has an exponent");
    (
        mantissa.to_string(),
        exp.parse().expect("{:e} exponents are integers"),
    )
}

/// Go's exponent notation: a sign and at least two digits (`1.5e-03`).
fn go_exponent(mantissa: &str, exp: i32) -> String {
    format!(
        "{mantissa}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

/// Go's `%.4g`.
pub fn go_g4(v: f64) -> String {
    go_g(v, 4)
}

fn go_g(v: f64, precision: usize) -> String {
    if let Some(special) = go_special(v) {
        return special;
    }
    let (mantissa, exp) = split_exponent(&format!("{:.*e}", precision - 1, v));
    if exp < -4 || exp >= precision as i32 {
        return go_exponent(trim_zeros(&mantissa), exp);
    }
    let decimals = (precision as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Prometheus' `humanize`: SI prefixes, 4 significant digits.
pub fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        (v, prefix) = scale_up(v);
    }
    format!("{}{prefix}", go_g4(v))
}

/// Prometheus' `humanize1024`: binary prefixes (`Ki`, `Mi`, ...), 4 significant digits.
pub fn humanize_1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_g4(v))
}

/// A magnitude below 1 scaled into 1..1000 with its SI prefix (`m`, `u`, `n`, ...).
fn scale_up(mut v: f64) -> (f64, &'static str) {
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    (v, prefix)
}

/// Prometheus' `humanizePercentage`: a ratio as a percentage, 4 significant digits.
pub fn humanize_percentage(v: f64) -> String {
    format!("{}%", go_g4(v * 100.0))
}

/// Prometheus' `humanizeDuration`: seconds as `1d 2h 3m 4s`, or `12.5ms` below a second.
pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return go_g4(v);
    }
    if v == 0.0 {
        return format!("{}s", go_g4(v));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        return if days != 0 {
            format!("{sign}{days}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", go_g4(v))
        };
    }
    let (v, prefix) = scale_up(v);
    format!("{}{prefix}s", go_g4(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labels_and_values() {
        let t = Template::parse(
            "{{ $labels.target }}: {{ $value | humanizePercentage }} under, mean {{ $value | humanizeDuration }}, {{$value}} {{ $labels.missing }}.",
        )
        .unwrap();
        let labels = BTreeMap::from([("target".to_string(), "main".to_string())]);
        assert_eq!(
            t.render(&labels, 0.9123),
            "main: 91.23% under, mean 912.3ms, 0.9123 ."
        );
    }

    #[test]
    fn formats_like_prometheus() {
        assert_eq!(humanize_duration(0.1234), "123.4ms");
        assert_eq!(humanize_duration(3.5), "3.5s");
        assert_eq!(humanize_duration(301.0), "5m 1s");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(0.05), "50m");
        assert_eq!(humanize_1024(1024.0 * 1024.0 * 1536.0), "1.5Gi");
        assert_eq!(humanize_1024(512.0), "512");
        assert_eq!(humanize_percentage(0.5), "50%");
        assert_eq!(humanize_percentage(0.87654), "87.65%");
        assert_eq!(go_g4(123456.0), "1.235e+05");
        assert_eq!(go_g4(0.00001234), "1.234e-05");
        assert_eq!(go_float(0.25), "0.25");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(123456.5), "123456.5");
        assert_eq!(go_float(300.0), "300");
    }

    #[test]
    fn refuses_what_it_cannot_render() {
        for bad in [
            "{{ .Labels.x }}",
            "{{ $value | printf \"%.2f\" }}",
            "{{ $labels. }}",
            "open {{ $value ",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
