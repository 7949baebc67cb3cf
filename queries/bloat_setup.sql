-- serves: PostgreSQL 13+
-- Where the pgstattuple extension is installed (collector: bloat); no row: it is not.
SELECT n.nspname::text AS schema
FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pgstattuple'
