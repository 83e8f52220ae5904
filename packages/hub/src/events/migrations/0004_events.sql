-- The outbox. position = (transaction id << 16) | ordinal within the transaction, so the feed,
-- read in position order and only below the oldest running transaction, never skips an event
-- that commits late.
CREATE TABLE events (
  position     bigint PRIMARY KEY,
  id           text NOT NULL UNIQUE,
  type         text NOT NULL,
  customer_id  text,
  payload      jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_customer_idx ON events (customer_id, position);
