-- serves: PostgreSQL 13+
-- Which (table, column) pairs a valid CHECK (column IS NOT NULL) already proves (collector:
-- migrations): with one, a running SET NOT NULL does not scan the table. $1: tables (as
-- identifiers), $2: columns, pairwise. Reads pg_constraint only: no lock on the tables.
--   proven   one row per pair, in order
SELECT EXISTS (
           SELECT 1 FROM pg_constraint k
           WHERE k.conrelid = to_regclass(p.table_name)
             AND k.contype = 'c' AND k.convalidated
             AND pg_get_constraintdef(k.oid) = format('CHECK ((%s IS NOT NULL))', quote_ident(p.column_name))
       ) AS proven
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS p(table_name, column_name, n)
ORDER BY p.n
