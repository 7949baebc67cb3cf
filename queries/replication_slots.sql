-- serves: PostgreSQL 13+
-- Replication slots (collector: replication). A slot keeps every WAL segment from its
-- restart_lsn on, whether anything consumes it or not: an inactive slot fills the disk.
--   retained_bytes    WAL kept for the slot (NULL: the slot has reserved none yet)
--   wal_status        reserved | extended | unreserved | lost
--   safe_wal_size     bytes that can still be written before the slot is lost (NULL: no
--                     max_slot_wal_keep_size)
SELECT s.slot_name::text AS slot,
       s.slot_type::text AS slot_type,
       coalesce(s.database::text, '') AS database,
       s.active,
       pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                            ELSE pg_current_wal_lsn() END,
                       s.restart_lsn)::float8 AS retained_bytes,
       coalesce(s.wal_status, '') AS wal_status,
       s.safe_wal_size::float8 AS safe_wal_size
FROM pg_replication_slots s
ORDER BY s.slot_name
