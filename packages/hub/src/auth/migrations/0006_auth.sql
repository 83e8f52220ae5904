-- API tokens, signing keys, service accounts, refresh and single-use tokens, rate limits.

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

-- Ed25519 keys that sign access tokens. The private part is encrypted (AES-256-GCM) with the
-- hub's secret; the newest key signs, every key not yet expired verifies.
CREATE TABLE signing_keys (
  kid              text PRIMARY KEY,
  public_jwk       jsonb NOT NULL,
  private_key_enc  text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  retired_at       timestamptz
);

-- Service accounts: principals of marketplace sellers (and other services).
CREATE TABLE service_accounts (
  id               text PRIMARY KEY,
  handle           text NOT NULL,
  email            text NOT NULL,
  password_hash    text NOT NULL,
  role_id          text NOT NULL,
  organization_id  text NOT NULL,
  provider_id      text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  disabled_at      timestamptz
);
CREATE UNIQUE INDEX service_accounts_email_key ON service_accounts (email);
CREATE UNIQUE INDEX service_accounts_handle_key ON service_accounts (handle);

-- Rotating refresh tokens, stored as SHA-256. A token is used once (guarded update of
-- used_at); presenting a used one again revokes its whole family.
CREATE TABLE refresh_tokens (
  id            text PRIMARY KEY,
  family_id     text NOT NULL,
  subject_kind  text NOT NULL CHECK (subject_kind IN ('customer', 'service')),
  subject_id    text NOT NULL,
  token_hash    text NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  used_at       timestamptz,
  revoked_at    timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_subject_idx ON refresh_tokens (subject_kind, subject_id);

-- Single-use, expiring tokens for email verification and password reset, stored as SHA-256.
CREATE TABLE one_time_tokens (
  id           text PRIMARY KEY,
  purpose      text NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
  customer_id  text NOT NULL REFERENCES customers (id),
  email        text NOT NULL,
  token_hash   text NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  used_at      timestamptz
);
CREATE INDEX one_time_tokens_customer_idx ON one_time_tokens (customer_id, purpose);

-- Fixed-window counters shared by every hub process (login attempts per email and per address).
CREATE TABLE rate_limits (
  key           text PRIMARY KEY,
  window_start  timestamptz NOT NULL,
  hits          integer NOT NULL
);
