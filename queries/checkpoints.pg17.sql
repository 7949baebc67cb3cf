-- serves: PostgreSQL 17+
-- Checkpoints and the background writer (collector: checkpoints). 17 moved the checkpoint
-- counters to pg_stat_checkpointer and backends' writes to pg_stat_io (buffers_backend: NULL
-- here, pgvitals_io_operations_total has them).
--   as checkpoints.sql
SELECT c.num_timed::float8 AS checkpoints_timed,
       c.num_requested::float8 AS checkpoints_requested,
       c.write_time::float8 AS write_ms,
       c.sync_time::float8 AS sync_ms,
       c.buffers_written::float8 AS buffers_checkpoint,
       b.buffers_clean::float8 AS buffers_clean,
       b.maxwritten_clean::float8 AS maxwritten_clean,
       NULL::float8 AS buffers_backend,
       b.buffers_alloc::float8 AS buffers_alloc
FROM pg_stat_checkpointer c, pg_stat_bgwriter b
