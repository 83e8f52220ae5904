-- What waits for a token sent to a new address: a customer's change of email or phone
-- (`value`, linked only once the token comes back) and a registration over a guest record
-- (`password_hash`, set only once the guest's email is verified). The token itself is never
-- stored: its SHA-256 is, and events name the token by this row's id.
ALTER TABLE one_time_tokens ADD COLUMN value text;
ALTER TABLE one_time_tokens ADD COLUMN password_hash text;
ALTER TABLE one_time_tokens DROP CONSTRAINT one_time_tokens_purpose_check;
ALTER TABLE one_time_tokens ADD CONSTRAINT one_time_tokens_purpose_check
  CHECK (purpose IN ('verify_email', 'password_reset', 'change_email', 'change_phone', 'register'));
