-- serves: PostgreSQL 13+
-- The head of the texts of the monitoring role's entries not classified yet ($1: the role's
-- oid, $2: their queryids): every SQL text pgvitals sends has the comment `/* pgvitals */` right
-- after its first word (queries.rs, `is_marked`), and pg_stat_statements keeps the text an
-- entry was first seen with (before the statement, comments are kept only up to 17). Reads
-- the text file, so it runs only when the role has entries the collector has not seen before
-- (all of them at the first poll, then only new ones).
SELECT s.dbid::int8 AS dbid,
       s.queryid,
       left(s.query, 2000) AS head
FROM @extschema@.pg_stat_statements(true) s
WHERE s.userid::int8 = $1::int8
  AND s.queryid = ANY($2)
