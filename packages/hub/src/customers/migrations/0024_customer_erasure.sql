-- An erased customer (POST /customer/:id/erase): its personal fields are cleared and its row
-- stays for its id, its order totals and the ledger accounts that name it. An erased row is
-- also deleted (deleted_at), so every guard that takes live customers only leaves it out; a
-- merged record erased with the customer it went into keeps merged_into.
ALTER TABLE customers ADD COLUMN erased_at timestamptz;
