//! `standards` collector: the team's schema conventions checked against the catalogs.
//!
//! Per database, on the findings schedule (5 min). Reads `queries/standards_columns.sql` (every
//! column of every user table, with its type, constraints and whether its name is reserved) and
//! `queries/standards_constraints.sql` (foreign keys without an ON DELETE rule, constraints
//! never validated). Each breach is a `/findings` entry of kind `standard_<rule>` with the object,
//! the rule and the fix in one line, counted in `pgvitals_findings{kind}`. Rules and exceptions
//! come from `standards:` (`StandardsConfig`); tables of extensions are left out.
//!
//! | rule | a finding when |
//! |---|---|
//! | `table_name` | a table is not plural snake_case (`users`, `sprint_analyses`) |
//! | `column_name` | a column is not snake_case |
//! | `reserved_word` | a table or column is named with a reserved SQL keyword |
//! | `id_key` | the primary key is not one `id` column (serial, bigserial, identity or uuid) |
//! | `timestamps` | `created_at` or `updated_at` is missing, or not `timestamptz NOT NULL` with a default |
//! | `timestamptz` | a column is `timestamp without time zone` |
//! | `boolean_prefix` | a boolean column is not named `is_…`, `has_…` or `can_…` |
//! | `varchar_unbounded` | a `varchar` has no length (use `text`) |
//! | `json` | a column is `json` (use `jsonb`) |
//! | `numeric_unbounded` | a `numeric` has no precision and scale |
//! | `fk_on_delete` | a foreign key has no `ON DELETE` rule of its own |
//! | `not_valid_constraint` | a constraint was added `NOT VALID` and never validated |

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{findings_family, BoxFuture, CollectResult, Collector, Output, PollContext};
use crate::config::{StandardsConfig, STANDARD_RULES};
use crate::detail::{Finding, FindingsReport, Report};
use crate::queries;

/// The `/findings` kinds, `standard_` + each rule.
pub const FINDING_KINDS: [&str; 12] = [
    "standard_table_name",
    "standard_column_name",
    "standard_reserved_word",
    "standard_id_key",
    "standard_timestamps",
    "standard_timestamptz",
    "standard_boolean_prefix",
    "standard_varchar_unbounded",
    "standard_json",
    "standard_numeric_unbounded",
    "standard_fk_on_delete",
    "standard_not_valid_constraint",
];

/// One column, as read.
#[derive(Debug, Clone)]
struct Column {
    schema: String,
    table: String,
    name: String,
    type_name: String,
    typmod: i32,
    not_null: bool,
    has_default: bool,
    identity: bool,
    is_sole_pk: bool,
    table_has_pk: bool,
    reserved: bool,
    table_reserved: bool,
}

/// Checks the schema conventions.
#[derive(Debug)]
pub struct StandardsCollector {
    /// Rules on or off, exceptions.
    pub settings: StandardsConfig,
}

fn snake_case(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_')
}

/// Plural, by the last word: ends in `s`, or a plural that does not (`data`, `people`, …).
fn plural(name: &str) -> bool {
    let last = name.rsplit('_').next().unwrap_or(name);
    (last.ends_with('s') && !last.ends_with("ss"))
        || last.ends_with("sses")
        || matches!(
            last,
            "data"
                | "media"
                | "people"
                | "children"
                | "men"
                | "women"
                | "criteria"
                | "feedback"
                | "metadata"
                | "staff"
                | "equipment"
                | "information"
        )
}

fn finding(
    kind: &'static str,
    schema: &str,
    table: &str,
    column: Option<&str>,
    detail: String,
) -> Finding {
    Finding {
        kind,
        schema: schema.to_string(),
        table: table.to_string(),
        column: column.map(str::to_string),
        detail,
        ..Finding::default()
    }
}

