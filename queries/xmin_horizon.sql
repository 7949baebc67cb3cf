-- serves: PostgreSQL 13+
-- Everything that holds back the xmin horizon, the oldest transaction ID vacuum must keep
-- rows for (collector: wraparound): a session's open transaction or snapshot, a prepared
-- transaction, a replication slot, a standby's hot_standby_feedback. pgvitals' own sessions
-- (application_name pgvitals) are left out; the 20 oldest are read.
--   kind        session | prepared_transaction | replication_slot | standby
--   holder      pid, gid, slot name or the standby's application_name
--   xid_age     age of the oldest ID it holds (transactions)
--   seconds     how long it has held it where PostgreSQL knows (transaction start, PREPARE
--               time); NULL for slots and standbys (pgvitals times those itself)
--   xmin        the ID, as text (to time slots and standbys by)
SELECT 'session' AS kind, a.pid::text AS holder, a.pid,
       coalesce(a.application_name, '') AS application, coalesce(a.usename::text, '') AS "user",
       coalesce(a.datname::text, '') AS database,
       greatest(age(a.backend_xid), age(a.backend_xmin))::float8 AS xid_age,
       extract(epoch FROM now() - a.xact_start)::float8 AS seconds,
       coalesce(a.backend_xid, a.backend_xmin)::text AS xmin
FROM pg_stat_activity a
WHERE (a.backend_xid IS NOT NULL OR a.backend_xmin IS NOT NULL)
  AND a.pid <> pg_backend_pid() AND coalesce(a.application_name, '') <> 'pgvitals'
  AND a.backend_type = 'client backend'
UNION ALL
SELECT 'prepared_transaction', p.gid, NULL, '', p.owner::text, p.database::text,
       age(p.transaction)::float8, extract(epoch FROM now() - p.prepared)::float8,
       p.transaction::text
FROM pg_prepared_xacts p
UNION ALL
SELECT 'replication_slot', s.slot_name::text, s.active_pid, '', '', coalesce(s.database::text, ''),
       greatest(age(s.xmin), age(s.catalog_xmin))::float8, NULL,
       coalesce(s.xmin, s.catalog_xmin)::text
FROM pg_replication_slots s
WHERE s.xmin IS NOT NULL OR s.catalog_xmin IS NOT NULL
UNION ALL
SELECT 'standby', coalesce(r.application_name, r.pid::text), r.pid,
       coalesce(r.application_name, ''), coalesce(r.usename::text, ''), '',
       age(r.backend_xmin)::float8, NULL, r.backend_xmin::text
FROM pg_stat_replication r
WHERE r.backend_xmin IS NOT NULL
ORDER BY xid_age DESC
LIMIT 20
