//! Recognising schema changes in SQL text, as `pg_stat_activity.query` shows it.
//!
//! The text may hold several statements (`BEGIN; ALTER TABLE …`), leading comments, any case,
//! and string literals or dollar-quoted bodies that merely contain DDL words. The recogniser
//! splits the text into statements (respecting quotes, comments and dollar quotes) and looks at
//! the leading keywords of each: `SELECT 'ALTER TABLE x'` is not a schema change,
//! `/* migrate */ begin; alter table x …` is.

/// What kind of schema change a statement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DdlKind {
    /// `ALTER …`
    Alter,
    /// `CREATE [UNIQUE] INDEX` (not concurrently).
    CreateIndex,
    /// `CREATE [UNIQUE] INDEX CONCURRENTLY`.
    CreateIndexConcurrently,
    /// Any other `CREATE …`.
    Create,
    /// `DROP …`
    Drop,
    /// `REINDEX …`
    Reindex,
    /// `CLUSTER …`
    Cluster,
    /// `VACUUM FULL …` / `VACUUM (FULL …)`.
    VacuumFull,
    /// `TRUNCATE …`
    Truncate,
    /// `REFRESH MATERIALIZED VIEW …`
    RefreshMaterializedView,
    /// `COMMENT ON …`
    Comment,
}

impl DdlKind {
    /// The `kind` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DdlKind::Alter => "alter",
            DdlKind::CreateIndex => "create_index",
            DdlKind::CreateIndexConcurrently => "create_index_concurrently",
            DdlKind::Create => "create",
            DdlKind::Drop => "drop",
            DdlKind::Reindex => "reindex",
            DdlKind::Cluster => "cluster",
            DdlKind::VacuumFull => "vacuum_full",
            DdlKind::Truncate => "truncate",
            DdlKind::RefreshMaterializedView => "refresh_materialized_view",
            DdlKind::Comment => "comment",
        }
    }
}

/// The first schema change among the statements of `sql`, if any.
pub fn recognise(sql: &str) -> Option<DdlKind> {
    statements(sql).into_iter().find_map(|s| classify(&s))
}

/// One statement of a text, as [`split`] gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Byte offset in the text of its first character (comments before it skipped).
    pub start: usize,
    /// The statement, comments removed, string literals and dollar-quoted bodies blanked to
    /// `''`; quoted identifiers kept in their quotes (blanks inside them as `_`).
    pub text: String,
}

/// The statements of `sql` with where each starts, split at top-level semicolons (for the
/// migration linter, which reports lines and reads table names).
pub fn split(sql: &str) -> Vec<Piece> {
    scan(sql, true)
}

/// The statements of `sql`, comments removed, string and quoted contents blanked out (so
/// keywords inside them are never seen), split at top-level semicolons.
fn statements(sql: &str) -> Vec<String> {
    scan(sql, false).into_iter().map(|p| p.text).collect()
}

fn scan(sql: &str, keep_identifiers: bool) -> Vec<Piece> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if start.is_none() && !c.is_ascii_whitespace() && c != b';' {
            let comment = (c == b'-' && b.get(i + 1) == Some(&b'-'))
                || (c == b'/' && b.get(i + 1) == Some(&b'*'));
            if !comment {
                start = Some(i);
            }
        }
        match c {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                cur.push(' ');
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                cur.push(' ');
                continue;
            }
            b'\'' | b'"' => {
                // '…' (with '' escapes, and E'…' with \ escapes) or "identifier".
                let quote = c;
                let start_of_quote = i;
                let backslash = quote == b'\''
                    && i > 0
                    && (b[i - 1] == b'E' || b[i - 1] == b'e')
                    && (i < 2 || !b[i - 2].is_ascii_alphanumeric());
                i += 1;
                while i < b.len() {
                    if backslash && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == quote {
                        if b.get(i + 1) == Some(&quote) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                if quote == b'"' && keep_identifiers {
                    let inner = String::from_utf8_lossy(&b[start_of_quote + 1..i.min(b.len())]);
                    cur.push('"');
                    cur.extend(
                        inner
                            .chars()
                            .map(|c| if c.is_whitespace() { '_' } else { c }),
                    );
                    cur.push('"');
                } else {
                    cur.push_str(if quote == b'"' { "\"x\"" } else { "''" });
                }
            }
            b'$' => {
                // $tag$ … $tag$ (a dollar quote), or $1 (a parameter).
                let tag_end = b[i + 1..]
                    .iter()
                    .position(|&x| !(x.is_ascii_alphanumeric() || x == b'_'))
                    .map(|p| i + 1 + p);
                match tag_end {
                    Some(end)
                        if b[end] == b'$'
                            && !b[i + 1..end].first().is_some_and(u8::is_ascii_digit) =>
                    {
                        let tag = &b[i..=end];
                        let body_start = end + 1;
                        let close = b[body_start..]
                            .windows(tag.len())
                            .position(|w| w == tag)
                            .map(|p| body_start + p + tag.len())
                            .unwrap_or(b.len());
                        i = close;
                        cur.push_str("''");
                        continue;
                    }
                    _ => cur.push('$'),
                }
            }
            b';' => {
                out.push(Piece {
                    start: start.take().unwrap_or(i),
                    text: std::mem::take(&mut cur),
                });
            }
            _ if c.is_ascii() => cur.push(c as char),
            _ => {
                // A multi-byte character, whole (identifiers and comments may hold any).
                let len = match c {
                    0xF0.. => 4,
                    0xE0.. => 3,
                    _ => 2,
                };
                cur.push_str(&String::from_utf8_lossy(&b[i..(i + len).min(b.len())]));
                i += len;
                continue;
            }
        }
        i += 1;
    }
    out.push(Piece {
        start: start.unwrap_or(b.len()),
        text: cur,
    });
    out.retain(|p| !p.text.trim().is_empty());
    out
}

