-- serves: PostgreSQL 13
-- Cumulative counters of every statement, without the query text (pg_stat_statements(false)
-- does not read the text file, which is what makes peers' polls slow). pgvitals derives the
-- interval deltas. pgvitals' own entries are told apart in the collector (statements_own.sql).
--   dbid, userid, queryid, toplevel   identity of an entry (13 has no toplevel: all true)
--   database, user                    labels (the oid when the database/role is gone)
--   calls, total_exec_time (ms), stddev_exec_time (ms, population), rows,
--   shared_blks_hit, shared_blks_read, io_time (ms: blk_read_time + blk_write_time)
--   stats_since (13-16: NULL), parallel_workers_launched (before 18: NULL)
-- Columns are read by position, in this order (collectors/statements.rs, `col`).
SELECT s.dbid::int8 AS dbid,
       s.userid::int8 AS userid,
       s.queryid,
       true AS toplevel,
       coalesce(d.datname::text, s.dbid::text) AS database,
       coalesce(r.rolname::text, s.userid::text) AS "user",
       s.calls,
       s.total_exec_time,
       s.stddev_exec_time,
       s.rows,
       s.shared_blks_hit,
       s.shared_blks_read,
       (s.blk_read_time + s.blk_write_time)::float8 AS io_time,
       NULL::float8 AS stats_since,
       NULL::int8 AS parallel_workers_launched
FROM @extschema@.pg_stat_statements(false) s
LEFT JOIN pg_database d ON d.oid = s.dbid
LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE s.queryid IS NOT NULL
