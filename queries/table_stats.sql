-- serves: PostgreSQL 13+
-- Per user table: scans, heap buffer counters, tuples and maintenance (collector: indexes).
--   seq_scan, idx_scan                 -> interval index usage ratio
--   heap_blks_hit, heap_blks_read      -> interval heap hit ratio
--   live, dead, mod_since_analyze      -> tuples, stale-statistics finding
--   last_vacuum, last_analyze          Unix time of the latest manual or automatic run, NULL: never
SELECT t.relid::int8 AS table_oid,
       t.schemaname::text AS schema,
       t.relname::text AS table_name,
       coalesce(t.seq_scan, 0)::int8 AS seq_scan,
       coalesce(t.idx_scan, 0)::int8 AS idx_scan,
       coalesce(io.heap_blks_hit, 0)::int8 AS heap_blks_hit,
       coalesce(io.heap_blks_read, 0)::int8 AS heap_blks_read,
       t.n_live_tup::int8 AS live,
       t.n_dead_tup::int8 AS dead,
       t.n_mod_since_analyze::int8 AS mod_since_analyze,
       extract(epoch FROM greatest(t.last_vacuum, t.last_autovacuum))::float8 AS last_vacuum,
       extract(epoch FROM greatest(t.last_analyze, t.last_autoanalyze))::float8 AS last_analyze
FROM pg_stat_user_tables t
JOIN pg_statio_user_tables io ON io.relid = t.relid
