-- A migration as `alembic upgrade --sql` prints it, with every unsafe shape beside its safe twin.
BEGIN;

CREATE TABLE alembic_version (version_num varchar(32) NOT NULL);

-- New table: its index needs no CONCURRENTLY.
CREATE TABLE invoices (id bigserial PRIMARY KEY, customer_id bigint, total numeric(12, 2));
CREATE INDEX invoices_customer_id_idx ON invoices (customer_id);

-- Existing table: unsafe, then its safe twin below (outside the transaction).
CREATE INDEX orders_created_at_idx ON orders (created_at);

ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0);
ALTER TABLE orders ADD CONSTRAINT orders_total_positive_nv CHECK (total > 0) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive_nv;

ALTER TABLE orders
    ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);

ALTER TABLE orders ALTER COLUMN total TYPE numeric(14, 2);
ALTER TABLE orders ADD COLUMN public_id uuid DEFAULT gen_random_uuid();
ALTER TABLE orders ADD COLUMN is_paid boolean NOT NULL DEFAULT false;

/* A function whose body mentions DDL: not a schema change of its own. */
CREATE FUNCTION note_change() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    EXECUTE 'CREATE INDEX never_run ON orders (id)';
    RETURN NEW;
END;
$body$;

UPDATE alembic_version SET version_num = 'a1b2c3' WHERE version_num = '9f8e7d';
COMMIT;

CREATE INDEX CONCURRENTLY orders_created_at_idx2 ON orders (created_at);

BEGIN;
ALTER TABLE orders ADD CONSTRAINT orders_note_nn CHECK (note IS NOT NULL) NOT VALID;
COMMIT;
BEGIN;
ALTER TABLE orders VALIDATE CONSTRAINT orders_note_nn;
ALTER TABLE orders ALTER COLUMN note SET NOT NULL;
ALTER TABLE orders ALTER COLUMN status SET NOT NULL;
COMMIT;

BEGIN;
CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);
COMMIT;

SELECT 'VACUUM FULL orders; ALTER TABLE orders ALTER COLUMN x TYPE int';
VACUUM (ANALYZE) orders;
VACUUM FULL orders;
