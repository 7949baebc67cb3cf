-- serves: PostgreSQL 13-15
-- I/O by backend type and object (collector: checkpoints): pg_stat_io is 16+; no row before.
SELECT NULL::text AS backend_type, NULL::text AS object, NULL::float8 AS reads,
       NULL::float8 AS writes, NULL::float8 AS extends, NULL::float8 AS hits,
       NULL::float8 AS evictions, NULL::float8 AS fsyncs
WHERE false
