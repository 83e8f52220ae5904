-- Customers and their addresses.
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
                          coalesce(last_name, '') || ' ' || coalesce(phone, ''))) STORED,
  -- a merged customer keeps its row (for undo and for answering where it went)
  merged_into     text REFERENCES customers (id)
);

-- Every list sort has an index over live customers that ends in id, the tie-break.
CREATE INDEX customers_created_idx ON customers (created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_spent_idx ON customers (total_spent, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_orders_idx ON customers (order_count, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_last_name_idx ON customers ((lower(coalesce(last_name, '')) COLLATE "C"), id) WHERE deleted_at IS NULL;
CREATE INDEX customers_groups_idx ON customers USING gin (groups) WHERE deleted_at IS NULL;
CREATE INDEX customers_search_idx ON customers USING gin (search public.gin_trgm_ops) WHERE deleted_at IS NULL;
-- (the list's email filter reads the identities' unique index)

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
