-- How far each NATS JetStream stream has been given the outbox's events: one row per stream,
-- made by the first process that publishes to it. position is the last event published (0: none,
-- so a stream first enabled gets every event the outbox keeps, in order).
--
-- One process publishes to a stream at a time: the one holding the row's lease. It is taken or
-- renewed by one guarded statement (free, run out, or already this process's) and the cursor
-- moves only WHERE lease_owner is that process. A process that dies leaves its lease to run out;
-- the next takes over from the committed position and publishes again what came after it, which
-- JetStream drops as duplicates (Nats-Msg-Id = event id, inside the stream's duplicate window).
CREATE TABLE nats_cursors (
  stream       text PRIMARY KEY,
  position     bigint NOT NULL DEFAULT 0,
  lease_owner  text,
  lease_until  timestamptz
);
