-- serves: PostgreSQL 13+
-- Per user table: scans, heap buffer counters, tuples and maintenance (collector: indexes).
-- Catalog + pg_stat_get_* functions, as index_stats.sql; a table's index scans are the sum of
-- its indexes' scans, which pgvitals adds up from index_stats.sql.
--   seq_scan                           -> interval index usage ratio (with the index scans)
--   heap_blks_hit, heap_blks_read      -> interval heap hit ratio
--   live, dead, mod_since_analyze      -> tuples, stale-statistics finding
--   last_vacuum, last_analyze          Unix time of the latest manual or automatic run, NULL: never
SELECT c.oid::int8 AS table_oid,
       n.nspname::text AS schema,
       c.relname::text AS table_name,
       pg_stat_get_numscans(c.oid) AS seq_scan,
       pg_stat_get_blocks_hit(c.oid) AS heap_blks_hit,
       pg_stat_get_blocks_fetched(c.oid) - pg_stat_get_blocks_hit(c.oid) AS heap_blks_read,
       pg_stat_get_live_tuples(c.oid) AS live,
       pg_stat_get_dead_tuples(c.oid) AS dead,
       pg_stat_get_mod_since_analyze(c.oid) AS mod_since_analyze,
       extract(epoch FROM greatest(pg_stat_get_last_vacuum_time(c.oid),
                                   pg_stat_get_last_autovacuum_time(c.oid)))::float8 AS last_vacuum,
       extract(epoch FROM greatest(pg_stat_get_last_analyze_time(c.oid),
                                   pg_stat_get_last_autoanalyze_time(c.oid)))::float8 AS last_analyze
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 't', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
