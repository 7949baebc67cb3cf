-- serves: PostgreSQL 13+
-- The tables a plan reads ($1 schemas, $2 names, pairwise), for the index advisor and the
-- growth of a regressed statement's tables (collector: plans): estimated rows (reltuples, or
-- the live-row count when that is higher: before the first ANALYZE, or after rows were added
-- since the last), the first column of each valid index, and every column. Looked up by name
-- through pg_class's (relname, relnamespace) index, never a scan of the catalog.
SELECT r.schema,
       r.table_name,
       greatest(c.reltuples::float8, pg_stat_get_live_tuples(c.oid)::float8) AS rows,
       coalesce((SELECT array_agg(DISTINCT a.attname::text)
                 FROM pg_index i
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                 WHERE i.indrelid = c.oid AND i.indisvalid), '{}') AS leading_columns,
       coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum)
                 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}') AS columns
FROM unnest($1::text[], $2::text[]) AS r(schema, table_name)
JOIN pg_namespace n ON n.nspname = r.schema
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = r.table_name
