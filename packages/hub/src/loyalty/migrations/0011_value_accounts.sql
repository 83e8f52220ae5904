-- Value ledgers: a gift card with a balance is an account (role 'coupon') of the value ledger of
-- its currency (`gift-cards-usd`, …), so what it holds moves only by balanced, hash-chained
-- transactions and never below zero, like points.
ALTER TABLE ledgers
  ADD COLUMN kind text NOT NULL DEFAULT 'points' CHECK (kind IN ('points', 'value')),
  ADD COLUMN currency text CHECK (currency ~ '^[A-Z]{3}$'),
  ADD CONSTRAINT ledgers_value_currency CHECK ((kind = 'value') = (currency IS NOT NULL));

ALTER TABLE reward_accounts DROP CONSTRAINT reward_accounts_role_check;
ALTER TABLE reward_accounts ADD CONSTRAINT reward_accounts_role_check
  CHECK (role IN ('customer', 'issuer', 'redemptions', 'expiry', 'adjustments', 'coupon'));
ALTER TABLE reward_accounts ADD COLUMN coupon_id text;
ALTER TABLE reward_accounts DROP CONSTRAINT reward_accounts_owner;
ALTER TABLE reward_accounts ADD CONSTRAINT reward_accounts_owner CHECK (
  (role = 'customer') = (customer_id IS NOT NULL)
  AND (role IN ('customer', 'coupon')) = (lane IS NULL)
  AND (role = 'coupon') = (coupon_id IS NOT NULL));
-- one account per coupon, whichever process opens it first
CREATE UNIQUE INDEX reward_accounts_coupon_key ON reward_accounts (coupon_id) WHERE coupon_id IS NOT NULL;
