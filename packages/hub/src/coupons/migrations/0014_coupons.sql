-- Gift-card coupons, owned by the loyalty provider of the service account that synced them.

CREATE TABLE coupons (
  id           text PRIMARY KEY,
  kind         text NOT NULL DEFAULT 'gift_card' CHECK (kind IN ('gift_card')),
  provider_id  text NOT NULL REFERENCES loyalty_providers (id),
  channel_id   text REFERENCES channels (id),
  -- A code is a bearer credential: the table keeps an HMAC of it under a key derived from the
  -- hub's secret (one indexed read finds it) and its last characters for display, never the code.
  code_hash    text NOT NULL,
  code_last4   text NOT NULL,
  externals    jsonb NOT NULL DEFAULT '[]',
  single_use   boolean NOT NULL,
  currency     text CHECK (currency ~ '^[A-Z]{3}$'),
  -- its account in the value ledger of its currency (a coupon with a balance)
  account_id   text UNIQUE REFERENCES reward_accounts (id) DEFERRABLE INITIALLY DEFERRED,
  status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'redeemed', 'disabled')),
  expires_at   timestamptz,
  redeemed_at  timestamptz,
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  CHECK (single_use = (account_id IS NULL)),
  CHECK (single_use = (currency IS NULL)),
  CHECK ((status = 'redeemed') = (redeemed_at IS NOT NULL)),
  CHECK (status <> 'redeemed' OR single_use)
);
-- Re-syncing a code updates the provider's coupon; another provider's same code is its own coupon.
CREATE UNIQUE INDEX coupons_provider_code_key ON coupons (provider_id, code_hash);
CREATE INDEX coupons_code_idx ON coupons (code_hash);
CREATE INDEX coupons_provider_list_idx ON coupons (provider_id, id DESC);

-- Redemptions: one per idempotency key; a single-use coupon has at most one, whatever the callers do.
CREATE TABLE coupon_redemptions (
  id               text PRIMARY KEY,
  coupon_id        text NOT NULL REFERENCES coupons (id),
  idempotency_key  text NOT NULL,
  fingerprint      text NOT NULL,
  single_use       boolean NOT NULL,
  amount           bigint CHECK (amount > 0),
  order_ref        text NOT NULL,
  transaction_id   text,
  hold_id          text,
  created_at       timestamptz NOT NULL,
  CONSTRAINT coupon_redemptions_key UNIQUE (idempotency_key),
  CHECK (single_use = (amount IS NULL))
);
CREATE UNIQUE INDEX coupon_redemptions_single_use_key ON coupon_redemptions (coupon_id) WHERE single_use;
CREATE INDEX coupon_redemptions_coupon_idx ON coupon_redemptions (coupon_id);
CREATE TRIGGER coupon_redemptions_insert_only BEFORE UPDATE OR DELETE ON coupon_redemptions FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
