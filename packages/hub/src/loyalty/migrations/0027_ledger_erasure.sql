-- An erase (POST /customer/:id/erase) takes a person's data out of the ledger's free-form fields
-- too: the reference, reason, metadata and idempotency key of a points transaction. Transactions
-- stay insert-only for everything else: an update is let through only inside a transaction that
-- declared itself an erase (set_config('hub.erasing', 'on', true)) and only when it changes
-- nothing but the columns the trigger names. Ids, kinds, postings, amounts and times — all that
-- an entry's hash covers — can never change, so `ledger verify` finds every chain whole after an
-- erase. Entries and lot uses hold no free-form text and stay insert-only without exception.
CREATE FUNCTION ledger_refuse_change_but_erasure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND current_setting('hub.erasing', true) = 'on'
     AND (to_jsonb(NEW) - TG_ARGV) = (to_jsonb(OLD) - TG_ARGV) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'rows of % are insert-only: post a reversing transaction instead', TG_TABLE_NAME USING ERRCODE = 'P0001';
END
$$;
DROP TRIGGER ledger_transactions_insert_only ON ledger_transactions;
CREATE TRIGGER ledger_transactions_insert_only BEFORE UPDATE OR DELETE ON ledger_transactions
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change_but_erasure('reference', 'reason', 'metadata', 'idempotency_key');
