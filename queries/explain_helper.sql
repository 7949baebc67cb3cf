-- serves: PostgreSQL 13+
-- Not run by pgvitals: install it yourself, as a role that can read the tables (their owner),
-- in each database whose statements pgvitals should explain, for a monitoring role that has
-- only pg_monitor:
--   psql -d app -v monitor=pgvitals_monitor -f queries/explain_helper.sql
-- What it grants: the monitoring role can ask the planner for the generic plan of one
-- SELECT/INSERT/UPDATE/DELETE/MERGE/VALUES/WITH statement at a time, as this function's owner.
-- It never runs the statement (no ANALYZE), refuses text with a semicolon (one statement only)
-- and utility statements, and returns only the plan (table and index names, estimates; never
-- rows). The same approach as pganalyze's helper.
CREATE SCHEMA IF NOT EXISTS pgvitals;

CREATE OR REPLACE FUNCTION pgvitals.explain_generic(query text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET statement_timeout = '5s' AS $$
DECLARE
    plan text;
    params int;
    args text := '';
BEGIN
    IF position(';' IN query) > 0 THEN
        RAISE EXCEPTION 'pgvitals.explain_generic: one statement only (no semicolon)';
    END IF;
    IF query !~* '^\s*(select|with|insert|update|delete|merge|values|table)\M' THEN
        RAISE EXCEPTION 'pgvitals.explain_generic: only SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES or WITH';
    END IF;
    IF current_setting('server_version_num')::int >= 160000 THEN
        EXECUTE 'EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON) ' || query INTO plan;
        RETURN plan;
    END IF;
    SELECT coalesce(max(m[1]::int), 0) INTO params FROM regexp_matches(query, '\$(\d+)', 'g') m;
    IF params > 0 THEN
        args := '(' || array_to_string(array_fill('NULL'::text, ARRAY[params]), ', ') || ')';
    END IF;
    EXECUTE 'PREPARE pgvitals_explain_generic AS ' || query;
    BEGIN
        SET LOCAL plan_cache_mode = force_generic_plan;
        EXECUTE 'EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE pgvitals_explain_generic' || args INTO plan;
    EXCEPTION WHEN OTHERS THEN
        DEALLOCATE pgvitals_explain_generic;
        RAISE;
    END;
    DEALLOCATE pgvitals_explain_generic;
    RETURN plan;
END
$$;

REVOKE ALL ON FUNCTION pgvitals.explain_generic(text) FROM PUBLIC;
GRANT USAGE ON SCHEMA pgvitals TO :"monitor";
GRANT EXECUTE ON FUNCTION pgvitals.explain_generic(text) TO :"monitor";
