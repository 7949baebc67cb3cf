//! `indexes` collector: index hit ratio now (per interval) and since the stats reset, index and
//! table usage, maintenance freshness, and the schema findings on-call and schema owners act on.
//!
//! Per database. SQL: `queries/index_stats.sql` (per index), `table_stats.sql` (per table),
//! `schema_findings.sql` (duplicate indexes, unindexed foreign keys, tables without a primary
//! key; these change only with DDL, so they are re-read every `findings_interval`) and
//! `stats_window.sql` (since when statistics count).
//!
//! **Interval ratios.** The previous reading of every index and table is kept; the ratios of the
//! interval come from the deltas: index hit ratio `Δidx_blks_hit / (Δhit + Δread)` per database,
//! table and index; heap hit ratio; index usage `Δidx_scan / (Δidx_scan + Δseq_scan)` per table.
//! An interval with no block access (or no scan) has no ratio: the series is absent, never a
//! made-up 1 or 0. The ratios since the last stats reset are exported under `_cumulative` names.
//! A counter that went down (stats reset) starts a new baseline for that relation.
//!
//! **Cardinality.** Per-index series only for the `top_n_indexes` indexes with the most block
//! accesses in the interval, per-table series only for the `top_n_tables` busiest tables; the
//! rest are summed per schema. Each finding kind exports its `findings_top_n` largest findings
//! and a count; `/findings` lists them all.

use std::collections::HashMap;

use super::{BoxFuture, CollectResult, Collector, Output, PollContext};
use crate::config::IndexesConfig;
use crate::detail::{Finding, FindingsReport, Report};
use crate::metrics::Family;
use crate::queries;

/// The kinds of finding, as the `kind` label and in `/findings`.
pub const FINDING_KINDS: [&str; 6] = [
    "unused_index",
    "duplicate_index",
    "invalid_index",
    "unindexed_foreign_key",
    "no_primary_key",
    "stale_statistics",
];

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct IndexCounters {
    scans: f64,
    blocks: Blocks,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct TableCounters {
    seq_scans: f64,
    idx_scans: f64,
    heap: Blocks,
}

/// Blocks found in shared buffers and blocks read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Blocks {
    hit: f64,
    read: f64,
}

/// `now − earlier` of one counter, `None` when it went down.
fn minus(now: f64, earlier: f64) -> Option<f64> {
    (now >= earlier).then_some(now - earlier)
}

impl Blocks {
    fn read_from(
        r: &tokio_postgres::Row,
        hit: &str,
        read: &str,
    ) -> Result<Blocks, tokio_postgres::Error> {
        Ok(Blocks {
            hit: r.try_get::<_, i64>(hit)? as f64,
            read: r.try_get::<_, i64>(read)? as f64,
        })
    }

    fn since(&self, p: &Blocks) -> Option<Blocks> {
        Some(Blocks {
            hit: minus(self.hit, p.hit)?,
            read: minus(self.read, p.read)?,
        })
    }

    fn add(&mut self, o: Blocks) {
        self.hit += o.hit;
        self.read += o.read;
    }

    fn accessed(&self) -> f64 {
        self.hit + self.read
    }

    /// hit / accessed; `None` with no access (never a made-up 1 or 0).
    fn ratio(&self) -> Option<f64> {
        (self.accessed() > 0.0).then(|| self.hit / self.accessed())
    }

    /// The blocks of a kind of relation summed: (in the interval, since the reset).
    fn sum<'a, C: Counters + 'a>(
        relations: impl Iterator<Item = (&'a Option<C>, &'a C)>,
    ) -> (Blocks, Blocks) {
        let (mut interval, mut cumulative) = (Blocks::default(), Blocks::default());
        for (delta, now) in relations {
            if let Some(d) = delta {
                interval.add(d.blocks());
            }
            cumulative.add(now.blocks());
        }
        (interval, cumulative)
    }
}

