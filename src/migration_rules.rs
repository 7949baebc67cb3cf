//! The team's safe-migration rules, judged on one statement: what in a schema change locks a
//! large table for long, and the safe recipe instead. `pgvitals lint-migration` applies them to
//! SQL files before they run ([`crate::lint`]); the migrations collector applies them to the
//! schema changes running now (`collectors/migration_risks.rs`).
//!
//! A statement is read as words (keywords upper-cased, names as written), from the text
//! [`crate::ddl::split`] gives: comments gone, string literals blanked. The rules:
//!
//! | rule | statement | why |
//! |---|---|---|
//! | `create_index_not_concurrently` | `CREATE INDEX` without `CONCURRENTLY` on a large table | blocks writes for the whole build |
//! | `concurrently_in_transaction` | `CREATE INDEX CONCURRENTLY` inside `BEGIN … COMMIT` | PostgreSQL refuses it there |
//! | `constraint_without_not_valid` | `ADD CONSTRAINT … CHECK / FOREIGN KEY` without `NOT VALID` on a large table | scans the table under lock |
//! | `validate_in_same_transaction` | `VALIDATE CONSTRAINT` in the transaction that added it `NOT VALID` | the lock of the add is held through the scan |
//! | `column_type_change` | `ALTER COLUMN … TYPE` on a large table | rewrites the table and its indexes under an exclusive lock |
//! | `volatile_default` | `ADD COLUMN … DEFAULT` a volatile expression, or `GENERATED … STORED`, on a large table | rewrites the table |
//! | `set_not_null` | `ALTER COLUMN … SET NOT NULL` on a large table with no validated `CHECK (… IS NOT NULL)` before | scans the table under an exclusive lock |
//! | `vacuum_full` | `VACUUM FULL` / `CLUSTER` on a large table | rewrites it under an exclusive lock |

/// One risk found in a statement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Risk {
    /// Rule name (table above).
    pub rule: &'static str,
    /// The table it locks, as written (unquoted, lower-cased unless quoted).
    pub table: String,
    /// What happens, in one line.
    pub message: String,
    /// The safe recipe, in one line.
    pub fix: &'static str,
}

/// A word of a statement: upper-cased for keyword matching, and as written for names.
#[derive(Debug, Clone)]
pub struct Word {
    /// Upper-cased (quoted identifiers keep their case and quotes).
    pub upper: String,
    /// As written.
    pub raw: String,
}

/// The words of a statement: runs of letters, digits, `_`, `$` and `.`; quoted identifiers;
/// and each of `( ) , = ''` as a word of its own.
pub fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let end = if c == '"' {
            let mut end = i + 1;
            for (j, d) in chars.by_ref() {
                end = j + d.len_utf8();
                if d == '"' {
                    break;
                }
            }
            end
        } else if c == '\'' {
            // '' (a blanked literal) is one word.
            if chars.peek().map(|&(_, d)| d) == Some('\'') {
                chars.next();
                i + 2
            } else {
                i + 1
            }
        } else if c.is_alphanumeric() || c == '_' || c == '$' || c == '.' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_alphanumeric() || d == '_' || d == '$' || d == '.' || d == '"' {
                    if d == '"' {
                        // schema."Table": the quoted part belongs to the name.
                        chars.next();
                        end = j + 1;
                        for (k, e) in chars.by_ref() {
                            end = k + e.len_utf8();
                            if e == '"' {
                                break;
                            }
                        }
                        continue;
                    }
                    chars.next();
                    end = j + d.len_utf8();
                } else {
                    break;
                }
            }
            end
        } else if c.is_whitespace() {
            continue;
        } else {
            i + c.len_utf8()
        };
        let raw = &text[i..end.min(text.len())];
        out.push(Word {
            upper: if raw.contains('"') {
                raw.to_string()
            } else {
                raw.to_uppercase()
            },
            raw: raw.to_string(),
        });
    }
    out
}

