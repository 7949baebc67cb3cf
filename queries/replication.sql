-- serves: PostgreSQL 13+
-- Replication as this server sees it (collector: replication): on a primary, each standby
-- streaming from it (pg_stat_replication); on a standby, its own receive and replay.
--   role                  standby (a row per standby of this primary) | self (this server is a standby)
--   standby               application_name of the standby (self: this server's cluster_name)
--   write/flush/replay_lag_seconds   as pg_stat_replication measures them (NULL: no recent WAL)
--   *_lag_bytes           WAL the standby has yet to write, flush, replay (self: received, not replayed)
--   replay_lsn_bytes      the standby's replay position, as a byte offset (to time the lag by)
--   current_lsn_bytes     this primary's WAL position (self: the last received)
--   last_replay_seconds   self: Unix time of the last replayed transaction
--   replay_paused         self: pg_wal_replay_pause() in effect
--   receiving             self: the WAL receiver is streaming
SELECT 'standby' AS role,
       coalesce(nullif(r.application_name, ''), r.pid::text) AS standby,
       coalesce(host(r.client_addr), 'local') AS client,
       r.state,
       extract(epoch FROM r.write_lag)::float8 AS write_lag_seconds,
       extract(epoch FROM r.flush_lag)::float8 AS flush_lag_seconds,
       extract(epoch FROM r.replay_lag)::float8 AS replay_lag_seconds,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.sent_lsn)::float8 AS sent_lag_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.write_lsn)::float8 AS write_lag_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.flush_lsn)::float8 AS flush_lag_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::float8 AS replay_lag_bytes,
       pg_wal_lsn_diff(r.replay_lsn, '0/0')::float8 AS replay_lsn_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 AS current_lsn_bytes,
       NULL::float8 AS last_replay_seconds,
       NULL::bool AS replay_paused,
       NULL::bool AS receiving
FROM pg_stat_replication r
WHERE NOT pg_is_in_recovery()
UNION ALL
SELECT 'self', coalesce(nullif(current_setting('cluster_name'), ''), 'self'),
       coalesce((SELECT sender_host FROM pg_stat_wal_receiver), ''),
       coalesce((SELECT status FROM pg_stat_wal_receiver), 'stopped'),
       NULL, NULL,
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8,
       NULL, NULL, NULL,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8,
       pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::float8,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0')::float8,
       extract(epoch FROM pg_last_xact_replay_timestamp())::float8,
       pg_is_wal_replay_paused(),
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')
WHERE pg_is_in_recovery()
