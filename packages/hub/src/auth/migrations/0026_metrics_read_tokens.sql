-- API tokens with role metrics:read read GET /metrics and nothing else (a Prometheus scraper needs no admin token).
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('admin', 'platform', 'events:read', 'metrics:read'));