/// Cumulative counters of one relation.
trait Counters: Copy {
    /// `self − earlier`, or `None` when a counter went down (the relation's stats were reset).
    fn since(&self, earlier: &Self) -> Option<Self>;
    /// Blocks of the relation's own kind: index or heap.
    fn blocks(&self) -> Blocks;
}

impl Counters for IndexCounters {
    fn since(&self, p: &Self) -> Option<Self> {
        Some(IndexCounters {
            scans: minus(self.scans, p.scans)?,
            blocks: self.blocks.since(&p.blocks)?,
        })
    }

    fn blocks(&self) -> Blocks {
        self.blocks
    }
}

impl Counters for TableCounters {
    fn since(&self, p: &Self) -> Option<Self> {
        Some(TableCounters {
            seq_scans: minus(self.seq_scans, p.seq_scans)?,
            idx_scans: minus(self.idx_scans, p.idx_scans)?,
            heap: self.heap.since(&p.heap)?,
        })
    }

    fn blocks(&self) -> Blocks {
        self.heap
    }
}

/// The previous reading of every relation of one kind (indexes, or tables), by oid.
struct Readings<C> {
    prev: HashMap<i64, C>,
    next: HashMap<i64, C>,
}

impl<C: Counters> Readings<C> {
    fn new() -> Readings<C> {
        Readings {
            prev: HashMap::new(),
            next: HashMap::new(),
        }
    }

    /// What a relation did in the interval: the difference to its previous reading; all of its
    /// counts when it appeared since the last poll; nothing on the first poll (baseline) or
    /// when its counters were reset (counted in `resets`; the next interval starts from this
    /// reading).
    fn interval(&mut self, oid: i64, now: C, first: bool, resets: &mut u64) -> Option<C> {
        self.next.insert(oid, now);
        match self.prev.get(&oid) {
            Some(p) => {
                let d = now.since(p);
                if d.is_none() {
                    *resets += 1;
                }
                d
            }
            None if !first => Some(now),
            None => None,
        }
    }

    /// Starts a poll (what a failed one left half-read is dropped).
    fn begin(&mut self) -> &mut Self {
        self.next.clear();
        self
    }

    /// Ends a poll: this poll's readings are the next one's baseline; relations not seen are
    /// forgotten.
    fn finish(&mut self) {
        self.prev = std::mem::take(&mut self.next);
        self.next.reserve(self.prev.len());
    }
}

struct IndexRow {
    oid: i64,
    table_oid: i64,
    schema: String,
    table: String,
    name: String,
    now: IndexCounters,
    delta: Option<IndexCounters>,
    size: f64,
    valid: bool,
    constraint_backed: bool,
}

struct TableRow {
    oid: i64,
    schema: String,
    table: String,
    now: TableCounters,
    delta: Option<TableCounters>,
    live: f64,
    dead: f64,
    mod_since_analyze: f64,
    last_vacuum: Option<f64>,
    last_analyze: Option<f64>,
}

/// Polls index and table statistics of one database.
pub struct IndexesCollector {
    settings: IndexesConfig,
    indexes: Readings<IndexCounters>,
    tables: Readings<TableCounters>,
    polled_once: bool,
    resets: u64,
    catalog_findings: Option<(std::time::Instant, Vec<Finding>)>,
}

impl IndexesCollector {
    /// A collector with no baseline yet.
    pub fn new(settings: IndexesConfig) -> IndexesCollector {
        IndexesCollector {
            settings,
            indexes: Readings::new(),
            tables: Readings::new(),
            polled_once: false,
            resets: 0,
            catalog_findings: None,
        }
    }

    async fn poll(&mut self, cx: PollContext<'_>) -> CollectResult {
        let v = cx.server_version;
        let client = cx.client;
        // The catalog findings change only with DDL: refresh them every findings_interval.
        let due = self
            .catalog_findings
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= self.settings.findings_interval.0);
        if due {
            let rows = client.query(queries::SCHEMA_FINDINGS.sql(v)?, &[]).await?;
            let found = catalog_findings(&rows)?;
            self.catalog_findings = Some((std::time::Instant::now(), found));
        }
        let first = !self.polled_once;
        self.polled_once = true;

