-- serves: PostgreSQL 18+
-- As statements.pg17.sql; 18 added parallel_workers_to_launch/parallel_workers_launched.
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
       (s.shared_blk_read_time + s.shared_blk_write_time
        + s.local_blk_read_time + s.local_blk_write_time)::float8 AS io_time,
       extract(epoch FROM s.stats_since)::float8 AS stats_since,
       s.parallel_workers_launched
FROM @extschema@.pg_stat_statements(false) s
LEFT JOIN pg_database d ON d.oid = s.dbid
LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE s.queryid IS NOT NULL
