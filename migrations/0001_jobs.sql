-- The durable job queue. Every unit of work (grouping a series, processing a volume, sweeping old results)
-- is a row here; workers on any machine claim rows with FOR UPDATE SKIP LOCKED and hold a lease they renew.
-- A lease that lapses (worker killed, machine gone) makes the job claimable again.

CREATE TABLE jobs (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind             text NOT NULL,
  payload          jsonb NOT NULL DEFAULT '{}'::jsonb,
  state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  -- Debounce/dedupe key: at most one queued job per key (see the partial unique index below).
  job_key          text,
  attempts         integer NOT NULL DEFAULT 0,
  max_attempts     integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
  run_after        timestamptz NOT NULL DEFAULT now(),
  lease_owner      text,
  lease_expires_at timestamptz,
  cancel_requested boolean NOT NULL DEFAULT false,
  progress         integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
  status           text,
  last_error       text,
  engine           text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz
);

-- The claim query scans queued jobs that are due, oldest first.
CREATE INDEX jobs_claimable ON jobs (run_after, created_at) WHERE state = 'queued';
-- Expired leases are found through this one.
CREATE INDEX jobs_running_lease ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_created ON jobs (created_at DESC);
CREATE UNIQUE INDEX jobs_queued_key ON jobs (job_key) WHERE state = 'queued' AND job_key IS NOT NULL;

-- Job output for people: engine stdout/stderr, stage messages. Never patient data.
CREATE TABLE job_log (
  id        bigserial PRIMARY KEY,
  job_id    uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  at        timestamptz NOT NULL DEFAULT now(),
  attempt   integer NOT NULL,
  line      text NOT NULL
);
CREATE INDEX job_log_job ON job_log (job_id, id);
