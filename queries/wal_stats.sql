-- serves: PostgreSQL 13
-- WAL statistics (collector: checkpoints): pg_stat_wal is 14+; no row on 13.
SELECT NULL::float8 AS records, NULL::float8 AS full_page_images, NULL::float8 AS bytes,
       NULL::float8 AS buffers_full, NULL::float8 AS writes, NULL::float8 AS syncs,
       NULL::float8 AS write_ms, NULL::float8 AS sync_ms
WHERE false
