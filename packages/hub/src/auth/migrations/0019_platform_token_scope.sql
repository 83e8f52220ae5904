-- A platform token acts only for the identity components (the namespaces of platform ids a sync,
-- link or lookup names) and the platform names (of order reports) it was made with. NULL: for
-- every one, as an admin token does and as a platform token made before this migration goes on
-- doing; a platform token made since has both lists, perhaps empty.
ALTER TABLE api_tokens ADD COLUMN components text[], ADD COLUMN platforms text[];
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_scope
  CHECK ((components IS NULL) = (platforms IS NULL) AND (role = 'platform' OR components IS NULL));
