//! The expression of a user-defined alert rule: a PromQL instant-vector selector compared with a
//! number, e.g. `pgvitals_connections{state="active"} > 80`.
//!
//! It is the subset of PromQL that pgvitals can evaluate on its own snapshot and print back as
//! the exact equivalent Prometheus expression (`pgvitals rules`): one metric name, label
//! matchers with `=` or `!=`, one comparison with a constant. Parsing lives here, apart from the
//! alert engine, so the configuration can refuse a bad expression with its location.

use std::fmt;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// Whether `value op threshold` holds, as in PromQL: a NaN sample fails every comparison
    /// but `!=`, which it passes.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
            Op::Eq => value == threshold,
            Op::Ne => value != threshold,
        }
    }

    /// The PromQL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

/// `label="value"` or `label!="value"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Value to compare with.
    pub value: String,
    /// `!=` instead of `=`.
    pub negated: bool,
}

impl Matcher {
    /// Whether a series whose label `name` has `actual` (absent = empty, as in PromQL) matches.
    pub fn matches(&self, actual: Option<&str>) -> bool {
        (actual.unwrap_or("") == self.value) != self.negated
    }
}

/// `metric{matchers} op threshold`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// Metric name.
    pub metric: String,
    /// Label matchers, all of which must hold.
    pub matchers: Vec<Matcher>,
    /// The comparison.
    pub op: Op,
    /// The constant compared with.
    pub threshold: f64,
}

impl Expr {
    /// Parses `metric{l="v",...} op number`. The error says what was expected and where (a
    /// 1-based character position).
    pub fn parse(text: &str) -> Result<Expr, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            pos: 0,
        };
        p.skip_ws();
        let metric = p.name().ok_or_else(|| p.err("a metric name"))?;
        if !metric.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':') {
            return Err(p.err("a metric name"));
        }
        p.skip_ws();
        let mut matchers = Vec::new();
        if p.eat("{") {
            loop {
                p.skip_ws();
                if p.eat("}") {
                    break;
                }
                let name = p.name().ok_or_else(|| p.err("a label name"))?;
                p.skip_ws();
                let negated = if p.eat("!=") {
                    true
                } else if p.eat("=~") || p.eat("!~") {
                    return Err(p.err_at(
                        p.pos - 2,
                        "`=` or `!=` (regular-expression matchers are not supported)",
                    ));
                } else if p.eat("=") {
                    false
                } else {
                    return Err(p.err("`=` or `!=`"));
                };
                p.skip_ws();
                let value = p.string()?;
                matchers.push(Matcher {
                    name,
                    value,
                    negated,
                });
                p.skip_ws();
                if p.eat(",") {
                    continue;
                }
                if p.eat("}") {
                    break;
                }
                return Err(p.err("`,` or `}`"));
            }
            p.skip_ws();
        }
        let op = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
        ]
        .into_iter()
        .find(|(s, _)| p.eat(s))
        .map(|(_, op)| op)
        .ok_or_else(|| p.err("a comparison (`>`, `>=`, `<`, `<=`, `==`, `!=`)"))?;
        p.skip_ws();
        let start = p.pos;
        while p.pos < p.s.len() && !p.s[p.pos].is_ascii_whitespace() {
            p.pos += 1;
        }
        let number = std::str::from_utf8(&p.s[start..p.pos]).unwrap_or("");
        let threshold: f64 = number
            .parse()
            .map_err(|_| p.err_at(start, "a number to compare with"))?;
        p.skip_ws();
        if p.pos != p.s.len() {
            return Err(p.err("the end of the expression"));
        }
        Ok(Expr {
            metric,
            matchers,
            op,
            threshold,
        })
    }

    /// Whether a series with these labels is selected.
    pub fn selects<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.matchers.iter().all(|m| m.matches(label(&m.name)))
    }
}

impl fmt::Display for Expr {
    /// The expression in PromQL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.metric)?;
        if !self.matchers.is_empty() {
            f.write_str("{")?;
            for (i, m) in self.matchers.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                let op = if m.negated { "!=" } else { "=" };
                write!(f, "{}{op}{}", m.name, quote(&m.value))?;
            }
            f.write_str("}")?;
        }
        write!(f, " {} {}", self.op.as_str(), promql_number(self.threshold))
    }
}

/// A number as PromQL reads it back exactly.
pub fn promql_number(v: f64) -> String {
    crate::metrics::non_finite(v).map_or_else(|| format!("{v}"), str::to_string)
}

