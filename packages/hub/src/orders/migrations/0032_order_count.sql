-- An order row may stand for several orders: a bulk import brings a platform's order history as
-- one summary row per customer (its count and total). A customer's order_count is the sum of
-- order_count over its orders that are not cancelled; every order reported one by one counts 1.
ALTER TABLE orders ADD COLUMN order_count integer NOT NULL DEFAULT 1 CHECK (order_count >= 0);
