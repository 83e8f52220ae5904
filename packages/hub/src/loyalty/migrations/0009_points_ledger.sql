-- The points ledger: accounts with balances kept by guarded updates, insert-only transactions and
-- hash-chained entries, lots (expiry, return window) and holds (two-phase).

-- Accounts: a customer's reward account, or a lane of a system account of the ledger (the issuer
-- of a loyalty provider, redemptions, expiry, adjustments). A system account is spread over
-- several rows (lanes) so that postings of different customers do not queue on one row lock.
ALTER TABLE reward_accounts ALTER COLUMN customer_id DROP NOT NULL;
ALTER TABLE reward_accounts
  ADD COLUMN role text NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'issuer', 'redemptions', 'expiry', 'adjustments')),
  ADD COLUMN provider text,
  ADD COLUMN lane integer,
  ADD COLUMN balance bigint NOT NULL DEFAULT 0,
  ADD COLUMN held bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
  ADD COLUMN pending bigint NOT NULL DEFAULT 0 CHECK (pending >= 0),
  ADD COLUMN entry_count bigint NOT NULL DEFAULT 0,
  ADD COLUMN head_hash text NOT NULL DEFAULT '',
  -- the earliest moment a lot of the account expires or leaves its return window, or a hold of it
  -- times out (a lower bound: the next posting or the settle job looks then)
  ADD COLUMN next_due_at timestamptz,
  ADD CONSTRAINT reward_accounts_owner CHECK ((role = 'customer') = (customer_id IS NOT NULL) AND (role = 'customer') = (lane IS NULL)),
  ADD CONSTRAINT reward_accounts_provider CHECK ((role = 'issuer') = (provider IS NOT NULL));
CREATE UNIQUE INDEX reward_accounts_system_lane_key ON reward_accounts (ledger_id, role, coalesce(provider, ''), lane) WHERE role <> 'customer';
CREATE INDEX reward_accounts_due_idx ON reward_accounts (next_due_at) WHERE next_due_at IS NOT NULL;

CREATE TABLE ledger_transactions (
  id               text PRIMARY KEY,
  ledger_id        text NOT NULL REFERENCES ledgers (id),
  kind             text NOT NULL CHECK (kind IN ('earn', 'spend', 'adjust', 'transfer', 'reversal', 'expiry', 'capture', 'order', 'merge')),
  idempotency_key  text NOT NULL,
  -- what the request that made it asked for: a repeat of the key with another request is refused
  fingerprint      text NOT NULL,
  postings         jsonb NOT NULL,
  reference        text,
  reason           text,
  reverses         text REFERENCES ledger_transactions (id),
  hold_id          text,
  order_id         text,
  merge_id         text,
  metadata         jsonb NOT NULL DEFAULT '{}',
  created_at       timestamptz NOT NULL,
  CONSTRAINT ledger_transactions_key UNIQUE (ledger_id, idempotency_key)
);
-- a transaction is reversed at most once, whatever the callers do
CREATE UNIQUE INDEX ledger_transactions_reverses_key ON ledger_transactions (reverses) WHERE reverses IS NOT NULL;
CREATE INDEX ledger_transactions_order_idx ON ledger_transactions (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX ledger_transactions_merge_idx ON ledger_transactions (merge_id) WHERE merge_id IS NOT NULL;

-- One entry per account a transaction moves: its net amount, the balance after it, and a hash over
-- the account's previous entry and this one. (account_id, seq) makes a fork of a chain impossible.
CREATE TABLE ledger_entries (
  account_id      text NOT NULL REFERENCES reward_accounts (id),
  seq             bigint NOT NULL CHECK (seq >= 1),
  transaction_id  text NOT NULL REFERENCES ledger_transactions (id),
  amount          bigint NOT NULL CHECK (amount <> 0),
  balance_after   bigint NOT NULL,
  hash            text NOT NULL,
  created_at      timestamptz NOT NULL,
  PRIMARY KEY (account_id, seq)
);
CREATE INDEX ledger_entries_transaction_idx ON ledger_entries (transaction_id);

-- The hash of an entry; the same function writes the chain and checks it.
CREATE FUNCTION ledger_entry_hash(prev text, transaction_id text, account_id text, seq bigint, amount bigint, balance_after bigint, created_at timestamptz)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(
    prev || '|' || transaction_id || '|' || account_id || '|' || seq::text || '|' || amount::text || '|' || balance_after::text || '|' ||
    floor(extract(epoch FROM created_at) * 1000)::bigint::text, 'UTF8')), 'hex')
$$;

-- Transactions and entries are facts: a mistake is fixed by a reversing transaction.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'rows of % are insert-only: post a reversing transaction instead', TG_TABLE_NAME USING ERRCODE = 'P0001';
END
$$;
CREATE TRIGGER ledger_transactions_insert_only BEFORE UPDATE OR DELETE ON ledger_transactions FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_insert_only BEFORE UPDATE OR DELETE ON ledger_entries FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- Lots: the points of a customer account, by where they came from. For a customer account the
-- remaining points of its lots add up to its balance (when it is not below zero); those of its
-- pending lots to its pending points.
CREATE TABLE ledger_lots (
  id              text PRIMARY KEY,
  account_id      text NOT NULL REFERENCES reward_accounts (id),
  transaction_id  text NOT NULL REFERENCES ledger_transactions (id),
  amount          bigint NOT NULL CHECK (amount > 0),
  remaining       bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
  expires_at      timestamptz,
  pending         boolean NOT NULL DEFAULT false,
  available_at    timestamptz,
  order_id        text,
  created_at      timestamptz NOT NULL,
  CHECK (NOT pending OR available_at IS NOT NULL)
);
CREATE INDEX ledger_lots_open_idx ON ledger_lots (account_id, expires_at) WHERE remaining > 0;
CREATE INDEX ledger_lots_transaction_idx ON ledger_lots (transaction_id);

-- What each debit took from which lot, so that a reversal gives back exactly those points.
CREATE TABLE ledger_lot_uses (
  transaction_id  text NOT NULL REFERENCES ledger_transactions (id),
  lot_id          text NOT NULL REFERENCES ledger_lots (id),
  amount          bigint NOT NULL CHECK (amount > 0),
  PRIMARY KEY (transaction_id, lot_id)
);
CREATE TRIGGER ledger_lot_uses_insert_only BEFORE UPDATE OR DELETE ON ledger_lot_uses FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- Holds: points reserved at a checkout, captured (all or less) or voided once, or expired.
CREATE TABLE ledger_holds (
  id                      text PRIMARY KEY,
  ledger_id               text NOT NULL REFERENCES ledgers (id),
  account_id              text NOT NULL REFERENCES reward_accounts (id),
  amount                  bigint NOT NULL CHECK (amount > 0),
  status                  text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'captured', 'voided', 'expired')),
  captured_amount         bigint CHECK (captured_amount > 0 AND captured_amount <= amount),
  capture_transaction_id  text REFERENCES ledger_transactions (id),
  reference               text,
  idempotency_key         text NOT NULL,
  fingerprint             text NOT NULL,
  expires_at              timestamptz NOT NULL,
  created_at              timestamptz NOT NULL,
  resolved_at             timestamptz,
  CONSTRAINT ledger_holds_key UNIQUE (ledger_id, idempotency_key),
  CHECK ((status = 'pending') = (resolved_at IS NULL)),
  CHECK ((status = 'captured') = (capture_transaction_id IS NOT NULL))
);
CREATE INDEX ledger_holds_open_idx ON ledger_holds (account_id) WHERE status = 'pending';
