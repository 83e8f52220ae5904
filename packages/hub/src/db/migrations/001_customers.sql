-- Customers, their identities, addresses, orders and the event outbox.
-- Runs unchanged on PostgreSQL 15+ and on PGlite.

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE TABLE customers (
  id              text PRIMARY KEY,
  email           text,
  first_name      text,
  last_name       text,
  phone           text,
  password_hash   text,
  groups          text[] NOT NULL DEFAULT '{}',
  metadata        jsonb NOT NULL DEFAULT '{}',
  order_count     integer NOT NULL DEFAULT 0 CHECK (order_count >= 0),
  total_spent     bigint NOT NULL DEFAULT 0 CHECK (total_spent >= 0),
  currency        text,
  has_account     boolean NOT NULL DEFAULT false,
  email_verified  boolean NOT NULL DEFAULT false,
  -- kept by the guarded update that adds an address: the guard of max_addresses
  address_count   integer NOT NULL DEFAULT 0 CHECK (address_count >= 0),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  deleted_at      timestamptz,
  search          text GENERATED ALWAYS AS (
                    lower(coalesce(email, '') || ' ' || coalesce(first_name, '') || ' ' ||
                          coalesce(last_name, '') || ' ' || coalesce(phone, ''))) STORED
);

-- Every list sort has an index over live customers that ends in id, the tie-break.
CREATE INDEX customers_created_idx ON customers (created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_spent_idx ON customers (total_spent, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_orders_idx ON customers (order_count, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_last_name_idx ON customers ((lower(coalesce(last_name, '')) COLLATE "C"), id) WHERE deleted_at IS NULL;
CREATE INDEX customers_groups_idx ON customers USING gin (groups) WHERE deleted_at IS NULL;
CREATE INDEX customers_search_idx ON customers USING gin (search public.gin_trgm_ops) WHERE deleted_at IS NULL;
CREATE INDEX customers_email_idx ON customers (email) WHERE deleted_at IS NULL;

-- How a customer is known: email, phone, or a platform's own customer id.
-- An identity belongs to at most one live customer: rows of deleted customers are removed,
-- and these unique indexes are the guard (the constraint name tells which identifier clashed).
CREATE TABLE identities (
  id           text PRIMARY KEY,
  customer_id  text NOT NULL REFERENCES customers (id),
  kind         text NOT NULL CHECK (kind IN ('platform', 'email', 'phone')),
  namespace    text NOT NULL DEFAULT '',
  value        text NOT NULL,
  raw_value    text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX identities_email_key ON identities (value) WHERE kind = 'email';
CREATE UNIQUE INDEX identities_phone_key ON identities (value) WHERE kind = 'phone';
CREATE UNIQUE INDEX identities_platform_key ON identities (namespace, value) WHERE kind = 'platform';
CREATE INDEX identities_customer_idx ON identities (customer_id);

CREATE TABLE addresses (
  id           text PRIMARY KEY,
  customer_id  text NOT NULL REFERENCES customers (id),
  label        text,
  first_name   text,
  last_name    text,
  line1        text NOT NULL,
  line2        text,
  city         text NOT NULL,
  state        text,
  postal_code  text,
  country      text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
  phone        text,
  is_default   boolean NOT NULL DEFAULT false,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
-- At most one default address per customer.
CREATE UNIQUE INDEX addresses_one_default_key ON addresses (customer_id) WHERE is_default;
CREATE INDEX addresses_customer_idx ON addresses (customer_id, created_at, id);

-- Orders are facts reported by platforms; (platform, external_id) makes a report idempotent.
CREATE TABLE orders (
  id           text PRIMARY KEY,
  platform     text NOT NULL,
  external_id  text NOT NULL,
  customer_id  text NOT NULL REFERENCES customers (id),
  total        bigint NOT NULL CHECK (total >= 0),
  currency     text NOT NULL,
  placed_at    timestamptz NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT orders_platform_external_key UNIQUE (platform, external_id)
);
CREATE INDEX orders_customer_idx ON orders (customer_id);

-- The outbox. position = (transaction id << 16) | ordinal within the transaction, so the feed,
-- read in position order and only below the oldest running transaction, never skips an event
-- that commits late.
CREATE TABLE events (
  position     bigint PRIMARY KEY,
  id           text NOT NULL UNIQUE,
  type         text NOT NULL,
  customer_id  text,
  payload      jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_customer_idx ON events (customer_id, position);

CREATE TABLE api_tokens (
  id            text PRIMARY KEY,
  name          text NOT NULL,
  role          text NOT NULL CHECK (role IN ('admin', 'platform')),
  token_hash    text NOT NULL UNIQUE,
  bootstrap     boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);
CREATE UNIQUE INDEX api_tokens_name_key ON api_tokens (name) WHERE revoked_at IS NULL;
-- The token made on first start is made once, whichever process starts first.
CREATE UNIQUE INDEX api_tokens_bootstrap_key ON api_tokens (bootstrap) WHERE bootstrap;
