-- serves: PostgreSQL 13+
-- Per user table: where it stands against its own autovacuum thresholds, as autovacuum
-- computes them (collector: vacuum). A table's reloptions override the server's settings;
-- reltuples is -1 for a table never vacuumed or analyzed on 14+ (autovacuum counts it as 0).
--   dead, vacuum_threshold            n_dead_tup vs threshold + scale_factor × reltuples
--   inserted, insert_threshold        n_ins_since_vacuum vs the insert threshold (NULL: off)
--   autovacuum_enabled                false when the table's reloptions or the server turn it off
--   xid_age, freeze_max_age           age(relfrozenxid), of the table or its TOAST table if older,
--                                     vs the age at which autovacuum must freeze it
--   last_vacuum                       Unix time of the latest manual or automatic vacuum
SELECT n.nspname::text AS schema,
       c.relname::text AS table_name,
       greatest(c.reltuples, 0)::float8 AS reltuples,
       pg_stat_get_live_tuples(c.oid)::float8 AS live,
       pg_stat_get_dead_tuples(c.oid)::float8 AS dead,
       pg_stat_get_ins_since_vacuum(c.oid)::float8 AS inserted,
       coalesce(o.vacuum_threshold, current_setting('autovacuum_vacuum_threshold')::float8)
         + coalesce(o.vacuum_scale_factor, current_setting('autovacuum_vacuum_scale_factor')::float8)
           * greatest(c.reltuples, 0) AS vacuum_threshold,
       CASE WHEN coalesce(o.insert_threshold,
                          current_setting('autovacuum_vacuum_insert_threshold')::float8) < 0
            THEN NULL
            ELSE coalesce(o.insert_threshold,
                          current_setting('autovacuum_vacuum_insert_threshold')::float8)
                 + coalesce(o.insert_scale_factor,
                            current_setting('autovacuum_vacuum_insert_scale_factor')::float8)
                   * greatest(c.reltuples, 0)
       END AS insert_threshold,
       coalesce(o.enabled, true) AND current_setting('autovacuum')::bool AS autovacuum_enabled,
       greatest(age(c.relfrozenxid), age(t.relfrozenxid))::float8 AS xid_age,
       coalesce(o.freeze_max_age, current_setting('autovacuum_freeze_max_age')::float8)
         AS freeze_max_age,
       extract(epoch FROM greatest(pg_stat_get_last_vacuum_time(c.oid),
                                   pg_stat_get_last_autovacuum_time(c.oid)))::float8 AS last_vacuum
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
LEFT JOIN LATERAL (
    SELECT bool_or(option_value::bool) FILTER (WHERE option_name = 'autovacuum_enabled') AS enabled,
           max(option_value::float8) FILTER (WHERE option_name = 'autovacuum_vacuum_threshold') AS vacuum_threshold,
           max(option_value::float8) FILTER (WHERE option_name = 'autovacuum_vacuum_scale_factor') AS vacuum_scale_factor,
           max(option_value::float8) FILTER (WHERE option_name = 'autovacuum_vacuum_insert_threshold') AS insert_threshold,
           max(option_value::float8) FILTER (WHERE option_name = 'autovacuum_vacuum_insert_scale_factor') AS insert_scale_factor,
           max(option_value::float8) FILTER (WHERE option_name = 'autovacuum_freeze_max_age') AS freeze_max_age
    FROM pg_options_to_table(c.reloptions)
) o ON c.reloptions IS NOT NULL
WHERE c.relkind IN ('r', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
