-- serves: PostgreSQL 13+
-- Bytes on disk of each connectable database the role may connect to (collector: database,
-- on its size_interval: pg_database_size stats every file of the database).
SELECT datname::text AS database, pg_database_size(oid)::float8 AS bytes
FROM pg_database
WHERE datallowconn AND NOT datistemplate AND has_database_privilege(oid, 'CONNECT')
ORDER BY 1
