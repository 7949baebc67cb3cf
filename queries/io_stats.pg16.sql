-- serves: PostgreSQL 16+
-- I/O by backend type and object (collector: checkpoints): pg_stat_io summed over contexts
-- (normal, vacuum, bulkread, bulkwrite). Rows that never did any I/O are left out.
--   reads, writes, extends, hits, evictions, fsyncs   operations (blocks, or WAL writes on 18)
SELECT backend_type::text AS backend_type,
       object::text AS object,
       sum(coalesce(reads, 0))::float8 AS reads,
       sum(coalesce(writes, 0))::float8 AS writes,
       sum(coalesce(extends, 0))::float8 AS extends,
       sum(coalesce(hits, 0))::float8 AS hits,
       sum(coalesce(evictions, 0))::float8 AS evictions,
       sum(coalesce(fsyncs, 0))::float8 AS fsyncs
FROM pg_stat_io
GROUP BY backend_type, object
HAVING sum(coalesce(reads, 0) + coalesce(writes, 0) + coalesce(extends, 0)
           + coalesce(hits, 0) + coalesce(fsyncs, 0)) > 0
ORDER BY backend_type, object
