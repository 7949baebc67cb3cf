-- serves: PostgreSQL 13+
-- Per user index: usage and buffer counters since the last stats reset (collector: indexes).
-- pgvitals derives interval deltas and ratios; sizes are relpages x block_size (the size as of
-- the last VACUUM, ANALYZE or CREATE INDEX), which needs neither a lock nor a file stat.
--   index_oid, table_oid, schema, table_name, index_name   identity and labels
--   idx_scan, blks_hit, blks_read      -> interval scans, blocks hit/read, hit ratios
--   size_bytes                         -> pgvitals_index_size_bytes, finding bytes
--   valid, constraint_backed           -> invalid / unused findings
SELECT s.indexrelid::int8 AS index_oid,
       s.relid::int8 AS table_oid,
       s.schemaname::text AS schema,
       s.relname::text AS table_name,
       s.indexrelname::text AS index_name,
       coalesce(s.idx_scan, 0)::int8 AS idx_scan,
       coalesce(io.idx_blks_hit, 0)::int8 AS blks_hit,
       coalesce(io.idx_blks_read, 0)::int8 AS blks_read,
       (c.relpages::int8 * current_setting('block_size')::int8) AS size_bytes,
       i.indisvalid AS valid,
       (i.indisunique OR i.indisprimary OR i.indisexclusion) AS constraint_backed
FROM pg_stat_user_indexes s
JOIN pg_statio_user_indexes io ON io.indexrelid = s.indexrelid
JOIN pg_index i ON i.indexrelid = s.indexrelid
JOIN pg_class c ON c.oid = s.indexrelid
