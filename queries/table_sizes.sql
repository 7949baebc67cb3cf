-- serves: PostgreSQL 13+
-- Bytes per user table, largest first (collector: table_sizes). $1 = top_n: the largest $1
-- tables get a row each, the rest one row per schema with table_name NULL.
-- A table on which an ACCESS EXCLUSIVE lock is held or awaited (a migration) is not opened:
-- asking for its size would queue behind that lock. Its size is the planner's estimate
-- (relpages x block_size) and it is counted in `estimated`.
--   schema, table_name   labels (table_name NULL = per-schema remainder)
--   tables               -> pgvitals_table_sizes_remainder_tables
--   total_bytes          -> pgvitals_table_total_bytes / _remainder_total_bytes
--   heap_bytes           -> pgvitals_table_heap_bytes (main fork, FSM, VM)
--   index_bytes          -> pgvitals_table_index_bytes
--   toast_bytes          -> pgvitals_table_toast_bytes (TOAST table and its index)
--   rows_estimate        -> pgvitals_table_rows_estimate (NULL: never analyzed)
--   estimated            -> pgvitals_table_sizes_estimated_tables
WITH locked AS (
    SELECT DISTINCT l.relation
    FROM pg_locks l
    WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
), tables AS (
    SELECT c.oid, c.reltoastrelid, n.nspname AS schema, c.relname AS table_name,
           c.relpages, c.reltuples,
           (c.oid IN (SELECT relation FROM locked)
            OR c.reltoastrelid IN (SELECT relation FROM locked)
            OR EXISTS (SELECT 1 FROM pg_index i
                       WHERE i.indrelid = c.oid AND i.indexrelid IN (SELECT relation FROM locked)))
               AS is_locked
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'm')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname !~ '^pg_(toast|temp_)'
), measured AS (
    -- pg_table_size (heap + FSM + VM + TOAST) and pg_indexes_size open each relation once;
    -- pg_total_relation_size on top of them would size every index twice.
    SELECT schema, table_name, is_locked,
           CASE WHEN is_locked THEN relpages::int8 * current_setting('block_size')::int8
                ELSE coalesce(pg_table_size(oid), 0) END AS table_bytes,
           CASE WHEN is_locked THEN 0
                ELSE coalesce(pg_indexes_size(oid), 0) END AS index_bytes,
           CASE WHEN is_locked OR reltoastrelid = 0 THEN 0
                ELSE coalesce(pg_total_relation_size(reltoastrelid), 0) END AS toast_bytes,
           CASE WHEN reltuples < 0 THEN NULL ELSE reltuples END::float8 AS rows_estimate
    FROM tables
), sizes AS (
    SELECT schema, table_name, is_locked, table_bytes + index_bytes AS total_bytes,
           index_bytes, toast_bytes, rows_estimate
    FROM measured
), ranked AS (
    SELECT *, row_number() OVER (ORDER BY total_bytes DESC, schema, table_name) AS rank
    FROM sizes
)
SELECT schema::text AS schema,
       CASE WHEN rank <= $1 THEN table_name::text END AS table_name,
       count(*)::int8 AS tables,
       sum(total_bytes)::int8 AS total_bytes,
       sum(total_bytes - index_bytes - toast_bytes)::int8 AS heap_bytes,
       sum(index_bytes)::int8 AS index_bytes,
       sum(toast_bytes)::int8 AS toast_bytes,
       sum(rows_estimate)::float8 AS rows_estimate,
       count(*) FILTER (WHERE is_locked)::int8 AS estimated
FROM ranked
GROUP BY 1, 2
ORDER BY 4 DESC
