//! Reading a captured plan: `EXPLAIN (VERBOSE, FORMAT JSON)` output turned into a fingerprint of
//! its shape, a one-line summary for alerts, and the filtered scans a better index could replace.
//!
//! The **fingerprint** hashes the plan's shape only: node types, join types, scan directions,
//! relations and indexes, in tree order; never costs or row estimates, so the same plan under
//! other statistics keeps its fingerprint. The **summary** names the costliest scan (e.g.
//! `Seq Scan on public.sprint_analyses (600k rows) Filter: (created_by = $1)`). **Scan
//! candidates**, for the index advisor, are sequential scans with a filter, and Index Scans
//! and Bitmap Heap Scans of a poor index: one whose condition leaves a filter to run on every
//! row it returns. Each comes with the columns compared for equality and by range (for an
//! index scan, the index condition's columns first, then the filter's).

use serde::Serialize;
use serde_json::Value;

/// A plan as pgvitals keeps it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Plan {
    /// Hex FNV-1a of the plan's shape.
    pub fingerprint: String,
    /// The costliest scan, in one line.
    pub summary: String,
    /// The root node's total cost (planner units).
    pub total_cost: f64,
    /// The plan as an indented text tree, one node per line.
    pub tree: String,
    /// The tables it reads (`schema.table`), in tree order, without repeats.
    pub relations: Vec<Relation>,
}

/// A table, by schema and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Relation {
    /// Its schema.
    pub schema: String,
    /// Its name.
    pub table: String,
}

impl Relation {
    /// `schema.table` as the catalog spells it, unquoted (how findings name a table).
    pub fn name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    /// `schema.table`, quoted where PostgreSQL needs it.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table))
    }
}

/// A filtered scan where a better index might help: a sequential scan with a filter, or an
/// Index Scan or Bitmap Heap Scan whose index condition leaves a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilteredScan {
    /// The scanned table.
    pub relation: Relation,
    /// For an Index Scan or Bitmap Heap Scan: the index it uses (`None`: a sequential scan).
    pub poor_index: Option<String>,
    /// Columns compared with `=` (or `= ANY`), in the order they appear.
    pub equality: Vec<String>,
    /// Columns compared with `<`, `<=`, `>` or `>=`.
    pub range: Vec<String>,
    /// The conditions, as the plan prints them (without table aliases).
    pub filter: String,
}

/// Reads `EXPLAIN (FORMAT JSON)` output (a one-element array with a `Plan`).
pub fn parse(json: &str) -> Result<(Plan, Vec<FilteredScan>), String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("unreadable plan: {e}"))?;
    let root = v
        .get(0)
        .and_then(|p| p.get("Plan"))
        .ok_or("no Plan in the EXPLAIN output")?;
    let mut hash = Fnv::new();
    let mut tree = String::new();
    let mut scans = Vec::new();
    let mut costliest: Option<(f64, String)> = None;
    walk(root, 0, &mut hash, &mut tree, &mut scans, &mut costliest);
    let mut relations: Vec<Relation> = Vec::new();
    collect_relations(root, &mut relations);
    let total_cost = root
        .get("Total Cost")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let summary = costliest.map(|(_, s)| s).unwrap_or_else(|| node_line(root));
    Ok((
        Plan {
            fingerprint: format!("{:016x}", hash.0),
            summary,
            total_cost,
            tree,
            relations,
        },
        scans,
    ))
}

fn collect_relations(node: &Value, out: &mut Vec<Relation>) {
    if let Some(r) = text(node, "Relation Name") {
        let relation = Relation {
            schema: text(node, "Schema").unwrap_or("public").to_string(),
            table: r.to_string(),
        };
        if !out.contains(&relation) {
            out.push(relation);
        }
    }
    for c in node
        .get("Plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        collect_relations(c, out);
    }
}

