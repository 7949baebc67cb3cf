-- serves: PostgreSQL 13
-- PostgreSQL 13 has no pg_stat_statements_info: no reset time, no deallocation count.
SELECT NULL::float8 AS stats_reset, NULL::int8 AS dealloc
