-- serves: PostgreSQL 13+
-- Client sessions per database and state (collector: connection). Every (database, state) pair
-- gets a row, zero included, so series do not come and go with the load.
--   database, state            labels (state in snake_case)
--   connections                -> pgvitals_connections
--   longest_transaction_seconds-> pgvitals_transaction_longest_seconds (max over states)
--   longest_in_state_seconds   -> pgvitals_idle_in_transaction_longest_seconds (idle_in_transaction)
WITH states(raw_state, state) AS (
    VALUES ('active', 'active'),
           ('idle', 'idle'),
           ('idle in transaction', 'idle_in_transaction'),
           ('idle in transaction (aborted)', 'idle_in_transaction_aborted'),
           ('fastpath function call', 'fastpath_function_call'),
           ('disabled', 'disabled')
), activity AS (
    SELECT datname, state, xact_start, state_change
    FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND datname IS NOT NULL
)
SELECT d.datname::text AS database,
       s.state,
       count(a.state)::int8 AS connections,
       coalesce(extract(epoch FROM max(clock_timestamp() - a.xact_start)), 0)::float8
           AS longest_transaction_seconds,
       coalesce(extract(epoch FROM max(clock_timestamp() - a.state_change)), 0)::float8
           AS longest_in_state_seconds
FROM pg_database d
CROSS JOIN states s
LEFT JOIN activity a ON a.datname = d.datname AND a.state = s.raw_state
WHERE NOT d.datistemplate
GROUP BY d.datname, s.state
ORDER BY 1, 2