/// Whether a plan uses an index whose name contains `needle` (a hypothetical index's
/// `<oid>`).
pub fn uses_index(json: &str, needle: &str) -> bool {
    fn any(v: &Value, needle: &str) -> bool {
        v.get("Index Name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.contains(needle))
            || v.get("Plans")
                .and_then(Value::as_array)
                .is_some_and(|ps| ps.iter().any(|p| any(p, needle)))
    }
    serde_json::from_str::<Value>(json)
        .ok()
        .and_then(|v| v.get(0).and_then(|p| p.get("Plan")).cloned())
        .is_some_and(|root| any(&root, needle))
}

fn text<'a>(node: &'a Value, key: &str) -> Option<&'a str> {
    node.get(key).and_then(Value::as_str)
}

/// `Seq Scan on public.t` / `Index Scan using i on public.t` / `Hash Join`.
fn node_line(node: &Value) -> String {
    let mut line = text(node, "Node Type").unwrap_or("?").to_string();
    if node.get("Parallel Aware").and_then(Value::as_bool) == Some(true) {
        line.insert_str(0, "Parallel ");
    }
    if let Some(j) = text(node, "Join Type").filter(|j| *j != "Inner") {
        line = format!("{line} ({j})");
    }
    let index = text(node, "Index Name").or_else(|| {
        // A Bitmap Heap Scan names its index in its Bitmap Index Scan child.
        node.get("Plans")?
            .as_array()?
            .iter()
            .find_map(|c| text(c, "Index Name"))
    });
    if let Some(i) = index {
        line.push_str(&format!(" using {i}"));
    }
    if let Some(r) = text(node, "Relation Name") {
        match text(node, "Schema") {
            Some(s) => line.push_str(&format!(" on {s}.{r}")),
            None => line.push_str(&format!(" on {r}")),
        }
    }
    line
}

fn walk(
    node: &Value,
    depth: usize,
    hash: &mut Fnv,
    tree: &mut String,
    scans: &mut Vec<FilteredScan>,
    costliest: &mut Option<(f64, String)>,
) {
    for key in [
        "Node Type",
        "Join Type",
        "Strategy",
        "Scan Direction",
        "Parent Relationship",
        "Schema",
        "Relation Name",
        "Index Name",
        "Parallel Aware",
    ] {
        hash.write(key.as_bytes());
        match node.get(key) {
            Some(Value::String(s)) => hash.write(s.as_bytes()),
            Some(Value::Bool(b)) => hash.write(&[u8::from(*b)]),
            _ => hash.write(b"-"),
        }
    }
    hash.write(&[depth as u8]);
    let line = node_line(node);
    let rows = node.get("Plan Rows").and_then(Value::as_f64).unwrap_or(0.0);
    let cost = node
        .get("Total Cost")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let filter = text(node, "Filter")
        .or_else(|| text(node, "Index Cond"))
        .unwrap_or("");
    tree.push_str(&"  ".repeat(depth));
    tree.push_str(&line);
    tree.push_str(&format!(" (cost {cost:.0}, {} rows)", whole(rows)));
    if !filter.is_empty() {
        tree.push_str(&format!(" {}: {filter}", filter_label(node)));
    }
    tree.push('\n');
    if node.get("Relation Name").is_some() {
        let mut summary = format!("{line} ({} rows)", whole(rows));
        if !filter.is_empty() {
            summary.push_str(&format!(
                " {}: {}",
                filter_label(node),
                strip_aliases(filter)
            ));
        }
        if costliest.as_ref().is_none_or(|(c, _)| cost > *c) {
            *costliest = Some((cost, summary));
        }
        if let Some(scan) = filtered_scan(node) {
            scans.push(scan);
        }
    }
    if let Some(children) = node.get("Plans").and_then(Value::as_array) {
        for c in children {
            walk(c, depth + 1, hash, tree, scans, costliest);
        }
    }
}

