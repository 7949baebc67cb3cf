-- serves: PostgreSQL 14+
-- When pg_stat_statements was last reset as a whole, and how many entries it has evicted.
--   stats_reset  a change between two polls starts a new baseline for every statement
--   dealloc      -> pgvitals_statements_deallocations_total
SELECT extract(epoch FROM stats_reset)::float8 AS stats_reset, dealloc
FROM @extschema@.pg_stat_statements_info