/// A table name as PostgreSQL resolves it: unquoted parts lower-cased, quotes removed.
pub fn table_name(raw: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in raw.chars() {
        match c {
            '"' => quoted = !quoted,
            c if quoted => out.push(c),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Functions whose value differs per row: a column default calling one rewrites the table.
const VOLATILE: &[&str] = &[
    "RANDOM",
    "GEN_RANDOM_UUID",
    "UUID_GENERATE_V1",
    "UUID_GENERATE_V4",
    "CLOCK_TIMESTAMP",
    "TIMEOFDAY",
    "NEXTVAL",
    "TXID_CURRENT",
];

/// What the statement does, read from its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// `BEGIN` / `START TRANSACTION`.
    Begin,
    /// `COMMIT` / `END` / `ROLLBACK` / `ABORT`.
    End,
    /// `CREATE TABLE t`: a new table, small whatever it becomes in this migration.
    CreateTable(String),
    /// `CREATE INDEX [CONCURRENTLY] … ON t`.
    CreateIndex { table: String, concurrently: bool },
    /// `ALTER TABLE t …` with its actions.
    AlterTable { table: String, actions: Vec<Action> },
    /// `VACUUM FULL t` or `CLUSTER t`.
    Rewrite { table: String, how: &'static str },
    /// Anything else.
    Other,
}

/// One action of an `ALTER TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `ADD [CONSTRAINT name] CHECK (…)` / `FOREIGN KEY …`, and whether `NOT VALID`; for a
    /// CHECK, the column it proves `IS NOT NULL` when that is all it says.
    AddConstraint {
        name: Option<String>,
        kind: &'static str,
        not_valid: bool,
        not_null_of: Option<String>,
    },
    /// `VALIDATE CONSTRAINT name`.
    Validate(String),
    /// `ALTER [COLUMN] c [SET DATA] TYPE …`.
    ColumnType(String),
    /// `ALTER [COLUMN] c SET NOT NULL`.
    SetNotNull(String),
    /// `ADD [COLUMN] c … DEFAULT <volatile>` or `GENERATED … STORED`.
    RewritingDefault(String),
}

fn at(w: &[Word], i: usize) -> &str {
    w.get(i).map_or("", |x| x.upper.as_str())
}

/// Reads the shape of one statement.
pub fn shape(text: &str) -> Shape {
    let w = words(text);
    match at(&w, 0) {
        "BEGIN" | "START" => Shape::Begin,
        "COMMIT" | "END" | "ROLLBACK" | "ABORT" => Shape::End,
        "CREATE" => create(&w),
        "ALTER" if at(&w, 1) == "TABLE" => alter_table(&w),
        "VACUUM" => {
            let mut i = 1;
            let mut full = false;
            if at(&w, i) == "(" {
                while i < w.len() && at(&w, i) != ")" {
                    if at(&w, i) == "FULL" && !matches!(at(&w, i + 1), "FALSE" | "OFF" | "0") {
                        full = true;
                    }
                    i += 1;
                }
                i += 1;
            }
            while matches!(at(&w, i), "FULL" | "FREEZE" | "VERBOSE" | "ANALYZE") {
                full |= at(&w, i) == "FULL";
                i += 1;
            }
            match w.get(i) {
                Some(t) if full && t.upper != "(" => Shape::Rewrite {
                    table: table_name(&t.raw),
                    how: "VACUUM FULL",
                },
                _ => Shape::Other,
            }
        }
        "CLUSTER" => {
            let i = if at(&w, 1) == "VERBOSE" { 2 } else { 1 };
            match w.get(i) {
                Some(t) if t.upper != "(" => Shape::Rewrite {
                    table: table_name(&t.raw),
                    how: "CLUSTER",
                },
                _ => Shape::Other,
            }
        }
        _ => Shape::Other,
    }
}

fn create(w: &[Word]) -> Shape {
    let mut i = 1;
    if at(w, i) == "OR" && at(w, i + 1) == "REPLACE" {
        i += 2;
    }
    while matches!(
        at(w, i),
        "TEMP" | "TEMPORARY" | "UNLOGGED" | "GLOBAL" | "LOCAL"
    ) {
        i += 1;
    }
    if at(w, i) == "TABLE" {
        i += 1;
        if at(w, i) == "IF" {
            i += 3;
        }
        return w
            .get(i)
            .map_or(Shape::Other, |t| Shape::CreateTable(table_name(&t.raw)));
    }
    if at(w, i) == "UNIQUE" {
        i += 1;
    }
    if at(w, i) != "INDEX" {
        return Shape::Other;
    }
    let concurrently = at(w, i + 1) == "CONCURRENTLY";
    match w.iter().position(|x| x.upper == "ON") {
        Some(on) => {
            let t = if at(w, on + 1) == "ONLY" {
                on + 2
            } else {
                on + 1
            };
            w.get(t).map_or(Shape::Other, |t| Shape::CreateIndex {
                table: table_name(&t.raw),
                concurrently,
            })
        }
        None => Shape::Other,
    }
}

fn alter_table(w: &[Word]) -> Shape {
    let mut i = 2;
    if at(w, i) == "IF" && at(w, i + 1) == "EXISTS" {
        i += 2;
    }
    if at(w, i) == "ONLY" {
        i += 1;
    }
    let Some(t) = w.get(i) else {
        return Shape::Other;
    };
    let table = table_name(&t.raw);
    // The actions, split at top-level commas.
    let mut actions = Vec::new();
    let mut depth = 0;
    let mut begin = i + 1;
    for j in i + 1..=w.len() {
        let end = j == w.len();
        if !end {
            match at(w, j) {
                "(" => depth += 1,
                ")" => depth -= 1,
                _ => {}
            }
        }
        if end || (depth == 0 && at(w, j) == ",") {
            if let Some(a) = action(&w[begin..j]) {
                actions.push(a);
            }
            begin = j + 1;
        }
    }
    Shape::AlterTable { table, actions }
}

fn action(w: &[Word]) -> Option<Action> {
    let has = |kw: &str| w.iter().any(|x| x.upper == kw);
    match at(w, 0) {
        "ADD" => {
            let mut i = 1;
            let mut name = None;
            if at(w, i) == "CONSTRAINT" {
                name = w.get(i + 1).map(|n| table_name(&n.raw));
                i += 2;
            }
            let kind = match at(w, i) {
                "CHECK" => "CHECK",
                "FOREIGN" => "FOREIGN KEY",
                "COLUMN" | "" => "",
                _ if name.is_none() => "",
                _ => "",
            };
            if !kind.is_empty() {
                let not_valid = w
                    .windows(2)
                    .any(|p| p[0].upper == "NOT" && p[1].upper == "VALID");
                // CHECK (col IS NOT NULL)
                let not_null_of = (kind == "CHECK"
                    && w.len() >= i + 6
                    && at(w, i + 1) == "("
                    && at(w, i + 3) == "IS"
                    && at(w, i + 4) == "NOT"
                    && at(w, i + 5) == "NULL"
                    && at(w, i + 6) == ")")
                    .then(|| table_name(&w[i + 2].raw));
                return Some(Action::AddConstraint {
                    name,
                    kind,
                    not_valid,
                    not_null_of,
                });
            }
            // ADD [COLUMN] [IF NOT EXISTS] c type … DEFAULT expr / GENERATED … STORED
            let mut c = 1;
            if at(w, c) == "COLUMN" {
                c += 1;
            }
            if at(w, c) == "IF" {
                c += 3;
            }
            let column = table_name(&w.get(c)?.raw);
            let volatile_default = w
                .iter()
                .position(|x| x.upper == "DEFAULT")
                .is_some_and(|d| {
                    w[d + 1..]
                        .iter()
                        .any(|x| VOLATILE.contains(&x.upper.rsplit('.').next().unwrap_or("")))
                });
            let generated_stored = has("GENERATED") && has("STORED");
            (volatile_default || generated_stored).then_some(Action::RewritingDefault(column))
        }
        "VALIDATE" if at(w, 1) == "CONSTRAINT" => {
            Some(Action::Validate(table_name(&w.get(2)?.raw)))
        }
        "ALTER" => {
            let c = if at(w, 1) == "COLUMN" { 2 } else { 1 };
            let column = table_name(&w.get(c)?.raw);
            let rest: Vec<&str> = w[c + 1..].iter().map(|x| x.upper.as_str()).collect();
            match rest.as_slice() {
                ["TYPE", ..] | ["SET", "DATA", "TYPE", ..] => Some(Action::ColumnType(column)),
                ["SET", "NOT", "NULL", ..] => Some(Action::SetNotNull(column)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// What a statement is judged against: the size of the tables it touches and what the
/// statements before it in the same migration did.
pub trait Context {
    /// Whether `table` is large enough for a lock on it to hurt.
    fn is_large(&self, table: &str) -> bool;
    /// Whether a statement before proved `table.column` not null with a valid CHECK.
    fn proven_not_null(&self, table: &str, column: &str) -> bool;
    /// Whether the statement runs inside `BEGIN … COMMIT`.
    fn in_transaction(&self) -> bool;
    /// Whether `constraint` of `table` was added `NOT VALID` in the current transaction.
    fn added_not_valid_in_this_transaction(&self, table: &str, constraint: &str) -> bool;
}

fn risk(rule: &'static str, table: &str, message: String, fix: &'static str) -> Risk {
    Risk {
        rule,
        table: table.to_string(),
        message,
        fix,
    }
}

/// The risks of one statement of shape `s`.
pub fn judge(s: &Shape, cx: &dyn Context) -> Vec<Risk> {
    let mut out = Vec::new();
    match s {
        Shape::CreateIndex {
            table,
            concurrently: false,
        } if cx.is_large(table) => out.push(risk(
            "create_index_not_concurrently",
            table,
            format!("CREATE INDEX on large table {table} blocks its writes for the whole build"),
            "CREATE INDEX CONCURRENTLY, outside a transaction block",
        )),
        Shape::CreateIndex {
            table,
            concurrently: true,
        } if cx.in_transaction() => out.push(risk(
            "concurrently_in_transaction",
            table,
            "CREATE INDEX CONCURRENTLY cannot run inside a transaction block".into(),
            "run it on its own, outside BEGIN … COMMIT (Alembic: autocommit_block)",
        )),
        Shape::Rewrite { table, how } if cx.is_large(table) => out.push(risk(
            "vacuum_full",
            table,
            format!("{how} rewrites large table {table} under an ACCESS EXCLUSIVE lock"),
            "pg_repack or pg_squeeze, which rewrite online; or plain VACUUM",
        )),
        Shape::AlterTable { table, actions } => {
            let large = cx.is_large(table);
            for a in actions {
                match a {
                    Action::AddConstraint {
                        kind,
                        not_valid: false,
                        ..
                    } if large => out.push(risk(
                        "constraint_without_not_valid",
                        table,
                        format!("ADD {kind} without NOT VALID scans large table {table} while it holds the lock"),
                        "ADD CONSTRAINT … NOT VALID, then VALIDATE CONSTRAINT in a later transaction",
                    )),
                    Action::Validate(name)
                        if cx.added_not_valid_in_this_transaction(table, name) =>
                    {
                        out.push(risk(
                            "validate_in_same_transaction",
                            table,
                            format!("VALIDATE CONSTRAINT {name} in the transaction that added it keeps the add's lock through the scan"),
                            "COMMIT after ADD CONSTRAINT … NOT VALID; VALIDATE in a transaction of its own",
                        ))
                    }
                    Action::ColumnType(column) if large => out.push(risk(
                        "column_type_change",
                        table,
                        format!("ALTER COLUMN {column} TYPE rewrites large table {table} and its indexes under an ACCESS EXCLUSIVE lock"),
                        "add a new column, backfill it in batches, switch reads and writes, drop the old one",
                    )),
                    Action::RewritingDefault(column) if large => out.push(risk(
                        "volatile_default",
                        table,
                        format!("ADD COLUMN {column} with a volatile default or a stored generated value rewrites large table {table}"),
                        "add the column without a default (or with a constant one), then backfill in batches",
                    )),
                    Action::SetNotNull(column)
                        if large && !cx.proven_not_null(table, column) =>
                    {
                        out.push(risk(
                            "set_not_null",
                            table,
                            format!("SET NOT NULL on {column} scans large table {table} under an ACCESS EXCLUSIVE lock"),
                            "ADD CONSTRAINT … CHECK (column IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (no scan)",
                        ))
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    out
}
