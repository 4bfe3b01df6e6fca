-- Access control: people (users), machines (API tokens), browser sessions, and the audit trail.
-- Secrets are never stored: passwords as versioned scrypt strings, tokens and session ids as SHA-256
-- of 32 random bytes (high entropy, so a fast hash is enough and lookups stay indexable).
-- roles is a JSON array of 'ingest' | 'read' | 'admin' (admin implies the others).

CREATE TABLE users (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  username      text NOT NULL CHECK (length(username) BETWEEN 1 AND 64),
  password_hash text NOT NULL,
  roles         jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz
);
-- "Admin" and "admin" are one account.
CREATE UNIQUE INDEX users_username ON users (lower(username));

CREATE TABLE api_tokens (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  token_hash   text NOT NULL UNIQUE,
  roles        jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  -- NULL: valid until deleted.
  expires_at   timestamptz,
  last_used_at timestamptz
);

CREATE TABLE sessions (
  id_hash      text PRIMARY KEY,
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  csrf_token   text NOT NULL,
  address      text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Who did what, from where, when. Identifiers only (job/result ids, UIDs, counts): never patient data.
CREATE TABLE audit_log (
  id         bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  event      text NOT NULL,
  outcome    text NOT NULL DEFAULT 'success' CHECK (outcome IN ('success', 'failure')),
  -- 'user:<name>', 'token:<name>', 'ae:<calling AE>', 'anonymous' (AUTH=off) or NULL (unknown).
  actor      text,
  address    text,
  target     text,
  details    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
CREATE INDEX audit_log_event ON audit_log (event, at DESC);
