-- serves: PostgreSQL 14+
-- Counters of pg_stat_database per connectable database (collector: database), with the
-- session counters of 14+. checksum_failures is NULL where data checksums are off.
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
       s.sessions::float8 AS sessions,
       s.sessions_abandoned::float8 AS sessions_abandoned,
       s.sessions_fatal::float8 AS sessions_fatal,
       s.sessions_killed::float8 AS sessions_killed,
       s.session_time AS session_ms,
       s.active_time AS active_ms,
       s.idle_in_transaction_time AS idle_in_transaction_ms
FROM pg_stat_database s
JOIN pg_database d ON d.oid = s.datid
WHERE d.datallowconn AND NOT d.datistemplate
ORDER BY 1
