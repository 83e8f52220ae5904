-- API tokens with role events:read read the event feed and nothing else (a relay needs no admin token).
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('admin', 'platform', 'events:read'));