        // Rows are turned into compact structs as they arrive (12,500 indexes are 12,500 rows).
        let resets = &mut self.resets;
        let readings = self.indexes.begin();
        let indexes = super::collect_rows(client, queries::INDEX_STATS.sql(v)?, |r| {
            let oid: i64 = r.try_get("index_oid")?;
            let now = IndexCounters {
                scans: r.try_get::<_, i64>("idx_scan")? as f64,
                blocks: Blocks::read_from(r, "blks_hit", "blks_read")?,
            };
            Ok(IndexRow {
                oid,
                table_oid: r.try_get("table_oid")?,
                schema: r.try_get("schema")?,
                table: r.try_get("table_name")?,
                name: r.try_get("index_name")?,
                now,
                delta: readings.interval(oid, now, first, resets),
                size: r.try_get::<_, i64>("size_bytes")? as f64,
                valid: r.try_get("valid")?,
                constraint_backed: r.try_get("constraint_backed")?,
            })
        })
        .await?;
        self.indexes.finish();

        let mut idx_scans_by_table: HashMap<i64, f64> = HashMap::new();
        for i in &indexes {
            *idx_scans_by_table.entry(i.table_oid).or_default() += i.now.scans;
        }
        let resets = &mut self.resets;
        let readings = self.tables.begin();
        let tables = super::collect_rows(client, queries::TABLE_STATS.sql(v)?, |r| {
            let oid: i64 = r.try_get("table_oid")?;
            let now = TableCounters {
                seq_scans: r.try_get::<_, i64>("seq_scan")? as f64,
                idx_scans: idx_scans_by_table.get(&oid).copied().unwrap_or(0.0),
                heap: Blocks::read_from(r, "heap_blks_hit", "heap_blks_read")?,
            };
            Ok(TableRow {
                oid,
                schema: r.try_get("schema")?,
                table: r.try_get("table_name")?,
                now,
                delta: readings.interval(oid, now, first, resets),
                live: r.try_get::<_, i64>("live")? as f64,
                dead: r.try_get::<_, i64>("dead")? as f64,
                mod_since_analyze: r.try_get::<_, i64>("mod_since_analyze")? as f64,
                last_vacuum: r.try_get("last_vacuum")?,
                last_analyze: r.try_get("last_analyze")?,
            })
        })
        .await?;
        self.tables.finish();

        let window = client.query_one(queries::STATS_WINDOW.sql(v)?, &[]).await?;
        let since: f64 = window.try_get("since")?;
        let now_s: f64 = window.try_get("now")?;
        let findings = self.findings(&indexes, &tables, now_s - since);

