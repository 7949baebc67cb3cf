-- serves: PostgreSQL 13+
-- Which entries of the monitoring role are pgvitals' own ($1: the role's oid, $2: queryids of
-- its entries not classified yet): every SQL text pgvitals sends starts with the comment
-- `/* pgvitals */`, and pg_stat_statements keeps the text an entry was first seen with. Reads
-- the text file, so it runs only when the role has entries the collector has not seen before
-- (all of them at the first poll, then only new ones).
SELECT s.dbid::int8 AS dbid,
       s.queryid,
       bool_or(left(s.query, 14) = '/* pgvitals */') AS own
FROM @extschema@.pg_stat_statements(true) s
WHERE s.userid::int8 = $1::int8
  AND s.queryid = ANY($2)
GROUP BY s.dbid, s.queryid
