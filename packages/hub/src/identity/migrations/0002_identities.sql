-- How a customer is known: email, phone, or a platform's own customer id.
-- An identity belongs to at most one live customer: rows of deleted customers are removed,
-- and these unique indexes are the guard (the constraint name tells which identifier clashed).
CREATE TABLE identities (
  id                 text PRIMARY KEY,
  customer_id        text NOT NULL REFERENCES customers (id),
  kind               text NOT NULL CHECK (kind IN ('platform', 'email', 'phone')),
  namespace          text NOT NULL DEFAULT '',
  value              text NOT NULL,
  raw_value          text NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  -- the platform's own name for its id field (e.g. medusaCustomerId), shown back to clients
  external_id_field  text
);
CREATE UNIQUE INDEX identities_email_key ON identities (value) WHERE kind = 'email';
CREATE UNIQUE INDEX identities_phone_key ON identities (value) WHERE kind = 'phone';
CREATE UNIQUE INDEX identities_platform_key ON identities (namespace, value) WHERE kind = 'platform';
CREATE INDEX identities_customer_idx ON identities (customer_id);

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