        let mut out = Output::default();
        self.database_families(&mut out.families, &indexes, &tables, first);
        self.index_families(&mut out.families, &indexes);
        self.table_families(&mut out.families, &indexes, &tables);
        self.finding_families(&mut out.families, &findings);
        out.report = Some(Report::Findings(std::sync::Arc::new(FindingsReport {
            findings,
        })));
        Ok(out)
    }

    fn findings(
        &self,
        indexes: &[IndexRow],
        tables: &[TableRow],
        window_seconds: f64,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        let min_age = self.settings.unused_index_min_age.0.as_secs_f64();
        for i in indexes {
            if !i.valid {
                out.push(Finding {
                    kind: "invalid_index",
                    schema: i.schema.clone(),
                    table: i.table.clone(),
                    index: Some(i.name.clone()),
                    duplicate_of: None,
                    constraint: None,
                    modifications: None,
                    bytes: Some(i.size),
                    detail: "indisvalid = false (e.g. a failed CREATE INDEX CONCURRENTLY): drop it, or REINDEX it".into(),
                    ..Finding::default()
                });
            } else if i.now.scans == 0.0 && !i.constraint_backed && window_seconds >= min_age {
                out.push(Finding {
                    kind: "unused_index",
                    schema: i.schema.clone(),
                    table: i.table.clone(),
                    index: Some(i.name.clone()),
                    duplicate_of: None,
                    constraint: None,
                    modifications: None,
                    bytes: Some(i.size),
                    detail: format!(
                        "no scan in {:.0} s of statistics: dropping it frees its bytes and speeds up writes",
                        window_seconds
                    ),
                    ..Finding::default()
                });
            }
        }
        if let Some((_, found)) = &self.catalog_findings {
            out.extend(found.iter().cloned());
        }
        for t in tables {
            let limit = (self.settings.stale_stats_fraction * t.live.max(1.0))
                .max(self.settings.stale_stats_min_rows as f64);
            if t.mod_since_analyze > limit {
                out.push(Finding {
                    kind: "stale_statistics",
                    schema: t.schema.clone(),
                    table: t.table.clone(),
                    index: None,
                    duplicate_of: None,
                    constraint: None,
                    modifications: Some(t.mod_since_analyze),
                    bytes: None,
                    detail: format!(
                        "{} rows modified since the last analyze ({} live): ANALYZE it",
                        t.mod_since_analyze, t.live
                    ),
                    ..Finding::default()
                });
            }
        }
        out.sort_by(|a, b| {
            let ka = FINDING_KINDS.iter().position(|k| *k == a.kind);
            let kb = FINDING_KINDS.iter().position(|k| *k == b.kind);
            ka.cmp(&kb)
                .then(b.bytes.unwrap_or(0.0).total_cmp(&a.bytes.unwrap_or(0.0)))
                .then_with(|| (&a.schema, &a.table, &a.index).cmp(&(&b.schema, &b.table, &b.index)))
        });
        out
    }

    fn database_families(
        &self,
        out: &mut Vec<Family>,
        indexes: &[IndexRow],
        tables: &[TableRow],
        first: bool,
    ) {
        let (index, index_cumulative) = Blocks::sum(indexes.iter().map(|i| (&i.delta, &i.now)));
        let (heap, heap_cumulative) = Blocks::sum(tables.iter().map(|t| (&t.delta, &t.now)));
        let mut push = |name, help, v: Option<f64>| {
            if let Some(v) = v {
                out.push(Family::gauge(name, help).with([], v));
            }
        };
        if !first {
            push(
                "pgvitals_database_index_hit_ratio",
                "Index blocks found in shared buffers / index blocks accessed, in the last interval; absent with no access.",
                index.ratio(),
            );
            push(
                "pgvitals_database_heap_hit_ratio",
                "Table heap blocks found in shared buffers / heap blocks accessed, in the last interval; absent with no access.",
                heap.ratio(),
            );
            push(
                "pgvitals_database_index_blocks_accessed",
                "Index blocks accessed (hit + read) in the last interval.",
                Some(index.accessed()),
            );
        }
        push(
            "pgvitals_database_index_hit_ratio_cumulative",
            "Index hit ratio since the database's statistics were reset (hides fresh problems: see pgvitals_database_index_hit_ratio).",
            index_cumulative.ratio(),
        );
        push(
            "pgvitals_database_heap_hit_ratio_cumulative",
            "Heap hit ratio since the database's statistics were reset.",
            heap_cumulative.ratio(),
        );
        out.push(
            Family::counter(
                "pgvitals_indexes_resets_total",
                "Index and table counters found reset between two polls (a new baseline each).",
            )
            .with([], self.resets as f64),
        );
    }

    fn index_families(&self, out: &mut Vec<Family>, indexes: &[IndexRow]) {
        let mut active: Vec<&IndexRow> = indexes
            .iter()
            .filter(|i| {
                i.delta
                    .is_some_and(|d| d.blocks.accessed() > 0.0 || d.scans > 0.0)
            })
            .collect();
        active.sort_by(|a, b| {
            let (da, db) = (a.delta.unwrap_or_default(), b.delta.unwrap_or_default());
            (db.blocks.accessed())
                .total_cmp(&da.blocks.accessed())
                .then(db.scans.total_cmp(&da.scans))
                .then(a.oid.cmp(&b.oid))
        });
        let split = active.len().min(self.settings.top_n_indexes);
        let (top, rest) = active.split_at(split);
        let mut ratio = Family::gauge(
            "pgvitals_index_hit_ratio",
            "Index hit ratio of the index in the last interval (top indexes by block access).",
        );
        let mut ratio_cum = Family::gauge(
            "pgvitals_index_hit_ratio_cumulative",
            "Index hit ratio of the index since the statistics reset.",
        );
        let mut hit = Family::gauge(
            "pgvitals_index_interval_blocks_hit",
            "Index blocks found in shared buffers in the last interval.",
        );
        let mut read = Family::gauge(
            "pgvitals_index_interval_blocks_read",
            "Index blocks read from disk or the OS cache in the last interval.",
        );
        let mut scans = Family::gauge(
            "pgvitals_index_interval_scans",
            "Scans of the index in the last interval.",
        );
        let mut size = Family::gauge(
            "pgvitals_index_size_bytes",
            "Size of the index as of its last VACUUM, ANALYZE or build (relpages).",
        );
        for i in top {
            let d = i.delta.unwrap_or_default();
            let l = || {
                [
                    ("schema", i.schema.clone()),
                    ("table", i.table.clone()),
                    ("index", i.name.clone()),
                ]
            };
            if let Some(r) = d.blocks().ratio() {
                ratio.push(l(), r);
            }
            if let Some(r) = i.now.blocks().ratio() {
                ratio_cum.push(l(), r);
            }
            hit.push(l(), d.blocks.hit);
            read.push(l(), d.blocks.read);
            scans.push(l(), d.scans);
            size.push(l(), i.size);
        }
        let mut per_schema: std::collections::BTreeMap<&str, (f64, f64, f64, f64)> =
            Default::default();
        for i in rest {
            let d = i.delta.unwrap_or_default();
            let e = per_schema.entry(i.schema.as_str()).or_default();
            e.0 += d.blocks.hit;
            e.1 += d.blocks.read;
            e.2 += d.scans;
            e.3 += 1.0;
        }
        let mut rest_hit = Family::gauge(
            "pgvitals_indexes_remainder_interval_blocks_hit",
            "Index blocks hit in the last interval by the schema's active indexes beyond the top ones.",
        );
        let mut rest_read = Family::gauge(
            "pgvitals_indexes_remainder_interval_blocks_read",
            "Index blocks read in the last interval by the schema's active indexes beyond the top ones.",
        );
        let mut rest_count = Family::gauge(
            "pgvitals_indexes_remainder_indexes",
            "Active indexes of the schema summed into the remainder.",
        );
        for (schema, (h, r, _, n)) in per_schema {
            rest_hit.push([("schema", schema.to_string())], h);
            rest_read.push([("schema", schema.to_string())], r);
            rest_count.push([("schema", schema.to_string())], n);
        }
        out.extend([
            ratio, ratio_cum, hit, read, scans, size, rest_hit, rest_read, rest_count,
        ]);
    }

    fn table_families(&self, out: &mut Vec<Family>, indexes: &[IndexRow], tables: &[TableRow]) {
        let mut idx_by_table: HashMap<i64, (f64, f64)> = HashMap::new();
        for i in indexes {
            if let Some(d) = i.delta {
                let e = idx_by_table.entry(i.table_oid).or_default();
                e.0 += d.blocks.hit;
                e.1 += d.blocks.read;
            }
        }
        let activity = |t: &TableRow| {
            let d = t.delta.unwrap_or_default();
            let (ih, ir) = idx_by_table.get(&t.oid).copied().unwrap_or_default();
            d.heap.accessed() + ih + ir + d.seq_scans + d.idx_scans
        };
        let mut active: Vec<&TableRow> = tables.iter().filter(|t| activity(t) > 0.0).collect();
        active.sort_by(|a, b| activity(b).total_cmp(&activity(a)).then(a.oid.cmp(&b.oid)));
        active.truncate(self.settings.top_n_tables);

        let mut idx_ratio = Family::gauge(
            "pgvitals_table_index_hit_ratio",
            "Index hit ratio over the table's indexes in the last interval (busiest tables).",
        );
        let mut heap_ratio = Family::gauge(
            "pgvitals_table_heap_hit_ratio",
            "Heap hit ratio of the table in the last interval.",
        );
        let mut usage = Family::gauge(
            "pgvitals_table_index_usage_ratio",
            "Index scans / (index scans + sequential scans) of the table in the last interval.",
        );
        let mut seq = Family::gauge(
            "pgvitals_table_interval_seq_scans",
            "Sequential scans of the table in the last interval.",
        );
        let mut idx = Family::gauge(
            "pgvitals_table_interval_index_scans",
            "Index scans of the table in the last interval.",
        );
        let mut live = Family::gauge("pgvitals_table_live_tuples", "Estimated live rows.");
        let mut dead = Family::gauge("pgvitals_table_dead_tuples", "Estimated dead rows.");
        let mut mods = Family::gauge(
            "pgvitals_table_modifications_since_analyze",
            "Rows modified since the table was last analyzed.",
        );
        let mut vacuum = Family::gauge(
            "pgvitals_table_last_vacuum_timestamp_seconds",
            "Unix time of the table's last vacuum, manual or automatic; absent if never.",
        );
        let mut analyze = Family::gauge(
            "pgvitals_table_last_analyze_timestamp_seconds",
            "Unix time of the table's last analyze, manual or automatic; absent if never.",
        );
        for t in active {
            let d = t.delta.unwrap_or_default();
            let l = || [("schema", t.schema.clone()), ("table", t.table.clone())];
            if let Some((h, r)) = idx_by_table.get(&t.oid).filter(|(h, r)| h + r > 0.0) {
                idx_ratio.push(l(), h / (h + r));
            }
            if let Some(r) = d.blocks().ratio() {
                heap_ratio.push(l(), r);
            }
            if d.idx_scans + d.seq_scans > 0.0 {
                usage.push(l(), d.idx_scans / (d.idx_scans + d.seq_scans));
            }
            seq.push(l(), d.seq_scans);
            idx.push(l(), d.idx_scans);
            live.push(l(), t.live);
            dead.push(l(), t.dead);
            mods.push(l(), t.mod_since_analyze);
            if let Some(v) = t.last_vacuum {
                vacuum.push(l(), v);
            }
            if let Some(a) = t.last_analyze {
                analyze.push(l(), a);
            }
        }
        out.extend([
            idx_ratio, heap_ratio, usage, seq, idx, live, dead, mods, vacuum, analyze,
        ]);
    }

    fn finding_families(&self, out: &mut Vec<Family>, findings: &[Finding]) {
        let count = super::findings_family(&FINDING_KINDS, findings);
        let mut bytes = Family::gauge(
            "pgvitals_findings_bytes",
            "Bytes of the indexes behind the findings of each kind (what dropping them frees).",
        );
        for kind in FINDING_KINDS {
            let of_kind = findings.iter().filter(|f| f.kind == kind);
            let b: f64 = of_kind.filter_map(|f| f.bytes).fold(0.0, |a, b| a + b);
            bytes.push([("kind", kind.to_string())], b);
        }
        let mut unused = Family::gauge(
            "pgvitals_finding_unused_index_bytes",
            "An index with no scan since the statistics reset (and at least unused_index_min_age of statistics); value: its size.",
        );
        let mut duplicate = Family::gauge(
            "pgvitals_finding_duplicate_index_bytes",
            "An index with the same definition as another index of the table; value: its size.",
        );
        let mut invalid = Family::gauge(
            "pgvitals_finding_invalid_index_bytes",
            "An invalid index (e.g. a failed CREATE INDEX CONCURRENTLY); value: its size.",
        );
        let mut fk = Family::gauge(
            "pgvitals_finding_unindexed_foreign_key",
            "A foreign key with no index that starts with its columns; value 1.",
        );
        let mut no_pk = Family::gauge(
            "pgvitals_finding_table_without_primary_key",
            "A table without a primary key; value 1.",
        );
        let mut stale = Family::gauge(
            "pgvitals_finding_stale_statistics",
            "A table with many modifications since its last analyze; value: the modifications.",
        );
        let cap = self.settings.findings_top_n;
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for f in findings {
            let n = seen.entry(f.kind).or_default();
            *n += 1;
            if *n > cap {
                continue;
            }
            let st = || [("schema", f.schema.clone()), ("table", f.table.clone())];
            let sti = || {
                [
                    ("schema", f.schema.clone()),
                    ("table", f.table.clone()),
                    ("index", f.index.clone().unwrap_or_default()),
                ]
            };
            match f.kind {
                "unused_index" => unused.push(sti(), f.bytes.unwrap_or(0.0)),
                "invalid_index" => invalid.push(sti(), f.bytes.unwrap_or(0.0)),
                "duplicate_index" => duplicate.push(
                    [
                        ("schema", f.schema.clone()),
                        ("table", f.table.clone()),
                        ("index", f.index.clone().unwrap_or_default()),
                        ("duplicate_of", f.duplicate_of.clone().unwrap_or_default()),
                    ],
                    f.bytes.unwrap_or(0.0),
                ),
                "unindexed_foreign_key" => fk.push(
                    [
                        ("schema", f.schema.clone()),
                        ("table", f.table.clone()),
                        ("constraint", f.constraint.clone().unwrap_or_default()),
                    ],
                    1.0,
                ),
                "no_primary_key" => no_pk.push(st(), 1.0),
                "stale_statistics" => stale.push(st(), f.modifications.unwrap_or(0.0)),
                _ => {}
            }
        }
        out.extend([count, bytes, unused, duplicate, invalid, fk, no_pk, stale]);
    }
}

