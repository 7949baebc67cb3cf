-- serves: PostgreSQL 13+
-- Progress of index builds, VACUUM and CLUSTER / VACUUM FULL in this database (collector:
-- migrations), from the pg_stat_progress_* views. One row per running command.
--   command            create_index | vacuum | cluster
--   schema, table_name, phase
--   blocks_done/total, tuples_done/total   NULL where the view has no such counter
SELECT 'create_index' AS command, p.pid, n.nspname::text AS schema, c.relname::text AS table_name,
       p.phase::text AS phase, p.blocks_done::int8 AS blocks_done, p.blocks_total::int8 AS blocks_total,
       p.tuples_done::int8 AS tuples_done, p.tuples_total::int8 AS tuples_total
FROM pg_stat_progress_create_index p
JOIN pg_class c ON c.oid = p.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE p.datname = current_database()
UNION ALL
SELECT 'vacuum', p.pid, n.nspname::text, c.relname::text, p.phase::text,
       p.heap_blks_scanned::int8, p.heap_blks_total::int8, NULL::int8, NULL::int8
FROM pg_stat_progress_vacuum p
JOIN pg_class c ON c.oid = p.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE p.datname = current_database()
UNION ALL
SELECT 'cluster', p.pid, n.nspname::text, c.relname::text, p.phase::text,
       p.heap_blks_scanned::int8, p.heap_blks_total::int8, p.heap_tuples_scanned::int8, NULL::int8
FROM pg_stat_progress_cluster p
JOIN pg_class c ON c.oid = p.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE p.datname = current_database()
