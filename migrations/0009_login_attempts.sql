-- Sign-in attempts counted in the database, so every serve process behind a balancer shares the count and a burst
-- of concurrent attempts cannot slip past it (server/auth/loginThrottle.ts). One row per key: the sha256 of
-- (user name and address), (user name), or (address), never the name itself. A window starts at the first
-- attempt and lasts window_seconds; a key at its limit is refused until its window ends.
CREATE TABLE login_attempts (
  key text PRIMARY KEY,
  count integer NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX login_attempts_expires_at ON login_attempts (expires_at);

-- Takes one attempt on every key at once, or none when a key is at its limit: the rows are locked (in key order,
-- so concurrent callers cannot deadlock), checked, then counted. Returns whether the attempt may go on and, if
-- not, the seconds until the longest of the blocking windows ends.
CREATE FUNCTION login_attempt_take(keys text[], limits integer[], window_seconds integer)
RETURNS TABLE (allowed boolean, retry_after_seconds integer)
LANGUAGE plpgsql AS $$
DECLARE
  blocked_until timestamptz;
BEGIN
  DELETE FROM login_attempts AS a WHERE a.expires_at <= now();
  INSERT INTO login_attempts (key, count, expires_at)
  SELECT k, 0, now() + make_interval(secs => window_seconds) FROM unnest(keys) AS k
  ON CONFLICT (key) DO NOTHING;
  PERFORM 1 FROM login_attempts AS a WHERE a.key = ANY(keys) ORDER BY a.key FOR UPDATE;
  SELECT max(a.expires_at) INTO blocked_until
    FROM login_attempts AS a JOIN unnest(keys, limits) AS l(k, lim) ON a.key = l.k
   WHERE a.count >= l.lim;
  IF blocked_until IS NOT NULL THEN
    RETURN QUERY SELECT false, GREATEST(1, ceil(extract(epoch FROM blocked_until - clock_timestamp())))::integer;
    RETURN;
  END IF;
  UPDATE login_attempts AS a SET count = a.count + 1 WHERE a.key = ANY(keys);
  RETURN QUERY SELECT true, 0;
END
$$;
