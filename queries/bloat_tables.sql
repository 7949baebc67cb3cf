-- serves: PostgreSQL 13+
-- What the bloat estimate needs of each user table (collector: bloat): its pages and rows as
-- of the last VACUUM or ANALYZE, and its columns' average width and null fraction from
-- pg_stats. pg_stats shows a column only to a role that may read it: a table with columns
-- missing there cannot be estimated (with_stats < columns).
SELECT n.nspname::text AS schema,
       c.relname::text AS table_name,
       c.relpages::float8 AS pages,
       greatest(c.reltuples, 0)::float8 AS tuples,
       coalesce(substring(array_to_string(c.reloptions, ' ') FROM 'fillfactor=([0-9]+)')::float8,
                100) AS fillfactor,
       count(*)::int4 AS columns,
       count(s.attname)::int4 AS with_stats,
       coalesce(bool_or(s.null_frac > 0), false) AS has_nulls,
       coalesce(sum((1 - s.null_frac) * s.avg_width), 0)::float8 AS data_width,
       current_setting('block_size')::float8 AS block_size
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname
                    AND s.attname = a.attname AND NOT s.inherited
WHERE c.relkind IN ('r', 'm')
  AND c.relpages > 0
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
GROUP BY n.nspname, c.relname, c.relpages, c.reltuples, c.reloptions
