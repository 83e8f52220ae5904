-- Points ledgers; `reward-points` always exists, others come from the configuration.
CREATE TABLE ledgers (
  id              text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
  name            text NOT NULL,
  allow_negative  boolean NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ledgers (id, name) VALUES ('reward-points', 'Reward points');

-- One customer's account in one ledger; the unique constraint makes "ensure" race-free.
CREATE TABLE reward_accounts (
  id           text PRIMARY KEY,
  ledger_id    text NOT NULL REFERENCES ledgers (id),
  customer_id  text NOT NULL REFERENCES customers (id),
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT reward_accounts_ledger_customer_key UNIQUE (ledger_id, customer_id)
);
CREATE INDEX reward_accounts_customer_idx ON reward_accounts (customer_id);
