-- A seller that is suspended cannot log in as its service account, and its live tokens stop
-- working; resuming it clears the mark. A provider has at most one service account.
ALTER TABLE service_accounts ADD COLUMN suspended_at timestamptz;
-- access tokens issued before this moment are refused (set when the seller is suspended or
-- terminated, so that a resume does not bring old tokens back)
ALTER TABLE service_accounts ADD COLUMN sessions_valid_after timestamptz;
CREATE UNIQUE INDEX service_accounts_provider_key ON service_accounts (provider_id) WHERE provider_id IS NOT NULL;
