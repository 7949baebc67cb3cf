-- serves: PostgreSQL 13+
-- Where pg_stat_statements is installed in this database (collector: statements). schema NULL:
-- the extension is not created here. The schema replaces @extschema@ in the other
-- statements_* SQL. role_oid: the monitoring role, whose entries may be pgvitals' own.
SELECT current_database()::text AS database,
       (SELECT oid::int8 FROM pg_roles WHERE rolname = current_user) AS role_oid,
       (SELECT n.nspname::text
        FROM pg_extension e
        JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_stat_statements') AS schema
