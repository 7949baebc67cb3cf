-- serves: PostgreSQL 13-16
-- Checkpoints and the background writer (collector: checkpoints), from pg_stat_bgwriter.
--   checkpoints_timed / _requested   checkpoints by checkpoint_timeout / forced (WAL volume, commands)
--   write_ms, sync_ms                time checkpoints spent writing and syncing files
--   buffers_checkpoint / _clean / _backend   buffers written by checkpoints, the bgwriter, backends
--   maxwritten_clean                 bgwriter rounds stopped at bgwriter_lru_maxpages
--   buffers_alloc                    buffers allocated
SELECT checkpoints_timed::float8 AS checkpoints_timed,
       checkpoints_req::float8 AS checkpoints_requested,
       checkpoint_write_time::float8 AS write_ms,
       checkpoint_sync_time::float8 AS sync_ms,
       buffers_checkpoint::float8 AS buffers_checkpoint,
       buffers_clean::float8 AS buffers_clean,
       maxwritten_clean::float8 AS maxwritten_clean,
       buffers_backend::float8 AS buffers_backend,
       buffers_alloc::float8 AS buffers_alloc
FROM pg_stat_bgwriter
