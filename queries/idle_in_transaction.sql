-- serves: PostgreSQL 13+
-- The sessions idle in a transaction longest (collector: connection; /connections): what holds
-- locks, a pooled connection and the xmin horizon while doing nothing. At most $1 rows.
--   pid, database, application, "user", client   who
--   state_seconds                                 time idle in the transaction so far
--   transaction_seconds                           age of the transaction
--   query                                         the last statement it ran (first 200 chars)
SELECT pid,
       coalesce(datname::text, '') AS database,
       coalesce(nullif(application_name, ''), '(none)') AS application,
       coalesce(usename::text, '(none)') AS "user",
       coalesce(host(client_addr), 'local') AS client,
       extract(epoch FROM clock_timestamp() - state_change)::float8 AS state_seconds,
       coalesce(extract(epoch FROM clock_timestamp() - xact_start), 0)::float8
           AS transaction_seconds,
       left(query, 200) AS query
FROM pg_stat_activity
WHERE backend_type = 'client backend'
  AND state IN ('idle in transaction', 'idle in transaction (aborted)')
ORDER BY state_change
LIMIT $1
