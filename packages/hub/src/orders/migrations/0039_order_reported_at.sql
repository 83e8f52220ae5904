-- When the platform's order was in the state last applied (its own updated time, given with the
-- report): a report of an older state, delivered late, changes nothing.
ALTER TABLE orders ADD COLUMN reported_at timestamptz;
