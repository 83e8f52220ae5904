-- Organizations, loyalty providers (the house and each marketplace seller) and channels.

-- Organizations that service accounts belong to; made when an onboarding first names one.
CREATE TABLE organizations (
  id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- The parties that issue points and coupons. A seller's provider is found by the marketplace's
-- seller id, so onboarding the same seller twice (from two processes at once) ends with one row.
CREATE TABLE loyalty_providers (
  id               text PRIMARY KEY,
  kind             text NOT NULL CHECK (kind IN ('house', 'seller')),
  handle           text NOT NULL CHECK (handle ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  name             text NOT NULL,
  email            text,
  phone            text,
  description      text,
  seller_id        text,
  owner_member_id  text,
  owner_email      text,
  organization_id  text REFERENCES organizations (id),
  status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'terminated')),
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  CHECK ((kind = 'seller') = (seller_id IS NOT NULL))
);
CREATE UNIQUE INDEX loyalty_providers_handle_key ON loyalty_providers (handle);
CREATE UNIQUE INDEX loyalty_providers_seller_key ON loyalty_providers (seller_id) WHERE seller_id IS NOT NULL;

-- Where points and coupons are used (e.g. multistore); made when a coupon first names one.
CREATE TABLE channels (
  id          text PRIMARY KEY,
  handle      text NOT NULL UNIQUE CHECK (handle ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
  created_at  timestamptz NOT NULL DEFAULT now()
);
