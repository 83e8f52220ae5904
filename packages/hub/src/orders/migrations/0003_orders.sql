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
