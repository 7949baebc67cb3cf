-- serves: PostgreSQL 13+
-- Sessions of this database that may be running a schema change (collector: migrations): in a
-- transaction whose statement text has a DDL word, or holding/awaiting an ACCESS EXCLUSIVE lock
-- on a user table; plus the sessions in $1 (ones pgvitals is following, to see them end).
-- pgvitals' DDL recogniser decides from `query`; the loose regex here only keeps the row count
-- small.
--   pid, query, state, xact_start, state_change (Unix time), now (server clock)
--   tables             JSON list of {schema, table, bytes, rows} locked in a schema-change mode,
--                      held or awaited; bytes = relpages x block_size and rows = reltuples, as of
--                      the last VACUUM/ANALYZE (no lock taken: the table may be locked)
--   access_exclusive   holds or awaits an ACCESS EXCLUSIVE lock on a user table
--   blocked            sessions waiting on a lock this session holds or is queued ahead for
--   blocked_longest    longest such wait, seconds (NULL: none)
WITH heavy AS (
    SELECT l.pid, l.mode, n.nspname::text AS schema, c.relname::text AS table_name,
           c.relpages::int8 * current_setting('block_size')::int8 AS bytes,
           greatest(c.reltuples, 0)::float8 AS rows
    FROM pg_locks l
    JOIN pg_class c ON c.oid = l.relation
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE l.locktype = 'relation'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.mode IN ('ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock',
                     'ExclusiveLock', 'AccessExclusiveLock')
      AND c.relkind IN ('r', 'p', 'm')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname !~ '^pg_(toast|temp_)'
), candidates AS (
    SELECT a.pid, a.query, a.state, a.xact_start, a.state_change
    FROM pg_stat_activity a
    WHERE a.datname = current_database()
      AND a.backend_type = 'client backend'
      AND a.pid <> pg_backend_pid()
      AND (a.pid = ANY($1::int4[])
           OR (a.xact_start IS NOT NULL
               AND (a.pid IN (SELECT pid FROM heavy WHERE mode = 'AccessExclusiveLock')
                    OR a.query ~* '\m(alter|create|drop|reindex|cluster|vacuum|truncate|refresh|comment)\M')))
), waiting AS (
    SELECT b.pid, b.query_start, pg_blocking_pids(b.pid) AS blockers
    FROM pg_stat_activity b
    WHERE b.wait_event_type = 'Lock' AND b.datname = current_database()
)
SELECT c.pid,
       coalesce(c.query, '') AS query,
       coalesce(c.state, '') AS state,
       extract(epoch FROM c.xact_start)::float8 AS xact_start,
       extract(epoch FROM c.state_change)::float8 AS state_change,
       extract(epoch FROM clock_timestamp())::float8 AS now,
       coalesce((SELECT json_agg(DISTINCT jsonb_build_object('schema', h.schema, 'table', h.table_name,
                                                               'bytes', h.bytes, 'rows', h.rows))
                 FROM heavy h WHERE h.pid = c.pid), '[]')::text AS tables,
       EXISTS (SELECT 1 FROM heavy h WHERE h.pid = c.pid AND h.mode = 'AccessExclusiveLock')
           AS access_exclusive,
       (SELECT count(*) FROM waiting w WHERE c.pid = ANY(w.blockers))::int8 AS blocked,
       (SELECT extract(epoch FROM max(clock_timestamp() - w.query_start))
        FROM waiting w WHERE c.pid = ANY(w.blockers))::float8 AS blocked_longest
FROM candidates c
