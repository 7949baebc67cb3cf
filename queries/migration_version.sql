-- serves: PostgreSQL 13+
-- The current revision in one migration tool's version table (collector: migrations).
-- @table@, @column@ are quoted identifiers from the config; @filter@ and @order@ are empty or
-- `WHERE <quoted column>` / `ORDER BY <quoted column> DESC`: Alembic's alembic_version holds
-- one row, Flyway's flyway_schema_history one per applied migration (latest successful wins).
SELECT @column@::text AS revision FROM @table@ @filter@ @order@ LIMIT 1
