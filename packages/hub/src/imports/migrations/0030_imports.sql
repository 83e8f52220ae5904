-- Bulk imports of one platform's customers (customer-hub import, POST /imports).
--
-- An import is keyed by its platform component and the SHA-256 of its file: the same file again
-- finds the import it made (finished: nothing to do; interrupted: it resumes). Its rows are staged
-- first, each with its line number, then resolved in batches; a row is marked done in the
-- transaction of its effect, so an import stopped anywhere — Ctrl-C, SIGKILL, a crash — resumes at
-- the first row not done and does nothing twice.
CREATE TABLE imports (
  id                 text PRIMARY KEY,
  component          text NOT NULL,
  external_id_field  text,
  format             text NOT NULL CHECK (format IN ('csv', 'jsonl')),
  source             text NOT NULL,
  content_hash       text NOT NULL,
  status             text NOT NULL DEFAULT 'staging' CHECK (status IN ('staging', 'running', 'done', 'failed')),
  total_rows         integer,
  processed_rows     integer NOT NULL DEFAULT 0,
  created            integer NOT NULL DEFAULT 0,
  matched            integer NOT NULL DEFAULT 0,
  joined             integer NOT NULL DEFAULT 0,
  conflicts          integer NOT NULL DEFAULT 0,
  rejected           integer NOT NULL DEFAULT 0,
  -- rows imported whose groups, addresses, order history or points could not all be applied
  partial            integer NOT NULL DEFAULT 0,
  rejected_identifiers integer NOT NULL DEFAULT 0,
  error              text,
  -- the process working on it: another waits until the lease runs out (a SIGKILLed importer's does)
  lease_owner        text,
  lease_until        timestamptz,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  finished_at        timestamptz,
  CONSTRAINT imports_file_key UNIQUE (component, content_hash)
);
-- one unfinished import at a time per platform, whatever the processes: an interrupted or failed one is finished first
CREATE UNIQUE INDEX imports_one_running_key ON imports (component) WHERE status IN ('staging', 'running', 'failed');

-- The staged rows. `data` is the row as read (personal data): it is cleared when the row is done,
-- and a rejected row's when the import finishes, so nothing of a person stays here.
CREATE TABLE import_rows (
  import_id    text NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
  line         integer NOT NULL,
  data         jsonb,
  status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'rejected')),
  outcome      text CHECK (outcome IN ('created', 'matched')),
  customer_id  text,
  joined       integer NOT NULL DEFAULT 0,
  conflicts    integer NOT NULL DEFAULT 0,
  -- why the row was refused (status rejected), or what of it could not be applied (status done)
  reason       text,
  PRIMARY KEY (import_id, line)
);
CREATE INDEX import_rows_pending_idx ON import_rows (import_id, line) WHERE status = 'pending';