/// A double-quoted PromQL string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        if self.s[self.pos..].starts_with(tok.as_bytes()) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn name(&mut self) -> Option<String> {
        let start = self.pos;
        while self.pos < self.s.len()
            && (self.s[self.pos].is_ascii_alphanumeric() || b"_:".contains(&self.s[self.pos]))
        {
            self.pos += 1;
        }
        if start == self.pos || self.s[start].is_ascii_digit() {
            self.pos = start;
            return None;
        }
        Some(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn string(&mut self) -> Result<String, String> {
        let start = self.pos;
        if !self.eat("\"") {
            return Err(self.err("a double-quoted label value"));
        }
        let mut out = Vec::new();
        while self.pos < self.s.len() {
            match self.s[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return String::from_utf8(out).map_err(|_| self.err_at(start, "UTF-8"));
                }
                b'\\' if self.pos + 1 < self.s.len() => {
                    out.push(match self.s[self.pos + 1] {
                        b'n' => b'\n',
                        c => c,
                    });
                    self.pos += 2;
                }
                c => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        Err(self.err_at(start, "a closing `\"` for this label value"))
    }

    fn err(&self, expected: &str) -> String {
        self.err_at(self.pos, expected)
    }

    fn err_at(&self, pos: usize, expected: &str) -> String {
        let found = match self.s.get(pos..) {
            Some(rest) if !rest.is_empty() => {
                let rest = String::from_utf8_lossy(rest);
                format!("`{}`", rest.chars().take(12).collect::<String>())
            }
            _ => "the end".into(),
        };
        format!(
            "at character {}: expected {expected}, found {found}",
            pos + 1
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        let e = Expr::parse(r#" pgvitals_connections{state="active", database!="x\"y"} >= 80 "#)
            .unwrap();
        assert_eq!(e.metric, "pgvitals_connections");
        assert_eq!(e.matchers.len(), 2);
        assert!(e.matchers[1].negated);
        assert_eq!(e.matchers[1].value, "x\"y");
        assert_eq!(e.op, Op::Ge);
        assert_eq!(e.threshold, 80.0);
        assert_eq!(
            e.to_string(),
            r#"pgvitals_connections{state="active", database!="x\"y"} >= 80"#
        );
        assert_eq!(Expr::parse(&e.to_string()).unwrap(), e);
        let e = Expr::parse("pgvitals_up == 0").unwrap();
        assert_eq!(e.to_string(), "pgvitals_up == 0");
        assert_eq!(Expr::parse("a{} < 0.25").unwrap().to_string(), "a < 0.25");
    }

    #[test]
    fn errors_say_what_and_where() {
        let cases = [
            ("", "at character 1: expected a metric name, found the end"),
            ("pgvitals_up", "at character 12: expected a comparison"),
            ("pgvitals_up > x", "at character 15: expected a number"),
            (
                "pgvitals_up{a=~\"b\"} > 1",
                "regular-expression matchers are not supported",
            ),
            ("pgvitals_up{a=\"b} > 1", "expected a closing `\"`"),
            (
                "pgvitals_up{a=b} > 1",
                "at character 15: expected a double-quoted label value",
            ),
            (
                "pgvitals_up > 1 and x",
                "at character 17: expected the end of the expression",
            ),
            ("rate(x[5m]) > 1", "at character 5: expected a comparison"),
        ];
        for (text, want) in cases {
            let err = Expr::parse(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn comparisons_follow_promql() {
        assert!(Op::Gt.holds(2.0, 1.0));
        // Every comparison with NaN is false except `!=`, which is true: PromQL keeps a NaN
        // sample under `!= x` (Go's float comparison, as here).
        for op in [Op::Gt, Op::Ge, Op::Lt, Op::Le, Op::Eq] {
            assert!(!op.holds(f64::NAN, 1.0), "NaN {} 1", op.as_str());
            assert!(!op.holds(f64::NAN, f64::NAN), "NaN {} NaN", op.as_str());
        }
        assert!(Op::Ne.holds(f64::NAN, 1.0), "NaN != 1 holds in PromQL");
        assert!(
            Op::Ne.holds(f64::NAN, f64::NAN),
            "NaN != NaN holds in PromQL"
        );
        assert!(Op::Le.holds(1.0, 1.0));
        let m = Matcher {
            name: "x".into(),
            value: String::new(),
            negated: false,
        };
        assert!(m.matches(None), "an absent label equals the empty string");
    }
}
