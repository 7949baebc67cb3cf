-- serves: PostgreSQL 13+
-- Constraints the standards judge (collector: standards): foreign keys with no ON DELETE rule
-- of their own (NO ACTION, the default) and constraints added NOT VALID and never validated.
--   schema, table_name, constraint_name, kind ('f' foreign key, 'c' check), validated, on_delete
SELECT n.nspname::text AS schema,
       c.relname::text AS table_name,
       k.conname::text AS constraint_name,
       k.contype::text AS kind,
       k.convalidated AS validated,
       k.confdeltype::text AS on_delete
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (k.contype = 'f' AND k.confdeltype = 'a' OR NOT k.convalidated)
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2, 3
