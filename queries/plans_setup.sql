-- serves: PostgreSQL 13+
-- What plan capture can use in this database (collector: plans), read every poll:
--   database        the database polled (statements are matched to it by name)
--   helper          pgvitals.explain_generic(text) exists and the role may run it
--                   (queries/explain_helper.sql: lets a role without SELECT on the tables EXPLAIN)
--   hypopg_schema   where the hypopg extension is installed; NULL when it is not
SELECT current_database()::text AS database,
       coalesce(to_regprocedure('pgvitals.explain_generic(text)') IS NOT NULL
                AND has_schema_privilege(to_regnamespace('pgvitals')::oid, 'USAGE')
                AND has_function_privilege(to_regprocedure('pgvitals.explain_generic(text)'), 'EXECUTE'),
                false) AS helper,
       (SELECT n.nspname::text
        FROM pg_extension e
        JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'hypopg') AS hypopg_schema
