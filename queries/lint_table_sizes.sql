-- serves: PostgreSQL 13+
-- Sizes of the tables a migration locks (pgvitals lint-migration --dsn). $1: the table names,
-- quoted as identifiers; one row per name, in order, NULLs for a table the server lacks.
--   bytes   table + indexes + TOAST
--   rows    the planner's estimate (0 when never analyzed)
SELECT pg_total_relation_size(c.oid)::int8 AS bytes,
       greatest(c.reltuples, 0)::float8 AS rows
FROM unnest($1::text[]) WITH ORDINALITY AS t(name, n)
LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)
ORDER BY t.n