/// The scan candidate a node is, if it is one.
fn filtered_scan(node: &Value) -> Option<FilteredScan> {
    let filter = text(node, "Filter")?;
    let relation = Relation {
        schema: text(node, "Schema").unwrap_or("public").to_string(),
        table: text(node, "Relation Name")?.to_string(),
    };
    let (mut equality, mut range) = compared_columns(filter);
    if equality.is_empty() && range.is_empty() {
        return None;
    }
    match text(node, "Node Type")? {
        "Seq Scan" => Some(FilteredScan {
            relation,
            poor_index: None,
            equality,
            range,
            filter: strip_aliases(filter),
        }),
        kind @ ("Bitmap Heap Scan" | "Index Scan") => {
            // An Index Scan names its index and condition itself; a Bitmap Heap Scan in the
            // Bitmap Index Scan below (one index: a BitmapAnd/Or of several is left alone).
            let index_node = if kind == "Index Scan" {
                node
            } else {
                let child = node.get("Plans")?.as_array()?.first()?;
                if text(child, "Node Type") != Some("Bitmap Index Scan") {
                    return None;
                }
                child
            };
            let cond = text(index_node, "Index Cond")?;
            let (mut eq, mut rg) = compared_columns(cond);
            for c in equality.drain(..) {
                if !eq.contains(&c) {
                    eq.push(c);
                }
            }
            rg.retain(|c| !eq.contains(c));
            for c in range.drain(..) {
                if !eq.contains(&c) && !rg.contains(&c) {
                    rg.push(c);
                }
            }
            Some(FilteredScan {
                relation,
                poor_index: text(index_node, "Index Name").map(str::to_string),
                equality: eq,
                range: rg,
                filter: format!(
                    "Index Cond: {} Filter: {}",
                    strip_aliases(cond),
                    strip_aliases(filter)
                ),
            })
        }
        _ => None,
    }
}

fn filter_label(node: &Value) -> &'static str {
    if node.get("Filter").is_some() {
        "Filter"
    } else {
        "Index Cond"
    }
}

/// Rows as plans and annotations print them: `600k`, `1.2M`, `312`.
pub fn whole(rows: f64) -> String {
    if rows >= 1e6 {
        format!("{:.1}M", rows / 1e6)
    } else if rows >= 1e4 {
        format!("{:.0}k", rows / 1e3)
    } else {
        format!("{rows:.0}")
    }
}

/// `(sprint_analyses.created_by = $1)` → `(created_by = $1)`: VERBOSE qualifies every column.
fn strip_aliases(filter: &str) -> String {
    let mut out = String::with_capacity(filter.len());
    let mut word = String::new();
    let mut in_quote = false;
    for c in filter.chars() {
        if c == '\'' {
            in_quote = !in_quote;
        }
        if !in_quote && (c.is_alphanumeric() || c == '_' || c == '"') {
            word.push(c);
            continue;
        }
        if !in_quote && c == '.' && !word.is_empty() && !word.chars().all(|d| d.is_ascii_digit()) {
            word.clear();
            continue;
        }
        out.push_str(&word);
        word.clear();
        out.push(c);
    }
    out.push_str(&word);
    out
}

/// The columns a filter compares: (equality, range), each in order of appearance, without
/// repeats. Reads PostgreSQL's deparsed expressions: `(t.a = $1)`, `((t.b)::text = $2)`,
/// `(t.c >= $3)`, `(t.d = ANY ($4))`; a column compared with `<>`, `LIKE` or a function is left
/// out (a B-tree does not serve it).
pub fn compared_columns(filter: &str) -> (Vec<String>, Vec<String>) {
    let (mut equality, mut range) = (Vec::new(), Vec::new());
    let b = filter.as_bytes();
    // Open parentheses, true for a function call's: a column inside one is not compared itself.
    let mut parens: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'(' || c == b')' {
            if c == b'(' {
                parens.push(false);
            } else {
                parens.pop();
            }
            i += 1;
            continue;
        }
        if c == b'\'' {
            // Skip a string constant.
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
            continue;
        }
        if !(c.is_ascii_alphabetic() || c == b'_' || c == b'"') {
            i += 1;
            continue;
        }
        // An identifier, possibly qualified: keep the last part.
        let start = i;
        let name = loop {
            let (part, next) = identifier(b, i);
            i = next;
            if i < b.len() && b[i] == b'.' && i + 1 < b.len() {
                i += 1;
                continue;
            }
            break part;
        };
        // A function call (or `ANY (`): its parenthesis is marked.
        if i < b.len() && b[i] == b'(' {
            parens.push(true);
            i += 1;
            continue;
        }
        if start > 0 && b[start - 1] == b'$' {
            continue;
        }
        let in_function = parens.iter().any(|f| *f);
        let mut j = i;
        // `)` of a parenthesised column, then a cast `::type` (type words may have spaces).
        while j < b.len() && b[j] == b')' {
            parens.pop();
            j += 1;
        }
        if filter[j..].starts_with("::") {
            j += 2;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b" _\"[]".contains(&b[j])) {
                if b[j] == b' '
                    && filter[j..]
                        .trim_start()
                        .starts_with(['=', '<', '>', '~', '!'])
                {
                    break;
                }
                j += 1;
            }
        }
        let rest = filter[j..].trim_start();
        // The cast's type words are not columns.
        i = j;
        let is_keyword = [
            "AND", "OR", "NOT", "IS", "NULL", "ANY", "ALL", "TRUE", "FALSE",
        ]
        .contains(&name.to_ascii_uppercase().as_str());
        if is_keyword || in_function {
            continue;
        }
        let list = if rest.starts_with("= ") || rest.starts_with("=(") || rest.starts_with("=$") {
            Some(&mut equality)
        } else if rest.starts_with("<=")
            || rest.starts_with(">=")
            || (rest.starts_with('<') && !rest.starts_with("<>"))
            || rest.starts_with('>')
        {
            Some(&mut range)
        } else {
            None
        };
        if let Some(list) = list {
            if !list.contains(&name) {
                list.push(name);
            }
        }
    }
    range.retain(|c| !equality.contains(c));
    (equality, range)
}

