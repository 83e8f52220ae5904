-- The people who run the hub in the console: staff users with email, password (argon2id) and a
-- role. A disabled user keeps its row (what it did stays attributable); its email is free again.
CREATE TABLE staff_users (
  id                   text PRIMARY KEY,
  email                text NOT NULL,
  name                 text,
  role                 text NOT NULL CHECK (role IN ('admin', 'support')),
  password_hash        text NOT NULL,
  -- access tokens issued before it are refused (a new password, a disabled user)
  sessions_valid_after timestamptz,
  disabled_at          timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX staff_users_email_key ON staff_users (email) WHERE disabled_at IS NULL;

-- staff sessions are refresh-token families like a customer's
ALTER TABLE refresh_families DROP CONSTRAINT refresh_families_subject_kind_check;
ALTER TABLE refresh_families ADD CONSTRAINT refresh_families_subject_kind_check CHECK (subject_kind IN ('customer', 'service', 'staff'));
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_subject_kind_check;
ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_subject_kind_check CHECK (subject_kind IN ('customer', 'service', 'staff'));
