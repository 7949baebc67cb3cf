-- serves: PostgreSQL 13+
-- Measured free and dead space of the given tables by pgstattuple_approx (collector: bloat),
-- where the pgstattuple extension is installed (@extschema@: its schema, filled in by pgvitals):
-- it reads the pages the visibility map does
-- not mark all-visible. $1: schema names, $2: table names (pairwise).
SELECT t.schema, t.table_name,
       (p.approx_free_space + p.dead_tuple_len)::float8 AS wasted_bytes,
       p.table_len::float8 AS table_bytes
FROM unnest($1::text[], $2::text[]) AS t(schema, table_name)
JOIN pg_namespace n ON n.nspname = t.schema
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.table_name
CROSS JOIN LATERAL @extschema@.pgstattuple_approx(c.oid) p
