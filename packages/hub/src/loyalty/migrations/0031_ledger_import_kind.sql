-- A bulk import brings a platform's points balance as one transaction of kind `import` per row
-- (house issuer → the customer's account), posted once by its idempotency key.
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_check
  CHECK (kind IN ('earn', 'spend', 'adjust', 'transfer', 'reversal', 'expiry', 'capture', 'order', 'merge', 'import'));
