-- The sweep of sign-in sessions never confirmed (refresh_families.pending_until, migration 0037)
-- finds them by this index: a pending family is one of the last minute's sign-ins, or a lapsed one.
CREATE INDEX refresh_families_pending_idx ON refresh_families (pending_until) WHERE pending_until IS NOT NULL;
