-- serves: PostgreSQL 13
-- Counters of pg_stat_database per connectable database (collector: database). PostgreSQL 13
-- has no session counters: those columns are NULL here. checksum_failures is NULL where data
-- checksums are off.
SELECT d.datname::text AS database,
       s.xact_commit::float8 AS commits,
       s.xact_rollback::float8 AS rollbacks,
       s.deadlocks::float8 AS deadlocks,
       s.temp_files::float8 AS temp_files,
       s.temp_bytes::float8 AS temp_bytes,
       s.conflicts::float8 AS conflicts,
       s.blks_hit::float8 AS blocks_hit,
       s.blks_read::float8 AS blocks_read,
       s.checksum_failures::float8 AS checksum_failures,
       NULL::float8 AS sessions,
       NULL::float8 AS sessions_abandoned,
       NULL::float8 AS sessions_fatal,
       NULL::float8 AS sessions_killed,
       NULL::float8 AS session_ms,
       NULL::float8 AS active_ms,
       NULL::float8 AS idle_in_transaction_ms
FROM pg_stat_database s
JOIN pg_database d ON d.oid = s.datid
WHERE d.datallowconn AND NOT d.datistemplate
ORDER BY 1
