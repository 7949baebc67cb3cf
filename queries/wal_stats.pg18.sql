-- serves: PostgreSQL 18+
-- WAL statistics (collector: checkpoints). 18 moved WAL writes and syncs to pg_stat_io
-- (object wal): NULL here, pgvitals_io_operations_total has them.
--   as wal_stats.pg14.sql
SELECT wal_records::float8 AS records,
       wal_fpi::float8 AS full_page_images,
       wal_bytes::float8 AS bytes,
       wal_buffers_full::float8 AS buffers_full,
       NULL::float8 AS writes,
       NULL::float8 AS syncs,
       NULL::float8 AS write_ms,
       NULL::float8 AS sync_ms
FROM pg_stat_wal
