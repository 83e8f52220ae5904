-- Wakes the readers of the feed that wait (GET /events?wait=): every transaction that writes
-- events sends one notification on the channel hub_events (PostgreSQL folds the notifications of
-- a transaction into one and delivers it when the transaction commits, never when it rolls back).
-- The payload is the schema, so hubs sharing a database in several schemas wake only their own.
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('hub_events', current_schema());
  RETURN NULL;
END
$$;

CREATE TRIGGER events_notify AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION events_notify();
