-- serves: PostgreSQL 13+
-- What the bloat estimate needs of each B-tree index (collector: bloat): its pages and
-- entries, and the average width and null fraction of each column it stores (a table
-- column's from the table's pg_stats, an expression's from the index's own).
SELECT n.nspname::text AS schema,
       t.relname::text AS table_name,
       ci.relname::text AS index_name,
       ci.relpages::float8 AS pages,
       greatest(ci.reltuples, 0)::float8 AS tuples,
       coalesce(substring(array_to_string(ci.reloptions, ' ') FROM 'fillfactor=([0-9]+)')::float8,
                90) AS fillfactor,
       count(*)::int4 AS columns,
       count(s.attname)::int4 AS with_stats,
       coalesce(bool_or(s.null_frac > 0), false) AS has_nulls,
       coalesce(sum((1 - s.null_frac) * s.avg_width), 0)::float8 AS data_width,
       current_setting('block_size')::float8 AS block_size
FROM pg_index i
JOIN pg_class ci ON ci.oid = i.indexrelid
JOIN pg_am am ON am.oid = ci.relam AND am.amname = 'btree'
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL generate_series(0, i.indnatts - 1) AS k(pos)
LEFT JOIN pg_attribute a
       ON (i.indkey[k.pos] <> 0 AND a.attrelid = t.oid AND a.attnum = i.indkey[k.pos])
       OR (i.indkey[k.pos] = 0 AND a.attrelid = ci.oid AND a.attnum = k.pos + 1)
LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND NOT s.inherited AND s.attname = a.attname
                    AND s.tablename = CASE WHEN i.indkey[k.pos] = 0 THEN ci.relname ELSE t.relname END
WHERE ci.relpages > 1
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
GROUP BY n.nspname, t.relname, ci.relname, ci.relpages, ci.reltuples, ci.reloptions
