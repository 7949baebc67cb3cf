-- serves: PostgreSQL 13+
-- Per user index: usage and buffer counters since the last stats reset (collector: indexes).
-- Reads the catalogs and the pg_stat_get_* functions directly: the pg_stat_user_indexes and
-- pg_statio_user_indexes views compute many columns pgvitals does not use, which costs more
-- than half of this query's time on 10,000 indexes. pgvitals derives interval deltas and
-- ratios (and each table's index scans, as the sum over its indexes). Sizes are relpages x
-- block_size (as of the last VACUUM, ANALYZE or CREATE INDEX): no lock, no file stat.
--   index_oid, table_oid, schema, table_name, index_name   identity and labels
--   idx_scan, blks_hit, blks_read      -> interval scans, blocks hit/read, hit ratios
--   size_bytes                         -> pgvitals_index_size_bytes, finding bytes
--   valid, constraint_backed           -> invalid / unused findings
SELECT i.indexrelid::int8 AS index_oid,
       i.indrelid::int8 AS table_oid,
       n.nspname::text AS schema,
       t.relname::text AS table_name,
       c.relname::text AS index_name,
       pg_stat_get_numscans(i.indexrelid) AS idx_scan,
       pg_stat_get_blocks_hit(i.indexrelid) AS blks_hit,
       pg_stat_get_blocks_fetched(i.indexrelid) - pg_stat_get_blocks_hit(i.indexrelid) AS blks_read,
       c.relpages::int8 * current_setting('block_size')::int8 AS size_bytes,
       i.indisvalid AS valid,
       (i.indisunique OR i.indisprimary OR i.indisexclusion) AS constraint_backed
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE t.relkind IN ('r', 'm', 't')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
