-- serves: PostgreSQL 13+
-- The tables a plan scans sequentially ($1: `schema.table` names), for the index advisor
-- (collector: plans): estimated rows (reltuples, or the live-row count before the first
-- ANALYZE), the first column of each valid index, and every column.
SELECT n.nspname::text AS schema,
       c.relname::text AS table_name,
       greatest(c.reltuples::float8, coalesce(s.n_live_tup, 0)::float8) AS rows,
       coalesce((SELECT array_agg(DISTINCT a.attname::text)
                 FROM pg_index i
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                 WHERE i.indrelid = c.oid AND i.indisvalid), '{}') AS leading_columns,
       coalesce((SELECT array_agg(a.attname::text)
                 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}') AS columns
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE n.nspname || '.' || c.relname = ANY($1::text[])
