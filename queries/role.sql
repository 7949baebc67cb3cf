-- serves: PostgreSQL 13+
-- The monitoring role, read once when a target first comes up (after the probe is timed): a
-- superuser, or the owner of tables in the DSN's database, is usually the application's role
-- too, and pgvitals says so in its log.
SELECT r.rolname::text AS role,
       r.rolsuper AS superuser,
       (SELECT count(*)
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relowner = r.oid
          AND c.relkind IN ('r', 'p')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\_toast%')::int8 AS owned_tables
FROM pg_roles r
WHERE r.rolname = current_user
