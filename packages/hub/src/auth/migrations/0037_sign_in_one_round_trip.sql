-- A sign-in is counted against its rate limits by the same statement that looks its account up
-- (one round trip before the password hash). When a limit refuses it, the statement calls this
-- function, whose error rolls the whole statement back: a refused attempt counts nowhere, as when
-- the counts had a transaction of their own. `which` names the limit that refused (`address` or
-- `pair`); the error's SQLSTATE (HL429) tells it apart from every other failure.
CREATE FUNCTION sign_in_refused(which text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'sign-in refused by its % limit', which USING ERRCODE = 'HL429', DETAIL = which;
END
$$;

-- A sign-in stores its session while the password is being verified, and hands it out only when
-- the password is right. Until the sign-in confirms it (by the statement that gives the attempt
-- back, after the answer), the family is pending: usable only until pending_until, a minute after
-- it was stored. So a family whose sign-in failed, or whose process died before it answered —
-- its token never handed out — is no credential once that minute is over, even if the delete of
-- a failed attempt's family was lost. NULL: confirmed (every family before this column).
ALTER TABLE refresh_families ADD COLUMN pending_until timestamptz;
