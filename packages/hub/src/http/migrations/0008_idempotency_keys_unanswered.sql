-- Claims of the hub before a key's answer was kept in its request's own transaction, left
-- without an answer: none can be completed now.
DELETE FROM idempotency_keys WHERE completed_at IS NULL;
