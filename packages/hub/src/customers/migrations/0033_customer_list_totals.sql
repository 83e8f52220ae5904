-- The list's default order, (created_at, id), with the customer's totals as further key columns:
-- a filter on them (minOrders, maxOrders, minSpent) is then checked on the index entries, and a
-- page reads from the table only the rows it returns, however far down the order the matches lie.
-- With 1,000,000 rows imported, minSpent=100000 (its customers all older than the newest quarter)
-- read 246,000 rows it did not return: 120 ms a page; 7 ms with the totals in the index.
-- It replaces the index of (created_at, id), which is its prefix.
CREATE INDEX customers_created_totals_idx ON customers (created_at, id, total_spent, order_count) WHERE deleted_at IS NULL;
DROP INDEX customers_created_idx;
