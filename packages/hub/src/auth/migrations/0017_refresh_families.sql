-- A refresh-token family (one sign-in and the chain of tokens its refreshes rotate through) as a
-- row of its own. A refresh locks it (SELECT … FOR UPDATE) before it uses its token and stores
-- the successor; logout, reuse detection, a password reset and a suspension revoke the family by
-- updating this row. So a revocation waits for a refresh in flight and then revokes the family
-- with the successor in it, and a refresh that comes after sees the revocation: revoking the
-- tokens alone missed a successor committed after the revoking UPDATE took its snapshot.
CREATE TABLE refresh_families (
  id            text PRIMARY KEY,
  subject_kind  text NOT NULL CHECK (subject_kind IN ('customer', 'service')),
  subject_id    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz
);
CREATE INDEX refresh_families_subject_idx ON refresh_families (subject_kind, subject_id) WHERE revoked_at IS NULL;

-- Every family there is. A family with any revoked token was revoked as a whole: a token of it
-- still live is a successor that such a race let through.
INSERT INTO refresh_families (id, subject_kind, subject_id, created_at, revoked_at)
SELECT family_id, min(subject_kind), min(subject_id), min(created_at), min(revoked_at)
FROM refresh_tokens GROUP BY family_id;
UPDATE refresh_tokens t SET revoked_at = f.revoked_at
FROM refresh_families f WHERE f.id = t.family_id AND f.revoked_at IS NOT NULL AND t.revoked_at IS NULL;

ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_family_fkey FOREIGN KEY (family_id) REFERENCES refresh_families (id);

-- A customer's "log out everywhere" (a password reset): refresh tokens of a family begun at or
-- before this moment are refused, including a family a sign-in in flight stored after the
-- revocation looked. (Service accounts keep theirs in service_accounts.sessions_valid_after.)
CREATE TABLE customer_session_cutoffs (
  customer_id           text PRIMARY KEY,
  sessions_valid_after  timestamptz NOT NULL
);
