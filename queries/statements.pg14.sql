-- serves: PostgreSQL 14-16
-- As statements.sql; 14 added toplevel (a statement run at top level and nested in a function
-- are two entries).
-- Columns are read by position, in this order (collectors/statements.rs, `col`).
SELECT s.dbid::int8 AS dbid,
       s.userid::int8 AS userid,
       s.queryid,
       s.toplevel,
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
