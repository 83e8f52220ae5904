-- What each subscription is sent: one row per subscription and event, made by the fan-out from
-- the events table (the outbox) and claimed by the delivery workers of every hub process.
--
-- order_key holds a subscription's deliveries in sequence: the customer the event concerns (an
-- event about no customer has its own id, and waits for nothing). Only the oldest pending delivery
-- of a (webhook, order_key) may be claimed; the next waits until it succeeded or failed for good.
--
-- A claim sets lease_owner and lease_until (a guarded update under FOR UPDATE SKIP LOCKED); the
-- outcome is written only by the lease's owner. A process that dies mid-delivery loses nothing:
-- its lease runs out and any process claims the delivery again (at least once: receivers
-- de-duplicate by webhook-id, the event id).
CREATE TABLE webhook_deliveries (
  webhook_id       text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event_id         text NOT NULL,
  event_position   bigint NOT NULL,
  order_key        text NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  lease_owner      text,
  lease_until      timestamptz,
  last_status      integer,
  last_error       text,
  last_attempt_at  timestamptz,
  completed_at     timestamptz,
  replays          integer NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (webhook_id, event_id)
);
-- the claim: due pending deliveries, and whether an older one of the same key is still pending
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at, event_position) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_key_idx ON webhook_deliveries (webhook_id, order_key, event_position) WHERE status = 'pending';
-- the deliveries in flight (leased) per subscription, for its cap
CREATE INDEX webhook_deliveries_leased_idx ON webhook_deliveries (webhook_id) WHERE status = 'pending' AND lease_until IS NOT NULL;
-- the removal of deliveries past webhooks.retention_days
CREATE INDEX webhook_deliveries_completed_idx ON webhook_deliveries (completed_at) WHERE status <> 'pending';
-- GET /webhooks/:id/deliveries and replay, newest first
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (webhook_id, event_position DESC);

-- How far the fan-out has read the outbox: one row. A process fans out while it holds the row's
-- lock (FOR UPDATE SKIP LOCKED: the others skip, they do not wait). Starts at the newest event
-- already written: a subscription only ever gets events written after it was made.
CREATE TABLE webhook_fanout (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  position   bigint NOT NULL
);
INSERT INTO webhook_fanout (position) SELECT coalesce(max(position), 0) FROM events;

-- A subscription failing since: set at its first failed attempt after a success, cleared by a
-- success. Failing for longer than webhooks.disable_after disables it (webhook.disabled).
ALTER TABLE webhooks ADD COLUMN failing_since timestamptz;
ALTER TABLE webhooks ADD COLUMN disabled_reason text;
