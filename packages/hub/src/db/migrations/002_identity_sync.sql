-- Identity sync, merges, reward accounts and idempotency keys.

-- A merged customer keeps its row (for undo and for answering where it went).
ALTER TABLE customers ADD COLUMN merged_into text REFERENCES customers (id);

-- The platform's own name for its id field (e.g. medusaCustomerId), shown back to clients.
ALTER TABLE identities ADD COLUMN external_id_field text;

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

-- Every merge, with exactly what moved, so that it can be undone.
CREATE TABLE merges (
  id          text PRIMARY KEY,
  target_id   text NOT NULL REFERENCES customers (id),
  source_id   text NOT NULL REFERENCES customers (id),
  reason      text NOT NULL,
  moved       jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  undone_at   timestamptz
);
CREATE INDEX merges_target_idx ON merges (target_id);
CREATE INDEX merges_source_idx ON merges (source_id);

-- Idempotency-Key: the first answer to a (token, key), replayed to retries.
CREATE TABLE idempotency_keys (
  scope         text NOT NULL,
  key           text NOT NULL,
  request_hash  text NOT NULL,
  status_code   integer,
  response      text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  completed_at  timestamptz,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
