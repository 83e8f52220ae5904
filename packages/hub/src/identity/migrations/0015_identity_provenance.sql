-- How each identity got to its customer: the route that linked it (sync, create, api, profile)
-- and, for a sync, the platform's component and the rule that found the customer; and the merge
-- that brought it here, when one did. Identities linked before this was recorded say 'unrecorded'.
-- merge_id names a row of merges (never deleted); it has no foreign key, so that a sync's insert
-- of new identities queues no constraint check.
ALTER TABLE identities
  ADD COLUMN linked_via        text NOT NULL DEFAULT 'unrecorded'
    CHECK (linked_via IN ('sync', 'create', 'api', 'profile', 'unrecorded')),
  ADD COLUMN linked_component  text,
  ADD COLUMN linked_rule       text CHECK (linked_rule IN ('new', 'platform', 'email', 'phone')),
  ADD COLUMN merge_id          text;
