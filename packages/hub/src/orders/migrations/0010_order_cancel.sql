-- A cancelled order leaves the customer's totals; its row stays as the fact it was.
ALTER TABLE orders ADD COLUMN cancelled_at timestamptz;
