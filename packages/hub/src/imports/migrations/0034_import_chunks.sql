-- The staged file in chunks: one row per batch of lines instead of one per line. A row of the
-- staging table cost as much to write, lock and mark done as the customer it made; a chunk is
-- staged with one row, taken by a batch with one lock and marked done with one update.
--
-- `rows` is the chunk's valid rows as read, as JSON text ([{"line", "row"}], in line order;
-- personal data): cleared when the chunk is done. Lines `first_line` to `first_line + size - 1`
-- belong to the chunk, so staging again after an interruption makes the same chunks and skips
-- those staged before. Rows refused while reading, or refused or applied in part when resolved,
-- stay in `import_rows` with their reason (and, until the import finishes, their data).
CREATE TABLE import_chunks (
  import_id   text NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
  first_line  integer NOT NULL,
  rows        text,
  row_count   integer NOT NULL,
  done        boolean NOT NULL DEFAULT false,
  PRIMARY KEY (import_id, first_line)
);
-- the text is JSON already compact: stored out of line as it is, not compressed again
ALTER TABLE import_chunks ALTER COLUMN rows SET STORAGE EXTERNAL;
CREATE INDEX import_chunks_pending_idx ON import_chunks (import_id, first_line) WHERE NOT done;

-- rows staged one by one and not yet resolved (an import interrupted before this version): into chunks of 1,000
INSERT INTO import_chunks (import_id, first_line, rows, row_count)
SELECT import_id, ((line - 1) / 1000) * 1000 + 1, jsonb_agg(jsonb_build_object('line', line, 'row', data) ORDER BY line)::text, count(*)
FROM import_rows WHERE status = 'pending'
GROUP BY import_id, ((line - 1) / 1000);
DELETE FROM import_rows WHERE status = 'pending';
DROP INDEX import_rows_pending_idx;

-- the lines of a chunk (a batch), fixed when the import starts: staging again makes the same chunks
ALTER TABLE imports ADD COLUMN chunk_lines integer NOT NULL DEFAULT 1000 CHECK (chunk_lines BETWEEN 1 AND 5000);