/// The findings of `queries/schema_findings.sql`.
fn catalog_findings(rows: &[tokio_postgres::Row]) -> Result<Vec<Finding>, tokio_postgres::Error> {
    let mut out = Vec::new();
    for r in rows {
        let kind: String = r.try_get("kind")?;
        let kind = FINDING_KINDS
            .iter()
            .find(|k| **k == kind)
            .copied()
            .unwrap_or("unknown");
        let extra: Option<String> = r.try_get("detail")?;
        let (duplicate_of, constraint, detail) = match kind {
            "duplicate_index" => (
                extra.clone(),
                None,
                format!(
                    "same definition as {}: drop one",
                    extra.as_deref().unwrap_or("?")
                ),
            ),
            "unindexed_foreign_key" => (None, extra.clone(), {
                let schema: String = r.try_get("schema")?;
                let table: String = r.try_get("table_name")?;
                let columns = extra
                    .as_deref()
                    .and_then(|e| e.rsplit_once('('))
                    .map_or("?", |(_, c)| c.trim_end_matches(')'));
                format!(
                            "foreign key {} has no index starting with its columns: deletes and joins on the referenced side scan this table; fix: CREATE INDEX CONCURRENTLY ON {}.{} ({columns})",
                            extra.as_deref().unwrap_or("?"),
                            crate::queries::quote_identifier(&schema),
                            crate::queries::quote_identifier(&table),
                        )
            }),
            _ => (
                None,
                None,
                "no primary key: rows cannot be addressed reliably (logical replication, tooling)"
                    .into(),
            ),
        };
        out.push(Finding {
            kind,
            schema: r.try_get("schema")?,
            table: r.try_get("table_name")?,
            index: r.try_get("index_name")?,
            duplicate_of,
            constraint,
            modifications: None,
            bytes: r.try_get::<_, Option<i64>>("size_bytes")?.map(|b| b as f64),
            detail,
            ..Finding::default()
        });
    }
    Ok(out)
}

impl Collector for IndexesCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(self.poll(cx))
    }
}
