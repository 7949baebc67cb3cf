-- serves: PostgreSQL 13+
-- Schema findings from the catalogs (collector: indexes): duplicate indexes, foreign keys with no
-- index starting with their columns, tables without a primary key. One row per finding.
--   kind        duplicate_index | unindexed_foreign_key | no_primary_key
--   schema, table_name, index_name (duplicate_index), detail (the index it duplicates, or the
--   constraint and its columns), size_bytes (duplicate_index: relpages x block_size)
WITH idx AS (
    SELECT i.indexrelid, i.indrelid, c.relam, i.indkey::text AS keys, i.indclass::text AS classes,
           i.indcollation::text AS collations, i.indoption::text AS options,
           coalesce(pg_get_expr(i.indexprs, i.indrelid), '') AS exprs,
           coalesce(pg_get_expr(i.indpred, i.indrelid), '') AS pred,
           (i.indisunique OR i.indisprimary) AS is_unique, c.relname AS index_name,
           c.relpages::int8 * current_setting('block_size')::int8 AS size_bytes
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
), duplicates AS (
    -- a is redundant if b has the same definition and b enforces uniqueness while a does not,
    -- or both are alike and b is older.
    SELECT DISTINCT ON (a.indexrelid) a.indexrelid, a.indrelid, a.index_name, a.size_bytes,
           b.index_name AS duplicate_of
    FROM idx a
    JOIN idx b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid
              AND b.relam = a.relam AND b.keys = a.keys AND b.classes = a.classes
              AND b.collations = a.collations AND b.options = a.options
              AND b.exprs = a.exprs AND b.pred = a.pred
    WHERE (b.is_unique AND NOT a.is_unique)
       OR (b.is_unique = a.is_unique AND b.indexrelid < a.indexrelid)
    ORDER BY a.indexrelid, b.is_unique DESC, b.indexrelid
)
SELECT 'duplicate_index' AS kind, n.nspname::text AS schema, t.relname::text AS table_name,
       d.index_name::text AS index_name, d.duplicate_of::text AS detail, d.size_bytes
FROM duplicates d
JOIN pg_class t ON t.oid = d.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
UNION ALL
SELECT 'unindexed_foreign_key', n.nspname::text, t.relname::text, NULL,
       con.conname::text || ' (' ||
         (SELECT string_agg(a.attname::text, ', ' ORDER BY k.ord)
          FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) || ')',
       NULL
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE con.contype = 'f'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (
      SELECT 1 FROM pg_index i
      WHERE i.indrelid = con.conrelid AND i.indisvalid AND i.indpred IS NULL
        AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(con.conkey)] @> con.conkey
        AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(con.conkey)] <@ con.conkey)
UNION ALL
SELECT 'no_primary_key', n.nspname::text, t.relname::text, NULL, NULL, NULL
FROM pg_class t
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE t.relkind IN ('r', 'p') AND NOT t.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = t.oid AND p.contype = 'p')