impl StandardsCollector {
    fn check(
        &self,
        columns: &[Column],
        constraints: &[tokio_postgres::Row],
    ) -> Result<Vec<Finding>, tokio_postgres::Error> {
        let on = |rule: &str, object: &str| self.settings.applies(rule, object);
        let mut out = Vec::new();
        let mut tables: BTreeMap<(&str, &str), Vec<&Column>> = BTreeMap::new();
        for c in columns {
            tables.entry((&c.schema, &c.table)).or_default().push(c);
        }
        for ((schema, table), cols) in &tables {
            let object = format!("{schema}.{table}");
            if on("table_name", &object) && !(snake_case(table) && plural(table)) {
                out.push(finding(FINDING_KINDS[0], schema, table, None, format!(
                    "table {object} is not named in plural snake_case: rename it (e.g. ALTER TABLE {object} RENAME TO …s)"
                )));
            }
            if on("reserved_word", &object) && cols[0].table_reserved {
                out.push(finding(FINDING_KINDS[2], schema, table, None, format!(
                    "table {object} is named with a reserved SQL keyword: every query must quote it; rename it"
                )));
            }
            let pk_ok = cols.iter().any(|c| {
                c.is_sole_pk
                    && c.name == "id"
                    && (c.type_name == "uuid"
                        || (matches!(c.type_name.as_str(), "int4" | "int8")
                            && (c.identity || c.has_default)))
            });
            if on("id_key", &object) && cols[0].table_has_pk && !pk_ok {
                out.push(finding(FINDING_KINDS[3], schema, table, None, format!(
                    "the primary key of {object} is not one `id` column (bigserial, identity or uuid): give the table an `id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY` and keep the natural key UNIQUE"
                )));
            }
            if on("timestamps", &object) {
                let mut wrong = Vec::new();
                for std_col in ["created_at", "updated_at"] {
                    match cols.iter().find(|c| c.name == std_col) {
                        None => wrong.push(format!("{std_col} is missing")),
                        Some(c)
                            if c.type_name != "timestamptz" || !c.not_null || !c.has_default =>
                        {
                            wrong.push(format!(
                                "{std_col} is not timestamptz NOT NULL DEFAULT now()"
                            ))
                        }
                        Some(_) => {}
                    }
                }
                if !wrong.is_empty() {
                    out.push(finding(FINDING_KINDS[4], schema, table, None, format!(
                        "{object}: {}: every table has created_at and updated_at timestamptz NOT NULL DEFAULT now()",
                        wrong.join(", ")
                    )));
                }
            }
            for c in cols {
                let object = format!("{schema}.{table}.{}", c.name);
                let mut add = |i: usize, rule: &str, why: String| {
                    if on(rule, &object) {
                        out.push(finding(FINDING_KINDS[i], schema, table, Some(&c.name), why));
                    }
                };
                if !snake_case(&c.name) {
                    add(
                        1,
                        "column_name",
                        format!("column {object} is not snake_case: rename it"),
                    );
                }
                if c.reserved {
                    add(
                        2,
                        "reserved_word",
                        format!("column {object} is named with a reserved SQL keyword: rename it"),
                    );
                }
                match c.type_name.as_str() {
                    "timestamp" => add(5, "timestamptz", format!("{object} is timestamp without time zone: ALTER it to timestamptz (it keeps the instant, not the wall clock)")),
                    "bool" if !["is_", "has_", "can_"].iter().any(|p| c.name.starts_with(p)) => {
                        add(6, "boolean_prefix", format!("boolean {object} is not named is_…, has_… or can_…: rename it"))
                    }
                    "varchar" if c.typmod < 0 => add(7, "varchar_unbounded", format!("{object} is varchar without a length: make it text (or give it the length the data has)")),
                    "json" => add(8, "json", format!("{object} is json: make it jsonb (indexable, no reparsing)")),
                    "numeric" if c.typmod < 0 => add(9, "numeric_unbounded", format!("{object} is numeric without precision and scale: give it numeric(p, s), e.g. numeric(12, 2) for money")),
                    _ => {}
                }
            }
        }
        for r in constraints {
            let (schema, table, name): (String, String, String) = (
                r.try_get("schema")?,
                r.try_get("table_name")?,
                r.try_get("constraint_name")?,
            );
            let object = format!("{schema}.{table}");
            let kind: String = r.try_get("kind")?;
            let on_delete: String = r.try_get("on_delete")?;
            if kind == "f" && on_delete == "a" && on("fk_on_delete", &object) {
                let mut f = finding(FINDING_KINDS[10], &schema, &table, None, format!(
                    "foreign key {name} of {object} has no ON DELETE rule: say what a deleted parent does (ON DELETE CASCADE, RESTRICT or SET NULL)"
                ));
                f.constraint = Some(name.clone());
                out.push(f);
            }
            if !r.try_get::<_, bool>("validated")? && on("not_valid_constraint", &object) {
                let mut f = finding(FINDING_KINDS[11], &schema, &table, None, format!(
                    "constraint {name} of {object} was added NOT VALID and never validated: ALTER TABLE {object} VALIDATE CONSTRAINT {name}"
                ));
                f.constraint = Some(name);
                out.push(f);
            }
        }
        debug_assert!(FINDING_KINDS
            .iter()
            .zip(STANDARD_RULES)
            .all(|(k, r)| k.ends_with(r)));
        Ok(out)
    }
}

impl Collector for StandardsCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(async move {
            let v = cx.server_version;
            let (rows, constraints) = tokio::try_join!(
                cx.client.query(queries::STANDARDS_COLUMNS.sql(v)?, &[]),
                cx.client.query(queries::STANDARDS_CONSTRAINTS.sql(v)?, &[]),
            )?;
            let columns = rows
                .iter()
                .map(|r| {
                    Ok(Column {
                        schema: r.try_get("schema")?,
                        table: r.try_get("table_name")?,
                        name: r.try_get("column_name")?,
                        type_name: r.try_get("type_name")?,
                        typmod: r.try_get("typmod")?,
                        not_null: r.try_get("not_null")?,
                        has_default: r.try_get("has_default")?,
                        identity: r.try_get("identity")?,
                        is_sole_pk: r.try_get("is_sole_pk")?,
                        table_has_pk: r.try_get("table_has_pk")?,
                        reserved: r.try_get("reserved")?,
                        table_reserved: r.try_get("table_reserved")?,
                    })
                })
                .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
            let findings = self.check(&columns, &constraints)?;
            Ok(Output {
                families: vec![findings_family(&FINDING_KINDS, &findings)],
                report: Some(Report::Findings(Arc::new(FindingsReport { findings }))),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "users",
            "sprint_analyses",
            "order_items",
            "addresses",
            "people",
            "audit_data",
        ] {
            assert!(snake_case(ok) && plural(ok), "{ok}");
        }
        for bad in [
            "user",
            "Users",
            "orderItems",
            "order__items",
            "status_",
            "address",
        ] {
            assert!(!(snake_case(bad) && plural(bad)), "{bad}");
        }
    }
}
