-- The live queue's housekeeping. `retries` counts the times a person put a failed or cancelled job back in the queue,
-- so a retry that fails again says so on every page that shows it. `cleared_at` is set when a finished, failed or
-- cancelled job is cleared from the queue view: the row, its log and its result stay (the audit trail and the series
-- grouping refer to them); the queue only stops listing it.
ALTER TABLE jobs ADD COLUMN retries integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cleared_at timestamptz;

-- When a user's password was last set by a person (not a re-hash at sign-in). While the first account's never was,
-- the sign-in page points to initial-admin-password.txt; afterwards it no longer does.
ALTER TABLE users ADD COLUMN password_changed_at timestamptz;
