-- serves: PostgreSQL 14-17
-- WAL statistics (collector: checkpoints), from pg_stat_wal.
--   records, full_page_images, bytes   WAL generated
--   buffers_full                       WAL written because wal_buffers was full (raise it)
--   writes, syncs, write_ms, sync_ms   WAL writes and fsyncs (times with track_wal_io_timing)
SELECT wal_records::float8 AS records,
       wal_fpi::float8 AS full_page_images,
       wal_bytes::float8 AS bytes,
       wal_buffers_full::float8 AS buffers_full,
       wal_write::float8 AS writes,
       wal_sync::float8 AS syncs,
       wal_write_time::float8 AS write_ms,
       wal_sync_time::float8 AS sync_ms
FROM pg_stat_wal
