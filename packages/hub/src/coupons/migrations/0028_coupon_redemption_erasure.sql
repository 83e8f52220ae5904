-- A redemption's order reference and idempotency key are the caller's free text: an erase may
-- take a person's data out of them (see ledger_refuse_change_but_erasure); nothing else of a
-- redemption ever changes.
DROP TRIGGER coupon_redemptions_insert_only ON coupon_redemptions;
CREATE TRIGGER coupon_redemptions_insert_only BEFORE UPDATE OR DELETE ON coupon_redemptions
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change_but_erasure('order_ref', 'idempotency_key');
