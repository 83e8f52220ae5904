-- The list's email filter reads the identities' unique index; the customers' own email index
-- only cost every insert and update an extra index write.
DROP INDEX IF EXISTS customers_email_idx;
