-- serves: PostgreSQL 13+
-- Databases polled when a target says `databases: auto`: every database that accepts
-- connections, templates excepted.
SELECT datname::text AS database
FROM pg_database
WHERE datallowconn AND NOT datistemplate
ORDER BY datname
