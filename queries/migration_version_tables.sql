-- serves: PostgreSQL 13+
-- Which of the configured version tables ($1: names as written in the config, optionally
-- schema-qualified) exist in this database, and the server clock (collector: migrations).
-- Checked first so a missing table never puts an error in the server log every poll.
--   now        server time, Unix seconds
--   existing   the configured names that resolve to a relation
SELECT extract(epoch FROM clock_timestamp())::float8 AS now,
       coalesce(array_agg(t) FILTER (WHERE to_regclass(t) IS NOT NULL), '{}')::text[] AS existing
FROM unnest($1::text[]) AS t