fn classify(statement: &str) -> Option<DdlKind> {
    let words: Vec<String> = statement
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match w(0) {
        "ALTER" => Some(DdlKind::Alter),
        "DROP" => Some(DdlKind::Drop),
        "REINDEX" => Some(DdlKind::Reindex),
        "CLUSTER" => Some(DdlKind::Cluster),
        "TRUNCATE" => Some(DdlKind::Truncate),
        "COMMENT" if w(1) == "ON" => Some(DdlKind::Comment),
        "REFRESH" if w(1) == "MATERIALIZED" => Some(DdlKind::RefreshMaterializedView),
        "VACUUM" => {
            // VACUUM FULL t / VACUUM (FULL, ANALYZE) t / VACUUM (FULL true) t
            let rest = statement.trim_start()[6..].trim_start();
            let full = if let Some(opts) = rest.strip_prefix('(') {
                opts.split(')').next().unwrap_or("").split(',').any(|o| {
                    let mut parts = o.split_whitespace().map(str::to_ascii_uppercase);
                    parts.next().as_deref() == Some("FULL")
                        && !matches!(parts.next().as_deref(), Some("FALSE" | "OFF" | "0"))
                })
            } else {
                w(1) == "FULL"
            };
            full.then_some(DdlKind::VacuumFull)
        }
        "CREATE" => {
            let mut k = 1;
            if w(k) == "OR" && w(k + 1) == "REPLACE" {
                k += 2;
            }
            if w(k) == "UNIQUE" {
                k += 1;
            }
            if w(k) == "INDEX" {
                if w(k + 1) == "CONCURRENTLY" {
                    Some(DdlKind::CreateIndexConcurrently)
                } else {
                    Some(DdlKind::CreateIndex)
                }
            } else {
                Some(DdlKind::Create)
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DdlKind::*;

    #[test]
    fn real_statement_shapes() {
        let cases: &[(&str, Option<DdlKind>)] = &[
            ("ALTER TABLE orders ADD COLUMN note text", Some(Alter)),
            (
                "alter table orders alter column note set not null",
                Some(Alter),
            ),
            ("  \n\tALTER TABLE t DROP COLUMN x", Some(Alter)),
            (
                "-- add a column\nALTER TABLE t ADD COLUMN y int",
                Some(Alter),
            ),
            ("/* alembic 1a2b */ ALTER TABLE t RENAME TO u", Some(Alter)),
            (
                "/* outer /* nested */ still comment */ DROP TABLE t",
                Some(Drop),
            ),
            (
                "BEGIN; ALTER TABLE t ADD COLUMN z int; COMMIT;",
                Some(Alter),
            ),
            (
                "begin;\nalter table t add constraint c check (a > 0)",
                Some(Alter),
            ),
            ("CREATE INDEX t_a ON t (a)", Some(CreateIndex)),
            ("create unique index t_b on t (b)", Some(CreateIndex)),
            (
                "CREATE INDEX CONCURRENTLY t_c ON t (c)",
                Some(CreateIndexConcurrently),
            ),
            (
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_d ON t (d)",
                Some(CreateIndexConcurrently),
            ),
            (
                "CREATE UNIQUE INDEX CONCURRENTLY t_e ON t (e)",
                Some(CreateIndexConcurrently),
            ),
            ("CREATE TABLE t (id int PRIMARY KEY)", Some(Create)),
            ("CREATE OR REPLACE VIEW v AS SELECT 1", Some(Create)),
            (
                "create or replace function f() returns int language sql as $$ select 1 $$",
                Some(Create),
            ),
            ("DROP INDEX CONCURRENTLY IF EXISTS t_a", Some(Drop)),
            ("REINDEX TABLE CONCURRENTLY t", Some(Reindex)),
            ("reindex index t_a", Some(Reindex)),
            ("CLUSTER t USING t_a", Some(Cluster)),
            ("VACUUM FULL t", Some(VacuumFull)),
            ("vacuum (full, analyze) t", Some(VacuumFull)),
            ("VACUUM (VERBOSE, FULL) t", Some(VacuumFull)),
            ("VACUUM (FULL false) t", None),
            ("VACUUM ANALYZE t", None),
            ("VACUUM t", None),
            ("TRUNCATE t", Some(Truncate)),
            (
                "REFRESH MATERIALIZED VIEW mv",
                Some(RefreshMaterializedView),
            ),
            ("COMMENT ON TABLE t IS 'orders'", Some(Comment)),
            ("SELECT 'ALTER TABLE t ADD COLUMN x int'", None),
            (
                "select * from t where note = 'drop table t; alter table u'",
                None,
            ),
            ("SELECT $$ ALTER TABLE t $$", None),
            ("SELECT $tag$ DROP TABLE t; $tag$, 1", None),
            ("SELECT \"ALTER\" FROM t", None),
            ("UPDATE alembic_version SET version_num = 'abc'", None),
            ("INSERT INTO audit (what) VALUES ('CREATE INDEX')", None),
            ("WITH x AS (SELECT 1) SELECT * FROM x", None),
            ("SELECT E'it\\'s; ALTER TABLE t'", None),
            ("-- ALTER TABLE t\nSELECT 1", None),
            ("SELECT 1; -- next: drop table\n", None),
            (
                "SELECT pg_sleep($1); ALTER TABLE t ADD COLUMN w int",
                Some(Alter),
            ),
            ("", None),
            ("BEGIN", None),
        ];
        for (sql, want) in cases {
            assert_eq!(recognise(sql), *want, "{sql}");
        }
        assert!(cases.len() >= 30);
    }
}
