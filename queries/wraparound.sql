-- serves: PostgreSQL 13+
-- Each database's oldest unfrozen transaction ID and multixact ID, as ages (collector:
-- wraparound). Anti-wraparound autovacuum starts at autovacuum_freeze_max_age; at 2^31 the
-- server stops assigning IDs. template0 and other unconnectable databases count too.
--   xid_age, mxid_age           age(datfrozenxid), mxid_age(datminmxid)
--   freeze_max_age, mxid_freeze_max_age   the settings, for the dashboards
--   workers_busy, max_workers   autovacuum workers running now, and the most there can be
SELECT d.datname::text AS database,
       age(d.datfrozenxid)::float8 AS xid_age,
       mxid_age(d.datminmxid)::float8 AS mxid_age,
       current_setting('autovacuum_freeze_max_age')::float8 AS freeze_max_age,
       current_setting('autovacuum_multixact_freeze_max_age')::float8 AS mxid_freeze_max_age,
       (SELECT count(*) FROM pg_stat_activity
         WHERE backend_type = 'autovacuum worker')::float8 AS workers_busy,
       current_setting('autovacuum_max_workers')::float8 AS max_workers
FROM pg_database d
ORDER BY d.datname
