-- minSpent in the default order (newest first): the customers who spent most are often the
-- oldest, so reading the default order's index up to the first match can mean reading most of it
-- (at 1,000,000 rows, minSpent=100000 read 246,000 entries: 10-14 ms a page). This index orders
-- the customers by creation within bands of total_spent of one decimal length (0-9, 10-99, ...):
-- the list reads each band at or above minSpent's own in creation order, a page's worth at most,
-- and merges them (customer-list.ts).
CREATE INDEX customers_spent_band_idx ON customers ((length(total_spent::text)), created_at, id) WHERE deleted_at IS NULL;
