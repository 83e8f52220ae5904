-- Webhook subscriptions. The signing secrets are kept only sealed (AES-256-GCM under the hub's
-- secret, see secrets.ts): the hub signs with them, so it cannot keep a hash. After a rotation the
-- previous secret signs too until previous_secret_expires_at.
CREATE TABLE webhooks (
  id                          text PRIMARY KEY,
  url                         text NOT NULL,
  events                      text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 100),
  description                 text,
  enabled                     boolean NOT NULL DEFAULT true,
  allow_secrets               boolean NOT NULL DEFAULT false,
  secret_sealed               text NOT NULL,
  previous_secret_sealed      text,
  previous_secret_expires_at  timestamptz,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT webhooks_previous_secret CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL))
);
