-- serves: PostgreSQL 13+
-- Where pg_stat_statements is installed in this database (collector: statements). schema NULL:
-- the extension is not created here. The schema replaces @extschema@ in the other
-- statements_* SQL.
SELECT current_database()::text AS database,
       (SELECT n.nspname::text
        FROM pg_extension e
        JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_stat_statements') AS schema