/// An identifier at `i` (plain, lower-cased as PostgreSQL does, or double-quoted) and where it
/// ends.
fn identifier(b: &[u8], mut i: usize) -> (String, usize) {
    if b.get(i) == Some(&b'"') {
        let mut s = String::new();
        i += 1;
        while i < b.len() {
            if b[i] == b'"' {
                if b.get(i + 1) == Some(&b'"') {
                    s.push('"');
                    i += 2;
                    continue;
                }
                i += 1;
                break;
            }
            s.push(b[i] as char);
            i += 1;
        }
        return (s, i);
    }
    let start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        i += 1;
    }
    (
        String::from_utf8_lossy(&b[start..i]).to_ascii_lowercase(),
        i,
    )
}

/// FNV-1a, 64 bits.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A plain identifier as PostgreSQL prints it (quoted when it needs quotes).
pub fn quote_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEQ: &str = r#"[{"Plan": {"Node Type": "Aggregate", "Strategy": "Plain", "Total Cost": 10940.0, "Plan Rows": 1,
        "Plans": [{"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Parallel Aware": false, "Schema": "public",
                   "Relation Name": "sprint_analyses", "Alias": "sprint_analyses", "Total Cost": 10935.0, "Plan Rows": 4000,
                   "Filter": "((sprint_analyses.created_by = $1) AND (sprint_analyses.created_at >= $2))"}]}}]"#;

    #[test]
    fn summary_tree_and_candidate_of_a_seq_scan() {
        let (plan, scans) = parse(SEQ).unwrap();
        assert_eq!(
            plan.summary,
            "Seq Scan on public.sprint_analyses (4000 rows) Filter: ((created_by = $1) AND (created_at >= $2))"
        );
        assert_eq!(plan.total_cost, 10940.0);
        assert_eq!(
            plan.relations,
            [Relation {
                schema: "public".into(),
                table: "sprint_analyses".into()
            }]
        );
        assert!(
            plan.tree.starts_with(
                "Aggregate (cost 10940, 1 rows)\n  Seq Scan on public.sprint_analyses"
            ),
            "{}",
            plan.tree
        );
        assert_eq!(scans.len(), 1);
        assert_eq!(scans[0].relation.table, "sprint_analyses");
        assert_eq!(scans[0].equality, ["created_by"]);
        assert_eq!(scans[0].range, ["created_at"]);
    }

    #[test]
    fn the_fingerprint_ignores_costs_and_sees_the_shape() {
        let (a, _) = parse(SEQ).unwrap();
        let (b, _) = parse(&SEQ.replace("10935.0", "99.0").replace("4000", "7")).unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
        let index = SEQ.replace(
            r#""Node Type": "Seq Scan""#,
            r#""Node Type": "Index Scan", "Index Name": "sprint_analyses_created_by_idx", "Scan Direction": "Forward""#,
        );
        let (c, scans) = parse(&index).unwrap();
        assert_ne!(a.fingerprint, c.fingerprint);
        assert!(
            scans.is_empty(),
            "an index scan serving the filter is no candidate"
        );
        assert!(uses_index(&index, "created_by_idx"));
        assert!(!uses_index(SEQ, "created_by_idx"));
    }

    #[test]
    fn an_index_or_bitmap_heap_scan_whose_index_leaves_a_filter_is_a_candidate() {
        let bitmap = r#"[{"Plan": {"Node Type": "Bitmap Heap Scan", "Schema": "public", "Relation Name": "tasks",
            "Total Cost": 900.0, "Plan Rows": 10,
            "Recheck Cond": "(tasks.project_id = $1)",
            "Filter": "((tasks.assignee_id = $2) AND (tasks.due_at < $3))",
            "Plans": [{"Node Type": "Bitmap Index Scan", "Parent Relationship": "Outer", "Index Name": "tasks_project_id_idx",
                       "Total Cost": 50.0, "Plan Rows": 5000, "Index Cond": "(tasks.project_id = $1)"}]}}]"#;
        let (plan, scans) = parse(bitmap).unwrap();
        assert_eq!(scans.len(), 1, "{}", plan.tree);
        let s = &scans[0];
        assert_eq!(s.relation.table, "tasks");
        assert_eq!(s.poor_index.as_deref(), Some("tasks_project_id_idx"));
        assert_eq!(s.equality, ["project_id", "assignee_id"]);
        assert_eq!(s.range, ["due_at"]);
        assert_eq!(
            s.filter,
            "Index Cond: (project_id = $1) Filter: ((assignee_id = $2) AND (due_at < $3))"
        );
        // Without a filter the index serves the whole condition: no candidate.
        let exact = bitmap.replace(
            r#""Filter": "((tasks.assignee_id = $2) AND (tasks.due_at < $3))","#,
            "",
        );
        assert!(parse(&exact).unwrap().1.is_empty());
        // An Index Scan whose condition leaves a filter is one too.
        let index = r#"[{"Plan": {"Node Type": "Index Scan", "Schema": "public", "Relation Name": "tasks",
            "Index Name": "tasks_project_id_idx", "Scan Direction": "Forward", "Total Cost": 90.0, "Plan Rows": 3,
            "Index Cond": "(tasks.project_id = $1)", "Filter": "(tasks.assignee_id = $2)"}}]"#;
        let (_, scans) = parse(index).unwrap();
        assert_eq!(scans.len(), 1);
        assert_eq!(scans[0].equality, ["project_id", "assignee_id"]);
        assert_eq!(scans[0].poor_index.as_deref(), Some("tasks_project_id_idx"));
    }

    #[test]
    fn compared_columns_of_deparsed_filters() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("(t.a = $1)", &["a"], &[]),
            ("((t.b)::text = $1)", &["b"], &[]),
            ("((t.name)::character varying = $1)", &["name"], &[]),
            ("((t.a = $1) AND (t.c > $2) AND (t.c < $3))", &["a"], &["c"]),
            ("(t.a = ANY ($1))", &["a"], &[]),
            ("(t.a <> $1)", &[], &[]),
            ("((t.note)::text ~~ $1)", &[], &[]),
            ("(lower(t.email) = $1)", &[], &[]),
            ("(\"T\".\"Mixed\" = $1)", &["Mixed"], &[]),
            ("((t.a = 'x = y'::text) OR (t.d >= $2))", &["a"], &["d"]),
            ("(created_by = $1)", &["created_by"], &[]),
            ("(t.is_active IS TRUE)", &[], &[]),
        ];
        for (filter, eq, range) in cases {
            let (e, r) = compared_columns(filter);
            assert_eq!(e, *eq, "{filter}");
            assert_eq!(r, *range, "{filter}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("created_by"), "created_by");
        assert_eq!(quote_ident("Mixed"), "\"Mixed\"");
        assert_eq!(strip_aliases("(t.a = 'x.y')"), "(a = 'x.y')");
    }
}
