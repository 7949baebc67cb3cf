-- serves: PostgreSQL 13+
-- Connection probe, run on a fresh connection: what an application feels when it connects.
-- server_version_num picks the SQL variants of every other query for this server.
SELECT current_setting('server_version_num')::int4 AS server_version_num
