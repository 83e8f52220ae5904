-- At most one signing key is current (unretired): two hub processes starting together on an
-- empty database cannot both make a first key. A database that got two already keeps the newest.
UPDATE signing_keys SET retired_at = now()
WHERE retired_at IS NULL
  AND kid <> (SELECT kid FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid DESC LIMIT 1);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;
