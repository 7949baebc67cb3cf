-- serves: PostgreSQL 13+
-- Who holds the client sessions (collector: connection): sessions per application, user,
-- client address and state, most first; the collector exports the first
-- collectors.connection.top_holders and sums the rest.
--   application, "user", client, state  labels (state in snake_case; client `local` for a
--                                        Unix socket)
--   sessions                            -> pgvitals_connection_holders
SELECT coalesce(nullif(application_name, ''), '(none)') AS application,
       coalesce(usename::text, '(none)') AS "user",
       coalesce(host(client_addr), 'local') AS client,
       replace(replace(coalesce(state, 'unknown'), ' (aborted)', '_aborted'), ' ', '_') AS state,
       count(*)::int8 AS sessions
FROM pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1, 2, 3, 4
ORDER BY sessions DESC, 1, 2, 3, 4
