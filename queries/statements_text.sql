-- serves: PostgreSQL 13+
-- Normalized text of the statements pgvitals has not seen before ($1: their queryids), cut to
-- $2 characters, per entry (an entry whose text has `/* pgvitals */` after its first word is pgvitals' own). Reads pg_stat_statements' text file, so it runs only for new top statements;
-- texts are cached. truncated: the text is longer than what is kept (no plan is captured from a
-- cut text).
SELECT s.dbid::int8 AS dbid, s.userid::int8 AS userid, s.queryid, left(s.query, $2::int4) AS query,
       length(s.query) > $2::int4 AS truncated
FROM @extschema@.pg_stat_statements(true) s
WHERE s.queryid = ANY($1)
