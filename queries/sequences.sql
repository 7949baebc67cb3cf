-- serves: PostgreSQL 13+
-- Every sequence of the database with the column it feeds, when the sequence is owned by one
-- (serial, identity, OWNED BY) (collector: sequences). A sequence runs out at its own
-- max_value or at the largest value its column's type holds, whichever comes first: a bigint
-- sequence feeding an integer column fails at 2^31 - 1.
--   last_value       NULL: never used, or the role may not read it (readable says which)
--   column_max/min   the range of the column's type (NULL: not an integer column)
SELECT s.schemaname::text AS schema,
       s.sequencename::text AS sequence,
       s.data_type::text AS sequence_type,
       s.last_value::float8 AS last_value,
       s.min_value::float8 AS min_value,
       s.max_value::float8 AS max_value,
       s.increment_by::float8 AS increment,
       s.cycle,
       has_sequence_privilege(c.oid, 'SELECT,USAGE') AS readable,
       tn.nspname::text AS table_schema,
       t.relname::text AS table_name,
       a.attname::text AS column_name,
       format_type(a.atttypid, a.atttypmod) AS column_type,
       CASE a.atttypid WHEN 'int2'::regtype THEN 32767::float8
                       WHEN 'int4'::regtype THEN 2147483647::float8
                       WHEN 'int8'::regtype THEN 9223372036854775807::float8 END AS column_max,
       CASE a.atttypid WHEN 'int2'::regtype THEN -32768::float8
                       WHEN 'int4'::regtype THEN -2147483648::float8
                       WHEN 'int8'::regtype THEN -9223372036854775808::float8 END AS column_min
FROM pg_sequences s
JOIN pg_namespace n ON n.nspname = s.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
                     AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
                     AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class t ON t.oid = d.refobjid
LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
