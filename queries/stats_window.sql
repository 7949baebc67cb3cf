-- serves: PostgreSQL 13+
-- Since when this database's statistics have been counting (collector: indexes): the last
-- stats reset, or the server start when never reset. An index with no scans in a window
-- shorter than `unused_index_min_age` is not called unused.
SELECT extract(epoch FROM coalesce(stats_reset, pg_postmaster_start_time()))::float8 AS since,
       extract(epoch FROM now())::float8 AS now
FROM pg_stat_database
WHERE datname = current_database()
