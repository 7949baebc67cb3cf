-- serves: PostgreSQL 13+
-- Every column of every user table (collector: standards): what the schema conventions are
-- checked against. Catalogs only, no table is opened.
--   schema, table_name, column_name     the column
--   type_name      the type's name (int4, varchar, timestamp, json, …)
--   typmod         its modifier (-1: none, e.g. varchar without a length, numeric without
--                  precision)
--   not_null, has_default, identity     its constraints
--   is_sole_pk     the table's primary key is this column alone
--   table_has_pk   the table has a primary key
--   reserved       the column name is a reserved SQL keyword
--   table_reserved the table name is one
WITH reserved AS (
    SELECT word FROM pg_get_keywords() WHERE catcode = 'R'
), pks AS (
    SELECT conrelid, conkey FROM pg_constraint WHERE contype = 'p'
)
SELECT n.nspname::text AS schema,
       c.relname::text AS table_name,
       a.attname::text AS column_name,
       t.typname::text AS type_name,
       a.atttypmod AS typmod,
       a.attnotnull AS not_null,
       a.atthasdef AS has_default,
       (a.attidentity <> '') AS identity,
       coalesce((SELECT p.conkey = ARRAY[a.attnum] FROM pks p WHERE p.conrelid = c.oid), false)
           AS is_sole_pk,
       EXISTS (SELECT 1 FROM pks p WHERE p.conrelid = c.oid) AS table_has_pk,
       a.attname IN (SELECT word FROM reserved) AS reserved,
       c.relname IN (SELECT word FROM reserved) AS table_reserved
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
WHERE c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2, a.attnum
