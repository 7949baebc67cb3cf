-- serves: PostgreSQL 13+
-- Server identity and connection limits (collector: connection).
--   server_version        -> pgvitals_server_info{version, version_num}
--   max_connections       -> pgvitals_connections_max
--   reserved_connections  -> pgvitals_connections_reserved (superuser_reserved_connections)
--   start_time_seconds    -> pgvitals_postmaster_start_time_seconds
--   in_recovery           -> pgvitals_in_recovery
SELECT current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int4 AS server_version_num,
       current_setting('max_connections')::int8 AS max_connections,
       current_setting('superuser_reserved_connections')::int8 AS reserved_connections,
       extract(epoch FROM pg_postmaster_start_time())::float8 AS start_time_seconds,
       pg_is_in_recovery() AS in_recovery
